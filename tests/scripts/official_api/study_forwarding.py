"""Stable studies forwarded to the archive, by Orthanc's DICOM client.

``ForwardStableStudiesTo`` (a key of Orthanc's configuration) names a modality of
``DicomModalities``; each study that becomes stable is sent there by C-STORE.
"""

import json

import orthanc

TARGET = json.loads(orthanc.GetConfiguration())["ForwardStableStudiesTo"]


def on_change(change, level, resource):
    if change != orthanc.ChangeType.STABLE_STUDY:
        return
    job = {"Resources": [resource], "Synchronous": True}
    orthanc.RestApiPost(f"/modalities/{TARGET}/store", json.dumps(job))
    orthanc.LogWarning(f"forwarding: study {resource} sent to {TARGET}")


orthanc.RegisterOnChangeCallback(on_change)
