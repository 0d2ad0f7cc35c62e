"""SDK objects in a worker: by value, rebuilt by the master for each call it serves.

An Image, a DicomInstance, Peers, a FindMatcher or a KeysValuesIterator that a worker gets (from
``orthanc.DecodeDicomImage(...)`` in an offloaded handler, say) is a copy: a
small picklable value. When the worker calls a method, the master rebuilds the
SDK object from the value, calls Orthanc, and sends back plain results; a new
object comes back as a value too. Nothing lives in the master between calls,
so nothing leaks when a task ends, times out or its worker dies. Image's
getters answer in the worker itself; ``DrawText``, which draws into the image,
sends back the new pixels, which replace the worker's copy. A KeysValuesIterator
is the store's keys and values as the master read them when it was created,
walked in the worker.

    worker                               master (runtime.sdk.transport.master_functions)
    DecodeDicomImage(dicom, 0)   ---->   native.DecodeDicomImage -> ImageValue
    image.GetImageWidth()                (answered in the worker)
    image.DrawText(0, 'x', ...)  ---->   rebuild Image, DrawText -> (None, new ImageValue)

Large pixels and DICOM files cross in shared memory, as every pool message
of 1 MB or more does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class ImageValue:
    format: int
    width: int
    height: int
    pitch: int
    buffer: bytes


@dataclass
class DicomInstanceValue:
    data: bytes


@dataclass
class PeersValue:
    """Orthanc's peers are read anew by the master for each call."""


@dataclass
class FindMatcherValue:
    query: bytes


@dataclass
class KeysValuesIteratorValue:
    """Every (key, value) of a key-value store, in key order, and where the walk stands."""

    items: list[tuple[str, bytes]]
    position: int = -1

    def next(self) -> bool:
        self.position = min(self.position + 1, len(self.items))
        return self.position < len(self.items)

    def current(self) -> tuple[str, bytes] | None:
        return self.items[self.position] if 0 <= self.position < len(self.items) else None

    def value(self) -> bytes:
        current = self.current()
        if current is None:  # as Orthanc answers before Next() or past the end
            from runtime.errors import OrthancException

            raise OrthancException(6, "Bad sequence of calls")  # ErrorCode.BAD_SEQUENCE_OF_CALLS
        return current[1]


# Methods that change their object: the master answers (result, new value).
MUTATING = {"DrawText"}

# What a worker answers from its copy, without the master.
_LOCAL: dict[str, Callable[[Any], Any]] = {
    "GetImageWidth": lambda v: v.width,
    "GetImageHeight": lambda v: v.height,
    "GetImagePitch": lambda v: v.pitch,
    "GetImagePixelFormat": lambda v: v.format,
    "GetImageBuffer": lambda v: v.buffer,
    "GetInstanceData": lambda v: v.data,
    "GetInstanceSize": lambda v: len(v.data),
    "SerializeDicomInstance": lambda v: v.data,
    "KeysValuesIteratorNext": lambda v: v.next(),
    "KeysValuesIteratorGetKey": lambda v: (v.current() or (None,))[0],
    "KeysValuesIteratorGetValue": lambda v: v.value(),
}


def answer_locally(name: str, args: tuple[Any, ...]) -> tuple[bool, Any]:
    local = _LOCAL.get(name)
    if local is not None and args and \
            isinstance(args[0], (ImageValue, DicomInstanceValue, KeysValuesIteratorValue)):
        return True, local(args[0])
    return False, None


def update_from(target: Any, value: Any) -> None:
    """Puts the master's new value of a mutated object into the worker's copy."""
    target.__dict__.update(value.__dict__)


# -- the master's side ----------------------------------------------------------------

def to_value(native: Any, handle: Any, query: bytes | None = None) -> Any:
    kind = type(handle).__name__
    if kind == "ImageHandle":
        return ImageValue(native.GetImagePixelFormat(handle), native.GetImageWidth(handle),
                          native.GetImageHeight(handle), native.GetImagePitch(handle),
                          native.GetImageBuffer(handle))
    if kind == "DicomInstanceHandle":
        return DicomInstanceValue(native.SerializeDicomInstance(handle))
    if kind == "PeersHandle":
        return PeersValue()
    if kind == "FindMatcherHandle" and query is not None:
        return FindMatcherValue(query)
    if kind == "KeysValuesIteratorHandle":
        items = []
        while native.KeysValuesIteratorNext(handle):
            items.append((native.KeysValuesIteratorGetKey(handle), native.KeysValuesIteratorGetValue(handle)))
        return KeysValuesIteratorValue(items)
    return handle


def from_value(native: Any, value: Any) -> Any:
    if isinstance(value, ImageValue):
        return native.CreateImageFromBuffer(value.format, value.width, value.height, value.pitch,
                                            value.buffer)
    if isinstance(value, DicomInstanceValue):
        return native.CreateDicomInstance(value.data)
    if isinstance(value, PeersValue):
        return native.GetPeers()
    if isinstance(value, FindMatcherValue):
        return native.CreateFindMatcher(value.query)
    return value


def serve(native: Any, name: str) -> Callable[..., Any]:
    """The master function that serves ``name`` to workers, values in and out."""
    function = getattr(native, name)

    def served(*args: Any) -> Any:
        handles = [from_value(native, a) for a in args]
        result = function(*handles)
        query = None
        if name == "CreateFindMatcher" and args:
            query = args[0].encode() if isinstance(args[0], str) else bytes(args[0])
        value = to_value(native, result, query)
        if name in MUTATING:
            return value, to_value(native, handles[0])
        return value

    served.__name__ = name
    return served
