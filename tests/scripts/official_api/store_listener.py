"""A DICOM storage listener made with pynetdicom, instead of Orthanc's own DICOM server.

Orthanc's configuration has ``"DicomServerEnabled": false``; this listener takes its
``DicomPort`` (on ``DicomListenAddress``, 127.0.0.1 if absent) from the time Orthanc has
started until it stops, and stores what it receives through the REST API.
"""

import io
import json

import orthanc
import pynetdicom
from pydicom.filewriter import write_file_meta_info

SUCCESS = 0x0000
CANNOT_UNDERSTAND = 0xC000
LISTENER = {}


def on_c_store(event):
    calling = event.assoc.requestor.ae_title
    part10 = io.BytesIO()
    part10.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(part10, event.file_meta)
    part10.write(event.request.DataSet.getvalue())
    try:
        stored = json.loads(orthanc.RestApiPost("/instances", part10.getvalue()))
    except orthanc.OrthancException as error:
        orthanc.LogError(f"pynetdicom listener: Orthanc refused an instance from {calling}: {error}")
        return CANNOT_UNDERSTAND
    orthanc.LogWarning(f"pynetdicom listener: instance {stored['ID']} from {calling} stored")
    return SUCCESS


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STARTED:
        config = json.loads(orthanc.GetConfiguration())
        address = (config.get("DicomListenAddress", "127.0.0.1"), config.get("DicomPort", 4242))
        entity = pynetdicom.AE(ae_title=config.get("DicomAet", "ORTHANC"))
        entity.supported_contexts = pynetdicom.AllStoragePresentationContexts
        LISTENER["server"] = entity.start_server(
            address, block=False, evt_handlers=[(pynetdicom.evt.EVT_C_STORE, on_c_store)])
        orthanc.LogWarning(f"pynetdicom listener on {address[0]}:{address[1]}")
    elif change == orthanc.ChangeType.ORTHANC_STOPPED and "server" in LISTENER:
        LISTENER.pop("server").shutdown()
        orthanc.LogWarning("pynetdicom listener stopped")


orthanc.RegisterOnChangeCallback(on_change)
