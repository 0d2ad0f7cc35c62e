"""A received-instance handler, offloaded: upper-cases names, discards, misbehaves on purpose."""

from runtime import DISCARD, ReceivedInstance, offload, on_received_instance


@on_received_instance
@offload(timeout=10)
def gate(received: ReceivedInstance):
    dataset = received.dataset()
    patient = str(dataset.get("PatientID", ""))
    if patient.startswith("DISCARD"):
        return DISCARD
    if patient.startswith("KEEP"):
        return None
    if patient.startswith("RAISE"):
        raise ValueError("this instance cannot be read")
    if patient.startswith("WRONG"):
        return {"not": "a dataset"}
    dataset.PatientName = str(dataset.PatientName).upper()
    dataset.InstitutionName = f"MODIFIED FROM {received.origin.name}"
    return dataset
