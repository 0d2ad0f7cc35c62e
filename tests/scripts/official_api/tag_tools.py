"""Tag look-ups for the PACS administrators.

At start-up the script logs, for the tags the department's routing rules use, what
Orthanc's DICOM dictionary says of them (tag, value representation, multiplicity), so
a typo in a rule's tag name shows at once. ``GET /instances/<id>/pydicom`` answers the
instance as pydicom prints a dataset, for the administrators who know that format.
"""

import io

import orthanc
import pydicom

RULE_TAGS = ["PatientID", "StudyDate", "Modality", "InstitutionName"]

VR_NAMES = {}
for _name in dir(orthanc.ValueRepresentation):
    if _name.isupper():
        VR_NAMES[int(getattr(orthanc.ValueRepresentation, _name))] = _name

for keyword in RULE_TAGS:
    entry = orthanc.LookupDictionary(keyword)
    vr = VR_NAMES[entry["ValueRepresentation"]]
    orthanc.LogWarning(f"dictionary: {keyword} is ({entry['Group']:04X},{entry['Element']:04X}), "
                       f"VR {vr}, multiplicity {entry['MinMultiplicity']}..{entry['MaxMultiplicity']}")


def as_pydicom_text(output, uri, **request):
    if request["method"] != "GET":
        output.SendMethodNotAllowed("GET")
        return
    data = orthanc.GetDicomForInstance(request["groups"][0])
    dataset = pydicom.dcmread(io.BytesIO(data))
    output.AnswerBuffer(str(dataset), "text/plain")


orthanc.RegisterRestCallback("/instances/([^/]+)/pydicom", as_pydicom_text)
