# The DICOM services written for the official plugin (`import orthanc`), for
# tests/integration/test_dicom_services_compat.py: C-FIND answered with CreateDicom,
# worklists from a folder of files, C-MOVE in sub-operations (RegisterMoveCallback2),
# storage commitment, and a C-STORE filter.
import json
import os

import orthanc

WORKLISTS = json.loads(orthanc.GetConfiguration())["TestWorklists"]


def OnFind(answers, query, issuerAet, calledAet):
    asked = {query.GetFindQueryTagName(i): query.GetFindQueryValue(i)
             for i in range(query.GetFindQuerySize())}
    if asked.get("PatientID") == "RAISE":
        raise Exception("asked to fail")
    for patient in ("C1", "C2"):
        answers.FindAddAnswer(orthanc.CreateDicom(json.dumps({
            "PatientID": patient, "PatientName": f"COMPAT^{patient}",
            "QueryRetrieveLevel": "PATIENT"}), None, orthanc.CreateDicomFlags.NONE))


def OnWorklist(answers, query, issuerAet, calledAet):
    for name in sorted(os.listdir(WORKLISTS)):
        with open(os.path.join(WORKLISTS, name), "rb") as f:
            content = f.read()
        if query.WorklistIsMatch(content):
            answers.WorklistAddAnswer(query, content)


class Move:
    def __init__(self, request):
        found = json.loads(orthanc.RestApiPost("/tools/find", json.dumps({
            "Level": "Instance", "Query": {"StudyInstanceUID": request["StudyInstanceUID"]}})))
        self.instances = found
        self.target = request["TargetAET"]
        self.next = 0


def CreateMove(**request):
    return Move(request)


def GetMoveSize(driver):
    return len(driver.instances)


def ApplyMove(driver):
    instance = driver.instances[driver.next]
    driver.next += 1
    modalities = json.loads(orthanc.RestApiGet("/modalities?expand"))
    name = [n for n, m in modalities.items() if m["AET"] == driver.target][0]
    orthanc.RestApiPost(f"/modalities/{name}/store", json.dumps({"Resources": [instance],
                                                                   "Synchronous": True}))
    return orthanc.ErrorCode.SUCCESS


def FreeMove(driver):
    orthanc.LogWarning(f"C-MOVE done: {driver.next} of {len(driver.instances)} sent")


def CommitmentFactory(jobId, transactionUid, sopClassUids, sopInstanceUids, remoteAet, calledAet):
    return {"asked": len(sopInstanceUids)}


def CommitmentLookup(sopClassUid, sopInstanceUid, data):
    found = json.loads(orthanc.RestApiPost("/tools/lookup", sopInstanceUid))
    if len(found) == 1:
        return orthanc.StorageCommitmentFailureReason.SUCCESS
    return orthanc.StorageCommitmentFailureReason.NO_SUCH_OBJECT_INSTANCE


def Filter(receivedDicom):
    tags = json.loads(receivedDicom.GetInstanceSimplifiedJson())
    if tags["PatientID"].startswith("REFUSE"):
        return 0xA900
    return 0


orthanc.RegisterFindCallback(OnFind)
orthanc.RegisterWorklistCallback(OnWorklist)
orthanc.RegisterMoveCallback2(CreateMove, GetMoveSize, ApplyMove, FreeMove)
orthanc.RegisterStorageCommitmentScpCallback(CommitmentFactory, CommitmentLookup)
orthanc.RegisterIncomingCStoreInstanceFilter(Filter)
