"""The Orthanc Book's storage-area sample, with its folder taken from the configuration."""

import json
import os

import orthanc

FOLDER = json.loads(orthanc.GetConfiguration())["StorageAreaTestFolder"]


def GetPath(uuid, contentType):
    return os.path.join(FOLDER, f'attachment-{contentType}-{uuid}')


def OnCreate(uuid, contentType, data):
    with open(GetPath(uuid, contentType), 'wb') as f:
        f.write(data)


def OnRead(uuid, contentType):
    with open(GetPath(uuid, contentType), 'rb') as f:
        return f.read()


def OnRemove(uuid, contentType):
    os.remove(GetPath(uuid, contentType))


orthanc.RegisterStorageArea(OnCreate, OnRead, OnRemove)
