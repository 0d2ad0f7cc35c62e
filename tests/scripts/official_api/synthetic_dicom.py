"""A quality-control instance for the monitors' calibration, made when Orthanc starts.

The test pattern is ``qa-pattern.png`` in Orthanc's working folder; the instance, a
secondary capture of the patient "QA-PHANTOM", is written next to it as
``qa-pattern.dcm`` (not stored in Orthanc: the monitors' tool reads the file).
"""

import json

import orthanc

PATIENT = {
    "PatientID": "QA-PHANTOM",
    "PatientName": "Quality^Control",
    "SOPClassUID": "1.2.840.10008.5.1.4.1.1.7",
    "Modality": "OT",
    "SeriesDescription": "Monitor calibration pattern",
}


def make_pattern():
    with open("qa-pattern.png", "rb") as source:
        image = orthanc.UncompressImage(source.read(), orthanc.ImageFormat.PNG)
    dicom = orthanc.CreateDicom(json.dumps(PATIENT), image,
                                orthanc.CreateDicomFlags.GENERATE_IDENTIFIERS)
    with open("qa-pattern.dcm", "wb") as target:
        target.write(dicom)
    # Read it back, as the monitors' tool will, to be sure the pixels are there.
    frame = orthanc.CreateDicomInstance(dicom).GetInstanceDecodedFrame(0)
    orthanc.LogWarning(f"QA pattern written: {frame.GetImageWidth()} x {frame.GetImageHeight()} "
                       f"pixels, {len(dicom)} bytes")


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STARTED:
        make_pattern()


orthanc.RegisterOnChangeCallback(on_change)
