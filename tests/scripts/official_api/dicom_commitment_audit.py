"""Storage commitment answered from what Orthanc holds, with an audit trail.

A sender asks this node to confirm that it keeps a list of instances. When a
request arrives, its whole list is looked up at once, and the audit log gets
one line naming the requesting AET and how many instances it asked about.
Each instance is then confirmed only if Orthanc stores it under the same SOP
class as the sender says; otherwise the sender learns why not: no such
instance, or a class that differs from the one stored.
"""
import json

import orthanc

REASON = orthanc.StorageCommitmentFailureReason
IN_WORDS = {REASON.SUCCESS: "kept",
            REASON.NO_SUCH_OBJECT_INSTANCE: "not kept here",
            REASON.CLASS_INSTANCE_CONFLICT: "kept under another SOP class"}


def stored_classes(uids):
    """SOP instance UID -> the SOP class UID Orthanc stores for it, for those it has."""
    classes = {}
    for uid in uids:
        for hit in json.loads(orthanc.RestApiPost("/tools/lookup", uid)):
            if hit["Type"] == "Instance":
                tags = json.loads(orthanc.RestApiGet(f"/instances/{hit['ID']}/tags?simplify"))
                classes[uid] = tags.get("SOPClassUID")
    return classes


def StartCommitment(jobId, transactionUid, sopClassUids, sopInstanceUids, remoteAet, calledAet):
    orthanc.LogWarning(f"commitment audit: {remoteAet} asks about {len(sopInstanceUids)} "
                       f"instance(s), transaction {transactionUid}")
    return stored_classes(sopInstanceUids)


def CheckOne(sopClassUid, sopInstanceUid, data):
    kept = data.get(sopInstanceUid)
    if kept is None:
        verdict = REASON.NO_SUCH_OBJECT_INSTANCE
    elif kept != sopClassUid:
        verdict = REASON.CLASS_INSTANCE_CONFLICT
    else:
        verdict = REASON.SUCCESS
    orthanc.LogWarning(f"commitment audit: {sopInstanceUid} {IN_WORDS[verdict]}")
    return verdict


orthanc.RegisterStorageCommitmentScpCallback(StartCommitment, CheckOne)
