"""orthanc-runtime: script Orthanc in Python, with CPU-heavy handlers in a pool of workers.

    from runtime import route, offload, Request

    @route('/hello/{name}')
    def hello(request: Request):
        return {'hello': request.params['name']}

See docs/api.md (the site: `make docs`) for the whole API.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from runtime import jobs, sdk
from runtime.configuration.settings import config
from runtime.context import request_id
from runtime.decorators import (
    cstore_filter,
    http_filter,
    offload,
    on_change,
    on_find,
    on_move,
    on_received_instance,
    on_storage_commitment,
    on_stored_instance,
    on_worklist,
    route,
)
from runtime.enums import (
    ChangeType,
    ErrorCode,
    InstanceOrigin,
    ResourceType,
    StorageCommitmentFailureReason,
)
from runtime.errors import NotInOrthanc, OrthancError, OrthancException
from runtime.events import Change, StoredInstance
from runtime.http import BadRequest, HTTPError, NotFound, Request, Response, StreamingResponse
from runtime.jobs import JobStep, job
from runtime.requests import (
    DISCARD,
    CommitmentRequest,
    DicomConnection,
    FilterRequest,
    FindRequest,
    IncomingInstance,
    MoveRequest,
    ReceivedInstance,
    WorklistRequest,
)
from runtime.storage import StorageArea, storage_area

try:
    __version__ = _version("orthanc-runtime")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "route", "on_change", "on_stored_instance", "offload", "http_filter", "FilterRequest",
    "on_received_instance", "ReceivedInstance", "DISCARD", "StorageArea", "storage_area",
    "on_find", "FindRequest", "on_worklist", "WorklistRequest", "on_move", "MoveRequest",
    "on_storage_commitment", "CommitmentRequest", "StorageCommitmentFailureReason",
    "cstore_filter", "IncomingInstance", "DicomConnection",
    "Request", "Response", "StreamingResponse", "HTTPError", "BadRequest", "NotFound",
    "ChangeType", "ResourceType", "InstanceOrigin", "ErrorCode",
    "Change", "StoredInstance",
    "OrthancError", "OrthancException", "NotInOrthanc",
    "sdk", "config", "job", "JobStep", "jobs", "request_id",
]
