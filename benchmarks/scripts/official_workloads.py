"""The real workloads' baseline for the official plugin (P8, P9), written by this project.

Two routes in the official plugin's API, run by the official plugin and, unchanged, by
ours (``import orthanc``), doing what its documentation shows for them:

- ``/baseline/thumbnail/{id}``: Orthanc renders the instance as PNG, Pillow shrinks it to
  64 pixels (LANCZOS) and encodes a JPEG of quality 80, answered as ``text/plain``.
- ``/baseline/dump/{id}``: the instance's DICOM file, parsed by pydicom, printed.
"""

import io

import orthanc
import pydicom
from PIL import Image


def only_get(handler):
    def callback(output, uri, **request):
        if request["method"] != "GET":
            output.SendMethodNotAllowed("GET")
        else:
            handler(output, request["groups"][0])
    return callback


@only_get
def thumbnail(output, instance):
    picture = Image.open(io.BytesIO(orthanc.RestApiGet(f"/instances/{instance}/rendered")))
    picture.thumbnail((64, 64), Image.LANCZOS)
    encoded = io.BytesIO()
    picture.save(encoded, format="JPEG", quality=80)
    output.AnswerBuffer(encoded.getvalue(), "text/plain")


@only_get
def dump(output, instance):
    dataset = pydicom.dcmread(io.BytesIO(orthanc.GetDicomForInstance(instance)))
    output.AnswerBuffer(str(dataset), "text/plain")


orthanc.RegisterRestCallback("/baseline/thumbnail/(.*)", thumbnail)
orthanc.RegisterRestCallback("/baseline/dump/(.*)", dump)
