"""A small Pythonic facade over the Orthanc SDK, the same in the master and in workers.

    from runtime import sdk
    study = sdk.rest_get(f'/studies/{study_id}')      # parsed JSON
    dicom = sdk.get_dicom(instance_id)                # bytes
    sdk.rest_post('/modalities/sample/store', study_id)
    sdk.log.info('done')
    image = sdk.decode_image(instance_id)             # a Pillow image of frame 0
    dicom = sdk.create_dicom({'PatientID': 'X'}, image)
    study_id = sdk.lookup_study(study_instance_uid)   # Orthanc's id, or None
    store = sdk.kv_store('my-plugin')                 # Orthanc 1.12.8+: in Orthanc's database
    store['k'] = b'v'; store.get('k'); dict(store.items())
    jobs = sdk.queue('my-plugin-jobs')                # Orthanc 1.12.8+
    jobs.put(b'x'); item = jobs.reserve(timeout=60)   # 1.12.10+; item.acknowledge() when done
    journal = sdk.DurableProperty(sdk.PropertyId.ROUTING_JOURNAL, version=1, empty=dict,
                                  validate=dict, if_unreadable='starting afresh')
    with journal.edit() as state: state['k'] = 1      # versioned JSON in a global property

A DurableProperty (runtime.sdk.properties) is a JSON object kept in one global
property of Orthanc's database, cached, behind one lock, written when it
changed; its identifier must be one of PropertyId, the table of the project's
properties and what each holds (a recipe's too: add yours there).

REST calls answer parsed JSON when Orthanc answers JSON, bytes otherwise, and
raise OrthancError (with the HTTP status and Orthanc's error code) when
Orthanc answers an error.
"""

from __future__ import annotations

import json
from typing import Any

from runtime.enums import CreateDicomFlags, ErrorCode, HttpMethod, PixelFormat, QueueOrigin
from runtime.errors import OrthancError, OrthancException, http_status_of
from runtime.sdk import transport
from runtime.sdk.properties import DurableProperty, PropertyId

__all__ = ["rest_get", "rest_post", "rest_put", "rest_delete", "get_dicom", "log", "configuration",
           "get_global_property", "set_global_property", "decode_image", "create_dicom",
           "lookup_patient", "lookup_study", "lookup_series", "lookup_instance", "kv_store", "queue",
           "KeyValueStore", "Queue", "Reservation", "DurableProperty", "PropertyId"]


