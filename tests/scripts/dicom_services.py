"""The DICOM services in the decorator API, for tests/integration/test_dicom_services.py.

With ``"DicomServicesOffloaded": true`` in Orthanc's configuration, every
handler runs in the pool (@offload); otherwise in Orthanc's thread. A few
patient ids and UIDs ask a handler to misbehave: RAISE, DICT, SLEEP, CRASH.
"""

from __future__ import annotations

import fnmatch
import os
import time
from typing import Any

from pydicom.dataset import Dataset

from runtime import (
    CommitmentRequest,
    FindRequest,
    IncomingInstance,
    MoveRequest,
    StorageCommitmentFailureReason,
    WorklistRequest,
    cstore_filter,
    offload,
    on_find,
    on_move,
    on_storage_commitment,
    on_worklist,
    sdk,
)

OFFLOADED = bool(sdk.configuration().get("DicomServicesOffloaded"))


def maybe_offloaded(handler: Any) -> Any:
    return offload(timeout=3)(handler) if OFFLOADED else handler


PATIENTS = [("P1", "DOE^JOHN", "19700101"), ("P2", "DOE^JANE", "19800202"),
            ("P3", "SMITH^ANNA", "19900303")]


def misbehave(value: str) -> Any:
    if value == "RAISE":
        raise RuntimeError("asked to fail")
    if value == "DICT":
        return [{"PatientID": "not a dataset"}]
    if value == "SLEEP":
        time.sleep(30)
    if value == "CRASH" and OFFLOADED:
        os._exit(3)
    return None


@on_find
@maybe_offloaded
def find_patients(request: FindRequest) -> list[Dataset]:
    wanted_id = request.query.get("PatientID", "")
    query = request.dataset()  # whatever the client sent, as Orthanc parsed it
    if wanted_id == "ECHO":
        echo = Dataset()
        echo.QueryRetrieveLevel = "PATIENT"
        echo.PatientID = "ECHO"
        echo.PatientComments = ";".join(f"{e.keyword or e.tag}={e.value}" for e in query)[:10240]
        return [echo]
    odd = misbehave(wanted_id)
    if odd is not None:
        return odd  # type: ignore[no-any-return]
    pattern = request.query.get("PatientName", "") or "*"
    answers = []
    for patient_id, name, birth in PATIENTS:
        if wanted_id and wanted_id != patient_id:
            continue
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        answer = Dataset()
        answer.QueryRetrieveLevel = "PATIENT"
        answer.PatientID = patient_id
        answer.PatientName = name
        answer.PatientBirthDate = birth
        answer.RetrieveAETitle = request.called_aet
        answers.append(answer)
    return answers


def worklist_item(patient_id: str, name: str, modality: str, accession: str) -> Dataset:
    step = Dataset()
    step.Modality = modality
    step.ScheduledStationAETitle = "SCANNER"
    step.ScheduledProcedureStepStartDate = "20261130"
    step.ScheduledProcedureStepDescription = f"{modality} exam"
    item = Dataset()
    item.PatientID = patient_id
    item.PatientName = name
    item.AccessionNumber = accession
    item.SpecificCharacterSet = "ISO_IR 100"
    item.ScheduledProcedureStepSequence = [step]
    return item


@on_worklist
@maybe_offloaded
def worklist(request: WorklistRequest) -> list[Dataset]:
    query = request.dataset()
    odd = misbehave(str(query.get("PatientID", "")))
    if odd is not None:
        return odd  # type: ignore[no-any-return]
    # Every item: the runtime keeps those that match the query.
    return [worklist_item("P1", "DOE^JOHN", "CT", "A1"),
            worklist_item("P2", "DOE^JANE", "MR", "A2"),
            worklist_item("P3", "SMITH^ANNA", "CT", "A3")]


@on_move
@maybe_offloaded
def move(request: MoveRequest) -> list[str]:
    odd = misbehave(request.study_instance_uid)
    if odd is not None:
        return odd  # type: ignore[no-any-return]
    found: list[str] = sdk.rest_post("/tools/find", {
        "Level": "Study", "Query": {"StudyInstanceUID": request.study_instance_uid}})
    return found


@on_storage_commitment
@maybe_offloaded
def commitment(request: CommitmentRequest) -> dict[str, StorageCommitmentFailureReason]:
    reasons = {}
    for sop_class, sop_instance in request.instances:
        found = sdk.lookup_instance(sop_instance)
        if found is None:
            reasons[sop_instance] = StorageCommitmentFailureReason.NO_SUCH_OBJECT_INSTANCE
        elif sdk.rest_get(f"/instances/{found}/simplified-tags")["SOPClassUID"] != sop_class:
            reasons[sop_instance] = StorageCommitmentFailureReason.CLASS_INSTANCE_CONFLICT
        else:
            reasons[sop_instance] = StorageCommitmentFailureReason.SUCCESS
    return reasons


@cstore_filter
@maybe_offloaded
def no_mr(instance: IncomingInstance) -> bool | int:
    dataset = instance.dataset()
    odd = misbehave(str(dataset.PatientID))
    if odd is not None:
        return odd  # type: ignore[no-any-return]
    if dataset.Modality == "MR":
        return 0xA900  # "Data Set does not match SOP Class": a status of the filter's choosing
    return dataset.Modality != "US"  # False: refused, "not authorized"
