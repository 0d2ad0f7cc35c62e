"""A storage area written in Python: where Orthanc keeps its files.

Subclass :class:`StorageArea` and register an instance with
:func:`storage_area`; runtime.callbacks.gates calls its methods for Orthanc.
"""

from __future__ import annotations

from runtime.registry import active

__all__ = ["StorageArea", "storage_area"]


class StorageArea:
    """Where Orthanc keeps its files, written in Python: subclass it and register an instance
    with ``storage_area(MyArea(...))``. Orthanc calls it for every file it stores (DICOM
    files, and its JSON summaries), reads or deletes; ``content_type`` is 1 for a DICOM file,
    2 for its JSON summary, 3 for a DICOM file cut before its pixel data. A method that raises
    makes that one operation fail (an upload answers an error), never the others.

    A method marked ``@offload`` (compression, say) runs in a worker, on the worker's own
    instance of the area (the script is imported there too); while Orthanc starts or
    stops, without a pool, it runs in Orthanc's process."""

    def create(self, uuid: str, content_type: int, data: bytes) -> None:
        raise NotImplementedError

    def read(self, uuid: str, content_type: int) -> bytes:
        raise NotImplementedError

    def remove(self, uuid: str, content_type: int) -> None:
        raise NotImplementedError


def storage_area(area: StorageArea) -> StorageArea:
    """Registers ``area`` as Orthanc's storage area (one per Orthanc; while it starts)."""
    active().set_storage_area(area.create, area.read, area.remove,
                              name=f"{type(area).__module__}.{type(area).__qualname__}")
    return area
