"""P12's baseline for the official plugin (written by this project): an on-stored-instance
callback that reads the instance's bytes and does ``stored_work.record`` with them, inline on
Orthanc's ingest thread, as the official documentation's on-stored-instance callbacks do."""

import json

import orthanc
import stored_work

FOLDER = json.loads(orthanc.GetConfiguration())["BenchStoredFolder"]


def stored(dicom, instance_id):
    stored_work.record(FOLDER, instance_id, dicom.GetInstanceData())


orthanc.RegisterOnStoredInstanceCallback(stored)
