"""What DICOM services and gates receive: plain values, picklable, valid after the callback.

A handler of the decorator API gets one of these (``@http_filter`` a
:class:`FilterRequest`, ``@on_find`` a :class:`FindRequest`...), inline as in a
worker. runtime.callbacks builds them from what Orthanc passes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from runtime.enums import InstanceOrigin
from runtime.http import Headers

__all__ = ["FilterRequest", "ReceivedInstance", "DISCARD", "DicomConnection", "FindRequest",
           "WorklistRequest", "MoveRequest", "CommitmentRequest", "IncomingInstance"]


# -- gates ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class FilterRequest:
    """An incoming HTTP request, before Orthanc serves it: what an ``@http_filter`` sees."""

    method: str
    uri: str
    ip: str
    headers: Headers
    query: dict[str, str]


class _Discard:
    def __repr__(self) -> str:
        return "DISCARD"


DISCARD = _Discard()
"""What an ``@on_received_instance`` handler returns to drop the instance."""



@dataclass(frozen=True, slots=True)
class ReceivedInstance:
    """A DICOM instance Orthanc has received and not stored yet."""

    data: bytes
    origin: InstanceOrigin

    def dataset(self) -> Any:
        """The instance parsed by pydicom."""
        import pydicom

        return pydicom.dcmread(io.BytesIO(self.data))


# -- DICOM services -------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DicomConnection:
    """The DICOM association a request came on: who called, which AET it called, from where.

    A plain value (picklable, valid after the callback returns): the decorator
    API's ``request.connection``, and what the official 7.x callbacks
    (``RegisterFindCallback2``, ``RegisterWorklistCallback2``,
    ``RegisterMoveCallback3``, ``RegisterStorageCommitmentScpCallback2``) get,
    with the official methods' names. ``remote_ip`` is None on an Orthanc older
    than 1.12.10, which does not pass it to plugins.
    """

    remote_aet: str  # the calling AET
    called_aet: str  # the AET the remote called: Orthanc's
    remote_ip: str | None = None

    def GetConnectionRemoteAet(self) -> str:
        return self.remote_aet

    def GetConnectionCalledAet(self) -> str:
        return self.called_aet

    def GetConnectionRemoteIp(self) -> str | None:
        return self.remote_ip


@dataclass(frozen=True, slots=True)
class FindRequest:
    """An incoming C-FIND query, as Orthanc parsed it: what an ``@on_find`` handler gets.

    ``query`` maps each tag's keyword (or its ``gggg,eeee`` when the dictionary
    does not know it) to the value asked, an empty string meaning "return it";
    ``dataset`` is the same query as a pydicom Dataset.
    """

    query: dict[str, str]
    tags: tuple[tuple[int, int, str], ...]  # (group, element, value), in the query's order
    issuer_aet: str
    called_aet: str
    remote_ip: str | None = None  # None where Orthanc does not say (before 1.12.10)

    @property
    def connection(self) -> DicomConnection:
        """Who asked: the calling AET (``issuer_aet``), the called AET, the remote IP."""
        return DicomConnection(self.issuer_aet, self.called_aet, self.remote_ip)

    @property
    def level(self) -> str:
        """The QueryRetrieveLevel (``PATIENT``, ``STUDY``, ``SERIES``, ``IMAGE``), or ``""``."""
        return self.query.get("QueryRetrieveLevel", "")

    def dataset(self) -> Any:
        """The query as a pydicom Dataset (values Orthanc parsed, with the dictionary's VR)."""
        from pydicom.datadict import dictionary_VR
        from pydicom.dataset import Dataset
        from pydicom.tag import Tag

        dataset = Dataset()
        for group, element, value in self.tags:
            tag = Tag(group, element)
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                vr = "LO"
            if vr == "SQ":
                dataset.add_new(tag, vr, [])
            else:
                dataset.add_new(tag, vr, value or None)
        return dataset


@dataclass(frozen=True, slots=True)
class WorklistRequest:
    """An incoming modality worklist query: what an ``@on_worklist`` handler gets.

    Answer every worklist item that may match: the runtime keeps those that
    match the query by Orthanc's rules, and Orthanc keeps of each the tags asked.
    """

    data: bytes  # the query, as a DICOM file
    issuer_aet: str
    called_aet: str
    remote_ip: str | None = None  # None where Orthanc does not say (before 1.12.10)

    @property
    def connection(self) -> DicomConnection:
        """Who asked: the calling AET (``issuer_aet``), the called AET, the remote IP."""
        return DicomConnection(self.issuer_aet, self.called_aet, self.remote_ip)

    def dataset(self) -> Any:
        """The query as a pydicom Dataset."""
        import pydicom

        return pydicom.dcmread(io.BytesIO(self.data), force=True)


@dataclass(frozen=True, slots=True)
class MoveRequest:
    """An incoming C-MOVE: what an ``@on_move`` handler gets.

    The handler answers the Orthanc ids (of patients, studies, series or
    instances) to send to ``target_aet``; each of their instances is one
    sub-operation, sent by C-STORE to the modality of ``DicomModalities``
    whose AET is ``target_aet``.
    """

    level: str  # PATIENT, STUDY, SERIES, INSTANCE, or "" when the client did not say
    patient_id: str
    accession_number: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    originator_aet: str  # who asked
    source_aet: str  # the AET the client called (Orthanc's)
    target_aet: str  # where the instances go
    originator_id: int  # the Message ID of the request
    remote_ip: str | None = None  # None where Orthanc does not say (before 1.12.10)

    @property
    def connection(self) -> DicomConnection:
        """Who asked: the calling AET (``originator_aet``), the called AET (``source_aet``),
        the remote IP."""
        return DicomConnection(self.originator_aet, self.source_aet, self.remote_ip)

    def compat_arguments(self, with_connection: bool = False) -> dict[str, Any]:
        """The keyword arguments of the official plugin's C-MOVE callbacks (``RegisterMoveCallback3``'s
        have no AETs: its create callback gets the connection first, as an argument)."""
        arguments = {"Level": self.level, "PatientID": self.patient_id,
                     "AccessionNumber": self.accession_number,
                     "StudyInstanceUID": self.study_instance_uid,
                     "SeriesInstanceUID": self.series_instance_uid,
                     "SOPInstanceUID": self.sop_instance_uid,
                     "OriginatorAET": self.originator_aet, "SourceAET": self.source_aet,
                     "TargetAET": self.target_aet, "OriginatorID": self.originator_id}
        if with_connection:
            del arguments["OriginatorAET"], arguments["SourceAET"]
        return arguments


@dataclass(frozen=True, slots=True)
class CommitmentRequest:
    """A storage commitment request: what an ``@on_storage_commitment`` handler gets.

    The handler answers, for the instances it was asked about, whether Orthanc
    keeps them: a mapping from SOPInstanceUID to a StorageCommitmentFailureReason
    (``SUCCESS`` when kept; True stands for ``SUCCESS``), or a sequence of
    reasons in the order of ``instances``. An instance it does not answer for
    is reported ``NO_SUCH_OBJECT_INSTANCE``.
    """

    job_id: str
    transaction_uid: str
    instances: tuple[tuple[str, str], ...]  # (SOPClassUID, SOPInstanceUID)
    remote_aet: str
    called_aet: str
    remote_ip: str | None = None  # None where Orthanc does not say (before 1.12.10)

    @property
    def connection(self) -> DicomConnection:
        """Who asked: the calling AET (``remote_aet``), the called AET, the remote IP."""
        return DicomConnection(self.remote_aet, self.called_aet, self.remote_ip)


@dataclass(frozen=True, slots=True)
class IncomingInstance:
    """An instance a modality sends by C-STORE, before Orthanc stores it: what a
    ``@cstore_filter`` gets."""

    data: bytes
    remote_aet: str
    transfer_syntax: str

    def dataset(self) -> Any:
        """The instance parsed by pydicom."""
        import pydicom

        return pydicom.dcmread(io.BytesIO(self.data))
