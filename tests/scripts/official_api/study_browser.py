"""Study lists for the reading room: by date, a page at a time, and found by metadata.

``GET /site/studies-by-date?first=N&count=M`` lists the studies, expanded, oldest first
(studies without a date come first, ties by Orthanc ID), ``count`` of them from the
``first``-th (all of the rest without ``count``).

``POST /tools/find`` takes, besides what Orthanc's own route takes, ``"Metadata"``: a
regular expression for each metadata item that the resources must match (a missing item
counts as ""). Orthanc's own route does the rest of the search.
"""

import json
import re

import orthanc

FOLDERS = {"Patient": "patients", "Study": "studies", "Series": "series", "Instance": "instances"}


def study_date_key(study):
    return study["MainDicomTags"].get("StudyDate", ""), study["ID"]


def studies_by_date(output, uri, **request):
    if request["method"] != "GET":
        output.SendMethodNotAllowed("GET")
        return
    arguments = request["get"]
    first = int(arguments.get("first", "0"))
    every = sorted(json.loads(orthanc.RestApiGet("/studies?expand")), key=study_date_key)
    if "count" in arguments:
        chosen = every[first:first + int(arguments["count"])]
    else:
        chosen = every[first:]
    output.AnswerBuffer(json.dumps(chosen), "application/json")


def metadata_of(resource):
    """The resource's metadata, or None if it was deleted since the search."""
    path = f"/{FOLDERS[resource['Type']]}/{resource['ID']}/metadata?expand"
    try:
        return json.loads(orthanc.RestApiGet(path))
    except orthanc.OrthancException:
        return None


def find_with_metadata(output, uri, **request):
    if request["method"] != "POST":
        output.SendMethodNotAllowed("POST")
        return
    search = json.loads(request["body"])
    patterns = search.pop("Metadata", {})
    expanded = search.get("Expand", False)
    search["Expand"] = True  # the answers must say their level
    kept = []
    for resource in json.loads(orthanc.RestApiPost("/tools/find", json.dumps(search))):
        metadata = metadata_of(resource)
        if metadata is None:
            continue
        if any(re.match(pattern, metadata.get(name, "")) is None
               for name, pattern in patterns.items()):
            continue
        if expanded:
            resource["Metadata"] = metadata
            kept.append(resource)
        else:
            kept.append(resource["ID"])
    output.AnswerBuffer(json.dumps(kept), "application/json")


orthanc.RegisterRestCallback("/site/studies-by-date", studies_by_date)
orthanc.RegisterRestCallback("/tools/find", find_with_metadata)
