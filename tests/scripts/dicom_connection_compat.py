# The official plugin 7.x's DICOM-service registrations, which hand each callback the
# DicomConnection (tests/integration/test_dicom_connection.py): every callback writes
# what the connection says to a file of the folder "ConnectionLog" of the configuration.
import json
import os

import orthanc

LOG = json.loads(orthanc.GetConfiguration())["ConnectionLog"]


def Record(service, connection):
    with open(os.path.join(LOG, service + ".json"), "w") as f:
        json.dump({"remote_aet": connection.GetConnectionRemoteAet(),
                   "called_aet": connection.GetConnectionCalledAet(),
                   "remote_ip": connection.GetConnectionRemoteIp()}, f)


def OnFind(answers, query, connection):
    Record("find", connection)
    answers.FindAddAnswer(orthanc.CreateDicom(json.dumps({
        "PatientID": "CONNECTION", "PatientName": "SEVEN^X",
        "QueryRetrieveLevel": "PATIENT"}), None, orthanc.CreateDicomFlags.NONE))


def OnWorklist(answers, query, connection):
    Record("worklist", connection)


def CreateMove(connection, **request):
    Record("move", connection)
    with open(os.path.join(LOG, "move-request.json"), "w") as f:
        json.dump(sorted(request), f)
    return {"left": 0}


def MoveSize(driver):
    return driver["left"]


def ApplyMove(driver):
    return 0


def FreeMove(driver):
    pass


def CommitmentFactory(jobId, transactionUid, classUids, instanceUids, connection):
    Record("storage_commitment", connection)
    return set(instanceUids)


def CommitmentLookup(classUid, instanceUid, asked):
    return orthanc.StorageCommitmentFailureReason.NO_SUCH_OBJECT_INSTANCE


orthanc.RegisterFindCallback2(OnFind)
orthanc.RegisterWorklistCallback2(OnWorklist)
orthanc.RegisterMoveCallback3(CreateMove, MoveSize, ApplyMove, FreeMove)
orthanc.RegisterStorageCommitmentScpCallback2(CommitmentFactory, CommitmentLookup)
