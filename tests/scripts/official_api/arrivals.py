"""An arrivals register: one JSON line in ``arrivals.jsonl`` for each instance Orthanc stores.

Each line says the instance, its size, transfer syntax and SOP class, how it came (DICOM,
REST API, a plugin, Lua) and the patient's name, all read from the DicomInstance that
Orthanc hands to the stored-instance callback.
"""

import json
import threading

import orthanc

ORIGINS = {
    orthanc.InstanceOrigin.DICOM_PROTOCOL: "DICOM",
    orthanc.InstanceOrigin.REST_API: "REST API",
    orthanc.InstanceOrigin.PLUGIN: "plugin",
    orthanc.InstanceOrigin.LUA: "Lua",
}
WRITING = threading.Lock()  # instances may be stored by several threads at once


def register_arrival(dicom, instance_id):
    tags = json.loads(dicom.GetInstanceSimplifiedJson())
    line = {
        "instance": instance_id,
        "bytes": dicom.GetInstanceSize(),
        "transfer_syntax": dicom.GetInstanceMetadata("TransferSyntax"),
        "sop_class": dicom.GetInstanceMetadata("SopClassUid"),
        "origin": ORIGINS.get(dicom.GetInstanceOrigin(), "unknown"),
        "patient": tags.get("PatientName", ""),
    }
    with WRITING, open("arrivals.jsonl", "a") as register:
        register.write(json.dumps(line) + "\n")


orthanc.RegisterOnStoredInstanceCallback(register_arrival)
