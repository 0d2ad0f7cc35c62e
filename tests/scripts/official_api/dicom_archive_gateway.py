"""Orthanc as the DICOM face of an old archive that speaks no DICOM itself.

The archive exports its study index every night; here that index is the
ARCHIVE table. Modalities query it with C-FIND (patient or study level) and
Orthanc answers from the table. A C-MOVE is not carried out by Orthanc: it
becomes one JSON line in the transfer queue (setting "ArchiveTransferQueue")
that the archive's own mover reads; a study the index does not hold is
refused, so the modality sees the retrieval fail at once.
"""
import json

import orthanc

ARCHIVE = {
    "1.2.826.0.1.3680043.8.498.100": {
        "PatientID": "A-7731", "PatientName": "KOWALSKI^ANNA", "PatientBirthDate": "19610402",
        "StudyDate": "20180911", "StudyDescription": "KNEE MRI LEFT", "ModalitiesInStudy": "MR",
        "AccessionNumber": "ACC18-0091"},
    "1.2.826.0.1.3680043.8.498.101": {
        "PatientID": "A-7731", "PatientName": "KOWALSKI^ANNA", "PatientBirthDate": "19610402",
        "StudyDate": "20210127", "StudyDescription": "CHEST CT LOW DOSE", "ModalitiesInStudy": "CT",
        "AccessionNumber": "ACC21-0007"},
    "1.2.826.0.1.3680043.8.498.102": {
        "PatientID": "B-0415", "PatientName": "KOVACS^BELA", "PatientBirthDate": "19770830",
        "StudyDate": "20200605", "StudyDescription": "BRAIN MRI", "ModalitiesInStudy": "MR",
        "AccessionNumber": "ACC20-0512"},
}

PATIENT_FIELDS = ("PatientID", "PatientName", "PatientBirthDate")

SETTINGS = json.loads(orthanc.GetConfiguration())
QUEUE = SETTINGS["ArchiveTransferQueue"]


def value_matches(key, wanted, stored):
    """DICOM matching, as far as this index needs it: empty asks for the value,
    '*' and '?' are wildcards, and a date may be a range 'from-to'."""
    if wanted in ("", "*"):
        return True
    if key.endswith("Date") and "-" in wanted:
        first, last = wanted.split("-", 1)
        return (not first or stored >= first) and (not last or stored <= last)
    if "*" not in wanted and "?" not in wanted:
        return wanted == stored
    return wildcard(wanted, stored)


def wildcard(pattern, text):
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "*":
        return any(wildcard(rest, text[skip:]) for skip in range(len(text) + 1))
    return bool(text) and head in ("?", text[0]) and wildcard(rest, text[1:])


def records_at(level):
    if level == "STUDY":
        return [dict(fields, StudyInstanceUID=uid) for uid, fields in ARCHIVE.items()]
    if level == "PATIENT":
        patients = {}
        for fields in ARCHIVE.values():
            patients.setdefault(fields["PatientID"], {k: fields[k] for k in PATIENT_FIELDS})
        return list(patients.values())
    return []  # the index knows nothing below the study


def AnswerFromIndex(answers, query, issuerAet, calledAet):
    asked = []
    for index in range(query.GetFindQuerySize()):
        asked.append((query.GetFindQueryTagName(index), query.GetFindQueryTagGroup(index),
                      query.GetFindQueryTagElement(index), query.GetFindQueryValue(index)))
    shown = "; ".join(f"{name} [{group:04X},{element:04X}] '{value}'"
                      for name, group, element, value in asked)
    orthanc.LogWarning(f"archive index queried by {issuerAet}: {shown}")

    criteria = {name: value for name, _, _, value in asked}
    level = criteria.pop("QueryRetrieveLevel", "")
    sent = 0
    for record in records_at(level):
        if all(value_matches(name, value, record.get(name, "")) for name, value in criteria.items()):
            answer = {name: record.get(name, "") for name in criteria}
            answer["QueryRetrieveLevel"] = level
            answers.FindAddAnswer(orthanc.CreateDicom(json.dumps(answer), None,
                                                      orthanc.CreateDicomFlags.NONE))
            sent += 1
    orthanc.LogWarning(f"archive index: {sent} {level or '?'} record(s) sent to {issuerAet}")


def QueueTransfer(**request):
    study = request["StudyInstanceUID"]
    if study not in ARCHIVE:
        raise ValueError(f"study {study} is not in the archive index")
    line = {"study": study, "deliverTo": request["TargetAET"], "request": request}
    with open(QUEUE, "a") as queue:
        queue.write(json.dumps(line, sort_keys=True) + "\n")
    orthanc.LogWarning(f"archive transfer queued: {study} to {request['TargetAET']}")


orthanc.RegisterFindCallback(AnswerFromIndex)
orthanc.RegisterMoveCallback(QueueTransfer)
