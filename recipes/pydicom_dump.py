"""An instance's data set as pydicom reads it: text, or the DICOM JSON model, parsed in a worker.

    curl http://localhost:8042/pydicom/<instance-id>                 # str(dataset)
    curl 'http://localhost:8042/pydicom/<instance-id>?format=json'   # dataset.to_json_dict()

The file comes from Orthanc (``sdk.get_dicom``; in a worker the bytes travel
from the master), and pydicom parses it in the worker, so a large file or a
slow parse keeps Orthanc's interpreter free. Bulk data is left out: the text
shows long binary values, pixel data included, as ``Array of N elements``;
the JSON gives each binary value longer than ``BulkDataThreshold`` bytes as a
``BulkDataURI`` into Orthanc's ``/instances/<id>/content`` instead of base64:
there Orthanc answers a value's raw bytes (``.../content/0088-0200/0/7fe0-0010``
for one in a sequence), and for the pixel data (``.../content/7fe0-0010``) the
list of its frames, each frame's bytes at ``.../content/7fe0-0010/<frame>``.

Answers: ``text/plain`` or ``application/dicom+json``; 400 for an identifier
not of Orthanc's form; 404 for an unknown instance; 422 when pydicom cannot parse the file or a value in it (the
parser's message in ``error``), for instance ``badVR.dcm`` from pydicom's test
files, whose ``IS`` value ``'1A'`` has no JSON form. Warnings pydicom raises
while reading (invalid values it could still read) are counted in the
``X-Pydicom-Warnings`` header; with ``"Strict": true`` they answer 422.

Run it alone with ``orthanc-runtime run recipes/pydicom_dump.py``, or enable it
with ``"PythonRuntime": {"Recipes": {"PydicomDump": {"Enabled": true}}}``.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pydicom
import pydicom.config

from recipes import path_id, query_choice, settings
from runtime import (
    ErrorCode,
    HTTPError,
    NotFound,
    OrthancException,
    Request,
    Response,
    offload,
    route,
    sdk,
)

CONFIG_KEY = "PydicomDump"

DICOM_JSON = "application/dicom+json"
_BULK = "\0bulk"  # stands for a bulk value until its path in the data set is known


class Unparsable(HTTPError):
    """422: Orthanc stored the file, but pydicom cannot parse it (or one of its values)."""

    def __init__(self, error: Exception) -> None:
        super().__init__(
            422,
            f"pydicom {pydicom.__version__} cannot parse this instance: "
            f"{type(error).__name__}: {error}",
            parser_error=type(error).__name__,
        )


def _dicom(instance_id: str) -> bytes:
    try:
        return sdk.get_dicom(instance_id)
    except OrthancException as error:
        if error.code in (ErrorCode.UNKNOWN_RESOURCE, ErrorCode.INEXISTENT_ITEM):
            raise NotFound(f"no instance {instance_id}", instance=instance_id) from None
        raise


@contextlib.contextmanager
def _reading(strict: bool) -> Iterator[list[warnings.WarningMessage]]:
    """Records pydicom's warnings; under ``strict`` an invalid value raises instead."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if strict:
            with pydicom.config.strict_reading():
                yield caught
        else:
            yield caught


def _with_bulk_uris(element: dict[str, Any], path: str) -> None:
    """Points each bulk value of a JSON element at its raw value in Orthanc's REST API."""
    if element.get("BulkDataURI") == _BULK:
        element["BulkDataURI"] = path
    if element.get("vr") == "SQ":
        for index, item in enumerate(element.get("Value", [])):
            for tag, child in item.items():
                _with_bulk_uris(child, f"{path}/{index}/{tag[:4].lower()}-{tag[4:].lower()}")


def dicom_json(dataset: pydicom.Dataset, instance_id: str, threshold: int) -> dict[str, Any]:
    """The DICOM JSON model of ``dataset``, binary values over ``threshold`` bytes as URIs."""
    model: dict[str, Any] = dataset.to_json_dict(
        bulk_data_threshold=threshold, bulk_data_element_handler=lambda element: _BULK
    )
    for tag, element in model.items():
        _with_bulk_uris(element, f"/instances/{instance_id}/content/{tag[:4].lower()}-{tag[4:].lower()}")
    return model


@route("/pydicom/{instance_id}")
@offload
def dump(request: Request) -> Response:
    """``GET /pydicom/{instance_id}[?format=text|json]``: the data set, parsed here by pydicom."""
    section = settings(CONFIG_KEY)
    answer_format = query_choice(request, "format", ("text", "json"), section["DefaultFormat"])
    instance_id = path_id(request, "instance_id")
    data = _dicom(instance_id)
    try:
        with _reading(section["Strict"]) as caught:
            dataset = pydicom.dcmread(io.BytesIO(data), force=True)
            if answer_format == "json":
                model = dicom_json(dataset, instance_id, section["BulkDataThreshold"])
                body = json.dumps(model, ensure_ascii=False, allow_nan=False).encode()
                content_type = DICOM_JSON
            else:
                body = str(dataset).encode("utf-8", errors="replace")
                content_type = "text/plain; charset=utf-8"
    except Exception as error:  # pydicom's failures have no common base class
        raise Unparsable(error) from None
    headers = {"X-Pydicom-Warnings": str(len(caught))}
    return Response(body, content_type=content_type, headers=headers)
