"""What on-change and on-stored-instance handlers receive.

Both are small picklable values: an offloaded handler gets the same object in
a worker as an inline handler gets in the master. Events come from Orthanc's
durable change log (runtime.callbacks.changes), so a handler may see one after the
moment it happened, even after a restart: a ``StoredInstance`` carries the
instance's id and reads the rest from Orthanc when the handler asks, instead of
holding the DICOM file while the event waits.
"""

from __future__ import annotations

import json as _json
import pickle
from dataclasses import dataclass, field
from typing import Any

from runtime import sdk
from runtime.enums import ChangeType, InstanceOrigin, ResourceType

# Orthanc's names of request origins (the "Origin" metadata of an instance).
_ORIGINS = {
    "Unknown": InstanceOrigin.UNKNOWN,
    "DicomProtocol": InstanceOrigin.DICOM_PROTOCOL,
    "RestApi": InstanceOrigin.REST_API,
    "Plugins": InstanceOrigin.PLUGIN,
    "Lua": InstanceOrigin.LUA,
    "WebDav": InstanceOrigin.WEB_DAV,
}


@dataclass(frozen=True, slots=True)
class Change:
    """One change of Orthanc's database: ``type``, ``level`` and ``resource_id``.

    ``seq`` is the change's number in Orthanc's change log (``GET /changes``);
    ``None`` for events that Orthanc does not record there (``ORTHANC_STARTED``,
    ``DELETED``, jobs, peers and modalities), which are delivered as they happen.
    """

    type: ChangeType
    level: ResourceType
    resource_id: str | None
    seq: int | None = None


@dataclass(slots=True)
class StoredInstance:
    """An instance that Orthanc has stored, read from Orthanc when the handler asks.

    ``data`` is the DICOM file, ``json`` its simplified tags, ``metadata``
    Orthanc's metadata of the instance (``Origin``, ``RemoteAET``,
    ``TransferSyntax``...). Each is fetched once, on first use. If the instance
    was deleted before the handler ran, reading them raises ``OrthancError``
    with status 404.
    """

    id: str
    seq: int | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        # The DICOM file the master had at ingest (runtime.registry.invoke) crosses out of
        # band, so that a large one travels in the pool's shared memory.
        cache = dict(self._cache)
        data = cache.get("data")
        if isinstance(protocol, int) and protocol >= 5 and isinstance(data, bytes):
            cache["data"] = pickle.PickleBuffer(data)
        return (_stored_instance, (self.id, self.seq, cache))

    def _get(self, key: str, fetch: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = fetch()
        return self._cache[key]

    @property
    def data(self) -> bytes:
        return self._get("data", lambda: sdk.get_dicom(self.id))  # type: ignore[no-any-return]

    @property
    def metadata(self) -> dict[str, str]:
        return self._get(  # type: ignore[no-any-return]
            "metadata", lambda: sdk.rest_get(f"/instances/{self.id}/metadata?expand"))

    @property
    def size(self) -> int:
        if "data" in self._cache:
            return len(self._cache["data"])
        return self._get(  # type: ignore[no-any-return]
            "size", lambda: int(sdk.rest_get(f"/instances/{self.id}")["FileSize"]))

    @property
    def simplified_json(self) -> str:
        return _json.dumps(self.json)

    @property
    def json(self) -> dict[str, Any]:
        return self._get(  # type: ignore[no-any-return]
            "json", lambda: sdk.rest_get(f"/instances/{self.id}/simplified-tags"))

    @property
    def origin(self) -> InstanceOrigin:
        return _ORIGINS.get(self.metadata.get("Origin", ""), InstanceOrigin.UNKNOWN)

    @property
    def remote_aet(self) -> str | None:
        return self.metadata.get("RemoteAET")

    @property
    def transfer_syntax_uid(self) -> str:
        return self.metadata.get("TransferSyntax", "")


def _stored_instance(id: str, seq: int | None, cache: dict[str, Any]) -> StoredInstance:
    data = cache.get("data")
    if data is not None and type(data) is not bytes:
        cache["data"] = bytes(memoryview(data))  # an out-of-band buffer, copied once
    return StoredInstance(id, seq, cache)
