"""Who asked, as the DICOM-service handlers of the decorator API see it: for
tests/integration/test_dicom_connection.py.

Each handler writes ``request.connection`` (calling AET, called AET, remote IP)
where the test reads it: C-FIND answers it in PatientComments, the worklist in
PatientComments of its one item; C-MOVE and storage commitment write it to a
file of the folder ``"ConnectionLog"`` of the configuration. With
``"DicomServicesOffloaded": true`` every handler runs in a worker, where the
connection arrives pickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from runtime import (
    CommitmentRequest,
    DicomConnection,
    FindRequest,
    MoveRequest,
    StorageCommitmentFailureReason,
    WorklistRequest,
    offload,
    on_find,
    on_move,
    on_storage_commitment,
    on_worklist,
    sdk,
)

SETTINGS = sdk.configuration()
OFFLOADED = bool(SETTINGS.get("DicomServicesOffloaded"))
LOG = Path(SETTINGS["ConnectionLog"])


def maybe_offloaded(handler: Any) -> Any:
    return offload(timeout=10)(handler) if OFFLOADED else handler


def described(connection: DicomConnection) -> dict[str, Any]:
    """The connection as JSON, with who ran the handler (a worker or Orthanc's process)."""
    assert isinstance(connection, DicomConnection)
    return {"remote_aet": connection.remote_aet, "called_aet": connection.called_aet,
            "remote_ip": connection.remote_ip, "pid": os.getpid()}


def record(service: str, connection: DicomConnection) -> None:
    (LOG / f"{service}.json").write_text(json.dumps(described(connection)))


@on_find
@maybe_offloaded
def find(request: FindRequest) -> list[Dataset]:
    answer = Dataset()
    answer.QueryRetrieveLevel = "PATIENT"
    answer.PatientID = "CONNECTION"
    answer.PatientComments = json.dumps(described(request.connection))
    return [answer]


@on_worklist
@maybe_offloaded
def worklist(request: WorklistRequest) -> list[Dataset]:
    step = Dataset()
    step.Modality = "CT"
    item = Dataset()
    item.PatientID = "CONNECTION"
    item.PatientComments = json.dumps(described(request.connection))
    item.ScheduledProcedureStepSequence = [step]
    return [item]


@on_move
@maybe_offloaded
def move(request: MoveRequest) -> list[str]:
    record("move", request.connection)
    return []


@on_storage_commitment
@maybe_offloaded
def commitment(request: CommitmentRequest) -> dict[str, int]:
    record("storage_commitment", request.connection)
    return {uid: StorageCommitmentFailureReason.NO_SUCH_OBJECT_INSTANCE
            for _, uid in request.instances}
