# A storage area that files each attachment under a folder of its own choosing and tells
# Orthanc where, as the attachment's custom data (the official plugin 7.1's RegisterStorageArea3,
# Orthanc 1.12.8 and newer). Orthanc hands the custom data back to every read and removal, so
# this script keeps no index of its own. Each call is written to a journal the tests read.
import json
import os

import orthanc

settings = json.loads(orthanc.GetConfiguration())["TieredStorage"]
ROOT = settings["Folder"]
JOURNAL = settings["Journal"]


def note(**entry):
    with open(JOURNAL, "a") as journal:
        journal.write(json.dumps(entry) + "\n")


def place_for(uuid, content_type):
    tier = "dicom" if content_type == orthanc.ContentType.DICOM else "other"
    return os.path.join(tier, uuid[:2], uuid + ".bin")


def create(uuid, content_type, compression_type, content, dicom_instance):
    relative = place_for(uuid, content_type)
    os.makedirs(os.path.dirname(os.path.join(ROOT, relative)), exist_ok=True)
    with open(os.path.join(ROOT, relative), "wb") as target:
        target.write(content)
    custom = json.dumps({"path": relative, "size": len(content)}).encode()
    note(op="create", uuid=uuid, type=int(content_type), compression=int(compression_type),
         custom=custom.decode(),
         instance_size=dicom_instance.GetInstanceSize() if dicom_instance is not None else None)
    return orthanc.ErrorCode.SUCCESS, custom


def read(uuid, content_type, range_start, size, custom_data):
    where = json.loads(custom_data)["path"]
    note(op="read", uuid=uuid, start=range_start, size=size, custom=custom_data.decode())
    with open(os.path.join(ROOT, where), "rb") as source:
        source.seek(range_start)
        return orthanc.ErrorCode.SUCCESS, source.read(size)


def remove(uuid, content_type, custom_data):
    where = json.loads(custom_data)["path"]
    note(op="remove", uuid=uuid, custom=custom_data.decode())
    try:
        os.remove(os.path.join(ROOT, where))
    except FileNotFoundError:
        return orthanc.ErrorCode.UNKNOWN_RESOURCE
    return orthanc.ErrorCode.SUCCESS


orthanc.RegisterStorageArea3(create, read, remove)
