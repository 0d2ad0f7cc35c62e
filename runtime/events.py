"""What on-change and on-stored-instance handlers receive.

Both are small picklable values: an offloaded handler gets the same object in
a worker as an inline handler gets in the master.
"""

from __future__ import annotations

import json as _json
from dataclasses import dataclass, field
from typing import Any

from .enums import ChangeType, InstanceOrigin, ResourceType

# Orthanc's built-in metadata of an instance, copied into the snapshot.
INSTANCE_METADATA_KEYS = (
    "TransferSyntax",
    "SopClassUid",
    "RemoteAET",
    "CalledAET",
    "RemoteIP",
    "HttpUsername",
    "Origin",
    "ReceptionDate",
    "IndexInSeries",
    "InstanceCreationDate",
)


@dataclass(frozen=True, slots=True)
class Change:
    """One change of Orthanc's database: ``type``, ``level`` and ``resource_id``."""

    type: ChangeType
    level: ResourceType
    resource_id: str | None


@dataclass(slots=True)
class StoredInstance:
    """A snapshot of an instance that Orthanc has just stored.

    ``data`` is the DICOM file, ``json`` its simplified tags (parsed on first
    use), ``metadata`` Orthanc's metadata of the instance.
    """

    id: str
    size: int
    data: bytes
    metadata: dict[str, str]
    origin: InstanceOrigin
    remote_aet: str | None
    simplified_json: str
    transfer_syntax_uid: str = ""
    _parsed: Any = field(default=None, repr=False, compare=False)

    @property
    def json(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = _json.loads(self.simplified_json)
        return self._parsed  # type: ignore[no-any-return]

    @classmethod
    def snapshot(cls, dicom: Any, instance_id: str) -> StoredInstance:
        """Copies everything out of the native DicomInstance, valid only during its callback."""
        metadata = {}
        for key in INSTANCE_METADATA_KEYS:
            value = dicom.metadata(key)
            if value is not None:
                metadata[key] = value
        return cls(
            id=instance_id,
            size=dicom.size(),
            data=dicom.data(),
            metadata=metadata,
            origin=InstanceOrigin(dicom.origin()),
            remote_aet=dicom.remote_aet(),
            simplified_json=dicom.simplified_json(),
            transfer_syntax_uid=dicom.transfer_syntax_uid(),
        )
