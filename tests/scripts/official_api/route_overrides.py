"""Routes of Orthanc and of the DICOMweb plugin, taken over or wrapped.

``POST /instances`` no longer stores: uploads through the REST API are held for review
in the folder ``held`` of Orthanc's working folder (named by their SHA-1) and the answer
says so; ``GET /instances`` is still Orthanc's own. ``GET /site-dicomweb/studies/<uid>/
metadata`` is the DICOMweb plugin's answer without the private tags (odd groups), for the
viewer of a partner hospital. It has its own prefix: registered at ``/dicom-web/...``
it would compete with the DICOMweb plugin's route.
"""

import json
import os

import orthanc


def instances(output, uri, **request):
    if request["method"] == "POST":
        os.makedirs("held", exist_ok=True)
        name = orthanc.ComputeSha1(request["body"]) + ".dcm"
        with open(os.path.join("held", name), "wb") as held:
            held.write(request["body"])
        orthanc.LogWarning(f"upload held for review as {name}")
        output.AnswerBuffer(json.dumps({"Status": "Held for review", "File": name}),
                            "application/json")
    elif request["method"] == "GET":
        # Orthanc's own route: RestApiGetAfterPlugins would come back here.
        output.AnswerBuffer(orthanc.RestApiGet(uri), "application/json")
    else:
        output.SendMethodNotAllowed("GET,POST")


def is_private(tag):
    return int(tag[:4], 16) % 2 == 1


def metadata_without_private_tags(output, uri, **request):
    study = request["groups"][0]
    # The DICOMweb plugin's route: only RestApiGetAfterPlugins reaches another plugin.
    answer = json.loads(orthanc.RestApiGetAfterPlugins(f"/dicom-web/studies/{study}/metadata"))
    removed = 0
    for instance in answer:
        for tag in [tag for tag in instance if is_private(tag)]:
            del instance[tag]
            removed += 1
    orthanc.LogWarning(f"site DICOMweb: study {study} metadata without {removed} private tags")
    output.AnswerBuffer(json.dumps(answer), "application/dicom+json")


orthanc.RegisterRestCallback("/instances", instances)
orthanc.RegisterRestCallback("/site-dicomweb/studies/([^/]+)/metadata",
                             metadata_without_private_tags)
