"""Telling "not there" from real failures, with the error codes of Orthanc's REST API.

``GET /site/patients/<id>/exists`` answers ``{"exists": true|false}``: a call to the REST
API raises ``orthanc.OrthancException`` with the error code and its description, and only
UNKNOWN_RESOURCE means "no such patient"; any other error goes up to Orthanc. At start-up
the script checks that a made-up patient is reported that way, and logs what it got.
"""

import json

import orthanc

MADE_UP = "00000000-00000000-00000000-00000000-00000000"


def patient_exists(patient):
    try:
        orthanc.RestApiGet(f"/patients/{patient}")
    except orthanc.OrthancException as error:
        code, description = error.args[0], error.args[1]
        if code != orthanc.ErrorCode.UNKNOWN_RESOURCE:
            raise
        orthanc.LogInfo(f"patient {patient}: {description}")
        return False
    return True


def exists_route(output, uri, **request):
    answer = {"exists": patient_exists(request["groups"][0])}
    output.AnswerBuffer(json.dumps(answer), "application/json")


def self_check():
    try:
        orthanc.RestApiGet(f"/patients/{MADE_UP}")
    except orthanc.OrthancException as error:
        code, description = error.args[0], error.args[1]
        unknown = code == orthanc.ErrorCode.UNKNOWN_RESOURCE
        orthanc.LogWarning(f"self-check: a made-up patient raised {error!r}: code {code} "
                           f"({description}), UNKNOWN_RESOURCE: {unknown}")
    else:
        orthanc.LogError("self-check: a made-up patient was found")


def on_change(change, level, resource):
    if change == orthanc.ChangeType.ORTHANC_STARTED:
        self_check()


orthanc.RegisterRestCallback("/site/patients/([^/]+)/exists", exists_route)
orthanc.RegisterOnChangeCallback(on_change)
