"""Orthanc's attachments kept as plain files, in a tree the backup tool knows.

An attachment goes to ``<SiteStorageFolder>/<content type>/<first two characters of its
uuid>/<uuid>`` (``SiteStorageFolder``, a key of Orthanc's configuration, is
``attachments`` in Orthanc's working folder if absent); an empty folder is removed with
its last file.
"""

import json
import os

import orthanc

ROOT = os.path.abspath(json.loads(orthanc.GetConfiguration()).get("SiteStorageFolder",
                                                                  "attachments"))


def location(uuid, content_type):
    return os.path.join(ROOT, str(int(content_type)), uuid[:2], uuid)


def create(uuid, content_type, data):
    path = location(uuid, content_type)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as target:
        target.write(data)


def read(uuid, content_type):
    with open(location(uuid, content_type), "rb") as source:
        return source.read()


def remove(uuid, content_type):
    path = location(uuid, content_type)
    os.remove(path)
    try:
        os.rmdir(os.path.dirname(path))
    except OSError:
        pass  # other attachments are there still


orthanc.RegisterStorageArea(create, read, remove)
