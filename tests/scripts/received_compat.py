"""The official plugin's received-instance callback (4.0 style: action, bytes or None)."""

import io

import orthanc
import pydicom


def ReceivedInstanceCallback(receivedDicom):
    dataset = pydicom.dcmread(io.BytesIO(receivedDicom))
    if dataset.PatientID.startswith("DISCARD"):
        return 3, None  # ReceivedInstanceAction.DISCARD
    if dataset.PatientID.startswith("KEEP"):
        return 1, None  # KEEP_AS_IS
    dataset.InstitutionName = "COMPAT"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return 2, buffer.getvalue()  # MODIFY


orthanc.RegisterReceivedInstanceCallback(ReceivedInstanceCallback)