def _encode(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return bytes(body)


# Orthanc's error code for an HTTP error status, where the answer does not say it: Orthanc
# 1.13's CallRestApi answers a failed call with its status, an empty body and no error code
# (1.10's body names the code as "OrthancStatus").
CODE_OF_STATUS = {400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHORIZED,
                  403: ErrorCode.FORBIDDEN_ACCESS, 404: ErrorCode.UNKNOWN_RESOURCE,
                  406: ErrorCode.NOT_ACCEPTABLE, 415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                  501: ErrorCode.NOT_IMPLEMENTED}


def _answer(method: str, uri: str, result: tuple[int, dict[str, str], bytes]) -> Any:
    status, headers, body = result
    if status >= 400 or status == 0:
        message = f"{method} {uri} failed ({status})" if status else f"{method} {uri} failed"
        orthanc_code: int = CODE_OF_STATUS.get(status, ErrorCode.INTERNAL_ERROR)
        try:
            details = json.loads(body)
            message = f"{method} {uri}: {details.get('Message') or details.get('OrthancError')}"
            orthanc_code = int(details.get("OrthancStatus", orthanc_code))
        except (ValueError, AttributeError):
            if body:
                message = f"{method} {uri}: {body[:200].decode(errors='replace')}"
        raise OrthancError(int(orthanc_code), message, status or 500)
    content_type = next((value for key, value in (headers or {}).items()
                         if key.lower() == "content-type"), "")
    if content_type.startswith("application/json"):
        return json.loads(body) if body else None
    return body


def _call(method: str, uri: str, body: Any, after_plugins: bool, headers: dict[str, str] | None) -> Any:
    try:
        result = transport.call("CallRestApi", int(HttpMethod[method]), uri, dict(headers or {}),
                                _encode(body), after_plugins)
    except OrthancError:
        raise
    except OrthancException as error:  # Orthanc answered with an error code and no HTTP status
        raise OrthancError(error.code, f"{method} {uri}: {error.message}",
                           http_status_of(error)) from None
    return _answer(method, uri, result)


def rest_get(uri: str, *, after_plugins: bool = False, headers: dict[str, str] | None = None) -> Any:
    """GET ``uri`` on Orthanc's REST API (``after_plugins``: through the plugins' routes too)."""
    return _call("GET", uri, None, after_plugins, headers)


def rest_post(
    uri: str, body: Any = b"", *, after_plugins: bool = False, headers: dict[str, str] | None = None
) -> Any:
    """POST ``body`` (bytes, str, or a dict/list sent as JSON) to ``uri``."""
    return _call("POST", uri, body, after_plugins, headers)


def rest_put(
    uri: str, body: Any = b"", *, after_plugins: bool = False, headers: dict[str, str] | None = None
) -> Any:
    """PUT ``body`` (bytes, str, or a dict/list sent as JSON) to ``uri``."""
    return _call("PUT", uri, body, after_plugins, headers)


def rest_delete(uri: str, *, after_plugins: bool = False, headers: dict[str, str] | None = None) -> None:
    """DELETE ``uri``."""
    _call("DELETE", uri, None, after_plugins, headers)


def get_dicom(instance_id: str) -> bytes:
    """The DICOM file of an instance, as bytes."""
    return transport.call("GetDicomForInstance", instance_id)  # type: ignore[no-any-return]


def configuration() -> dict[str, Any]:
    """Orthanc's whole configuration, parsed."""
    return json.loads(transport.call("GetConfiguration"))  # type: ignore[no-any-return]


def configuration_path() -> str:
    """The path of Orthanc's configuration file (or folder), as Orthanc was started with it."""
    return transport.call("GetConfigurationPath")  # type: ignore[no-any-return]


def log_warning(message: str) -> None:
    """A warning in Orthanc's log (from a worker too)."""
    transport.call("LogWarning", message)


def get_global_property(property: int, default: str = "") -> str:
    """A global property of Orthanc's database (plugins use identifiers from 1024 on)."""
    return transport.call("GetGlobalProperty", property, default)  # type: ignore[no-any-return]


def set_global_property(property: int, value: str) -> None:
    """Stores ``value`` in Orthanc's database, durably, under ``property`` (1024 or more)."""
    transport.call("SetGlobalProperty", property, value)


# Orthanc's pixel formats as Pillow reads them: (mode, raw decoder mode).
_PILLOW_FORMATS = {
    PixelFormat.GRAYSCALE8: ("L", "L"),
    PixelFormat.GRAYSCALE16: ("I", "I;16"),
    PixelFormat.SIGNED_GRAYSCALE16: ("I", "I;16S"),
    PixelFormat.RGB24: ("RGB", "RGB"),
    PixelFormat.RGBA32: ("RGBA", "RGBA"),
    PixelFormat.BGRA32: ("RGBA", "BGRA"),
    PixelFormat.FLOAT32: ("F", "F"),
}
# And back, for create_dicom: Pillow's mode -> Orthanc's format and bytes per pixel.
_ORTHANC_FORMATS = {"L": (PixelFormat.GRAYSCALE8, 1), "RGB": (PixelFormat.RGB24, 3),
                    "RGBA": (PixelFormat.RGBA32, 4), "I;16": (PixelFormat.GRAYSCALE16, 2)}


def decode_image(instance_id: str, frame: int = 0) -> Any:
    """A frame of an instance, decoded by Orthanc, as a Pillow image.

    16-bit frames come as mode ``I`` (their values kept), colour as ``RGB``.
    """
    from PIL import Image

    from runtime.sdk.calls import Image as SdkImage

    dicom = get_dicom(instance_id)
    image = SdkImage(_handle=transport.call("DecodeDicomImage", dicom, frame))
    pixel_format = image.GetImagePixelFormat()
    if pixel_format not in _PILLOW_FORMATS:
        raise ValueError(f"decode_image: Orthanc's pixel format {PixelFormat(pixel_format).name} "
                         "has no Pillow mode; use orthanc.DecodeDicomImage")
    mode, raw = _PILLOW_FORMATS[PixelFormat(pixel_format)]
    return Image.frombuffer(mode, (image.GetImageWidth(), image.GetImageHeight()),
                            image.GetImageBuffer(), "raw", raw, image.GetImagePitch(), 1)


def create_dicom(tags: dict[str, Any], image: Any = None, *, generate_identifiers: bool = True,
                 decode_data_uri: bool = False) -> bytes:
    """A new DICOM file from its tags (keyword: value), with a Pillow image as its pixels.

    Nothing is stored: post the bytes to ``/instances`` for that.
    """
    flags = (CreateDicomFlags.GENERATE_IDENTIFIERS if generate_identifiers else 0) | \
        (CreateDicomFlags.DECODE_DATA_URI_SCHEME if decode_data_uri else 0)
    pixels = None
    if image is not None:
        if image.mode not in _ORTHANC_FORMATS:
            image = image.convert("RGB" if image.mode in ("P", "CMYK", "YCbCr", "LA") else "L")
        pixel_format, size = _ORTHANC_FORMATS[image.mode]
        raw = image.tobytes("raw", "I;16") if image.mode == "I;16" else image.tobytes()
        pixels = transport.call("CreateImageFromBuffer", int(pixel_format), image.width,
                              image.height, image.width * size, raw)
    return transport.call("CreateDicom", json.dumps(tags), pixels, int(flags))  # type: ignore[no-any-return]


def _lookup(function: str, value: str) -> str | None:
    try:
        return transport.call(function, value)  # type: ignore[no-any-return]
    except OrthancException:  # Orthanc answers a null pointer when nothing matches
        return None


def lookup_patient(patient_id: str) -> str | None:
    """Orthanc's identifier of the patient with this PatientID, or None."""
    return _lookup("LookupPatient", patient_id)


def lookup_study(study_instance_uid: str) -> str | None:
    """Orthanc's identifier of the study with this StudyInstanceUID, or None."""
    return _lookup("LookupStudy", study_instance_uid)


def lookup_series(series_instance_uid: str) -> str | None:
    """Orthanc's identifier of the series with this SeriesInstanceUID, or None."""
    return _lookup("LookupSeries", series_instance_uid)


def lookup_instance(sop_instance_uid: str) -> str | None:
    """Orthanc's identifier of the instance with this SOPInstanceUID, or None."""
    return _lookup("LookupInstance", sop_instance_uid)


class _Log:
    """Orthanc's log: ``sdk.log.info/warning/error(message)``."""

    def info(self, message: str) -> None:
        transport.call("LogInfo", str(message))

    def warning(self, message: str) -> None:
        transport.call("LogWarning", str(message))

    def error(self, message: str) -> None:
        transport.call("LogError", str(message))


log = _Log()


# -- key-value stores and queues (Orthanc 1.12.8+) ---------------------------------------------

def _value(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return value.encode()
    return bytes(value)


class KeyValueStore:
    """A key-value store in Orthanc's database (Orthanc 1.12.8 or newer), as a mapping of
    str keys to bytes values; a str value is stored as UTF-8. Works from workers too.

    In an older Orthanc every call raises OrthancException naming the version needed.
    """

    def __init__(self, name: str) -> None:
        if not name:
            raise ValueError("kv_store: a store needs a name")
        self.name = name

    def __repr__(self) -> str:
        return f"<KeyValueStore {self.name!r}>"

    def get(self, key: str, default: bytes | None = None) -> bytes | None:
        value = transport.call("GetKeyValue", self.name, key)
        return default if value is None else value  # type: ignore[no-any-return]

    def __getitem__(self, key: str) -> bytes:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: bytes | str) -> None:
        transport.call("StoreKeyValue", self.name, key, _value(value))

    def __delitem__(self, key: str) -> None:
        """Deletes ``key``; deleting an absent key is no error (Orthanc's own rule)."""
        transport.call("DeleteKeyValue", self.name, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def items(self) -> list[tuple[str, bytes]]:
        """Every (key, value) of the store, keys in lexicographical order, read at once."""
        return [(k, v) for k, v in transport.call("key_value_items", self.name)]

    def keys(self) -> list[str]:
        return [k for k, _ in self.items()]

    def __iter__(self) -> Any:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.items())


class Reservation:
    """A value reserved from a queue: ``acknowledge()`` removes it for good; otherwise it is
    free again for another reader once its timeout has passed."""

    def __init__(self, queue: Queue, value: bytes, value_id: int) -> None:
        self.queue, self.value, self.id = queue, value, value_id

    def __repr__(self) -> str:
        return f"<Reservation {self.id} of {self.queue.name!r}>"

    def acknowledge(self) -> None:
        """Removes the value; raises OrthancException (UNKNOWN_RESOURCE) once its reservation
        has expired."""
        transport.call("AcknowledgeQueueValue", self.queue.name, self.id)


class Queue:
    """A queue in Orthanc's database (Orthanc 1.12.8 or newer) of bytes values; a str value is
    stored as UTF-8. Works from workers too."""

    def __init__(self, name: str) -> None:
        if not name:
            raise ValueError("queue: a queue needs a name")
        self.name = name

    def __repr__(self) -> str:
        return f"<Queue {self.name!r}>"

    def put(self, value: bytes | str) -> None:
        transport.call("EnqueueValue", self.name, _value(value))

    def get(self, *, last: bool = False) -> bytes | None:
        """Removes and answers the oldest value (the newest with ``last=True``), None if the
        queue has none free. A value is lost if the caller fails after this: see reserve()."""
        origin = QueueOrigin.BACK if last else QueueOrigin.FRONT
        return transport.call("DequeueValue", self.name, int(origin))  # type: ignore[no-any-return]

    def reserve(self, timeout: int, *, last: bool = False) -> Reservation | None:
        """Reserves the oldest free value for ``timeout`` seconds (Orthanc 1.12.10 or newer):
        a Reservation to acknowledge once handled, or None if no value is free."""
        origin = QueueOrigin.BACK if last else QueueOrigin.FRONT
        value, value_id = transport.call("ReserveQueueValue", self.name, int(origin), int(timeout))
        return None if value is None else Reservation(self, value, value_id)

    def __len__(self) -> int:
        """The number of values, reserved ones included."""
        return transport.call("GetQueueSize", self.name)  # type: ignore[no-any-return]


def kv_store(name: str) -> KeyValueStore:
    """The key-value store ``name`` of Orthanc's database (Orthanc 1.12.8 or newer)."""
    return KeyValueStore(name)


def queue(name: str) -> Queue:
    """The queue ``name`` of Orthanc's database (Orthanc 1.12.8 or newer)."""
    return Queue(name)
