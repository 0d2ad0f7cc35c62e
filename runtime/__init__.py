"""orthanc-runtime: script Orthanc in Python, with CPU-heavy handlers in a pool of workers.

    from runtime import route, offload, Request

    @route('/hello/{name}')
    def hello(request: Request):
        return {'hello': request.params['name']}

See the README for the whole API.
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from . import jobs, sdk
from .decorators import (
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
from .enums import (
    ChangeType,
    ErrorCode,
    InstanceOrigin,
    ResourceType,
    StorageCommitmentFailureReason,
)
from .errors import NotInOrthanc, OrthancError, OrthancException
from .events import Change, StoredInstance
from .gates import DISCARD, FilterRequest, ReceivedInstance, StorageArea, storage_area
from .http import BadRequest, HTTPError, NotFound, Request, Response, StreamingResponse
from .jobs import JobStep, job
from .scp import (
    CommitmentRequest,
    DicomConnection,
    FindRequest,
    IncomingInstance,
    MoveRequest,
    WorklistRequest,
)
from .settings import config

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
    "sdk", "config", "job", "JobStep", "jobs",
]
