"""Modality worklists published by the RIS as files, served by Orthanc.

The RIS drops one DICOM file per scheduled procedure step, named *.wl, into
the folder given by "RisWorklists" / "Folder". While it writes a file, the file
may be incomplete: a file Orthanc cannot parse is skipped and named in the log,
and the query is still answered from the others. Patients registered under a
temporary ID are not offered to modalities until the RIS merges them: the
pattern "RisWorklists" / "WithheldPatients" (DICOM wildcards, e.g. "TMP*") is
matched against each item's PatientID by Orthanc's own C-FIND matcher.
"""
import json
import os

import orthanc

SETTINGS = json.loads(orthanc.GetConfiguration())["RisWorklists"]
FOLDER = SETTINGS["Folder"]
WITHHELD = SETTINGS.get("WithheldPatients", "")


def scheduled_items():
    """(file name, content) of each worklist file, oldest name first."""
    for name in sorted(os.listdir(FOLDER)):
        if name.endswith(".wl"):
            with open(os.path.join(FOLDER, name), "rb") as handle:
                yield name, handle.read()


def withheld_matcher():
    if not WITHHELD:
        return None
    pattern = orthanc.CreateDicom(json.dumps({"PatientID": WITHHELD}), None,
                                  orthanc.CreateDicomFlags.NONE)
    return orthanc.CreateFindMatcher(pattern)


def OfferScheduledSteps(answers, query, issuerAet, calledAet):
    withheld = withheld_matcher()
    offered = []
    for name, content in scheduled_items():
        try:
            item = orthanc.CreateDicomInstance(content)
            tags = json.loads(item.GetInstanceSimplifiedJson())
        except orthanc.OrthancException as error:
            orthanc.LogWarning(f"RIS worklist {name} skipped, not readable yet: {error}")
            continue
        if not query.WorklistIsMatch(content):
            continue
        if withheld is not None and withheld.FindMatcherIsMatch(content):
            orthanc.LogWarning(f"RIS worklist {name} withheld: temporary patient ID")
            continue
        answers.WorklistAddAnswer(query, content)
        offered.append(f"{name} ({tags.get('AccessionNumber', '?')})")
    orthanc.LogWarning(f"RIS worklists offered to {issuerAet}: {', '.join(offered) or 'none'}")


orthanc.RegisterWorklistCallback(OfferScheduledSteps)
