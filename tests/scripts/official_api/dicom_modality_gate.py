"""A research node that only keeps the image types its projects use.

The node receives whatever the hospital's router pushes to it. The setting
"AcceptedModalities" lists the modalities the projects asked for; an instance
of any other modality, or without a Modality at all, is turned away at the
C-STORE itself (status 0xA700, "refused: out of resources" in DICOM's terms,
which routers retry later only if told to), so it never reaches the storage.
"""
import json

import orthanc

ACCEPTED = set(json.loads(orthanc.GetConfiguration())["AcceptedModalities"])
REFUSED = 0xA700


def KeepProjectModalities(receivedDicom):
    tags = json.loads(receivedDicom.GetInstanceSimplifiedJson())
    modality = tags.get("Modality", "")
    if modality in ACCEPTED:
        return 0
    sender = receivedDicom.GetInstanceRemoteAet()
    orthanc.LogWarning(f"C-STORE from {sender} turned away: modality '{modality}', "
                       f"SOP instance {tags.get('SOPInstanceUID', '?')}")
    return REFUSED


orthanc.RegisterIncomingCStoreInstanceFilter(KeepProjectModalities)
