"""Compiles in the official API's callbacks that Orthanc calls on its own threads.

The stored-instance callback runs on the thread that stores the instance (the HTTP
thread of a REST upload), the REST callback on an HTTP thread: 100 KiB stacks in Orthanc.
"""

import json

import orthanc

DEPTH = 200
seen = {}


def nested_compile():
    try:
        return eval("(" * DEPTH + "7" + ")" * DEPTH)
    except BaseException as error:  # noqa: BLE001  (what failed is the answer)
        return f"{type(error).__name__}: {error}"


def stored(instance, instance_id):
    seen[instance_id] = nested_compile()


def results(output, uri, **request):
    output.AnswerBuffer(json.dumps({"route": nested_compile(), "stored": seen}), "application/json")


orthanc.RegisterOnStoredInstanceCallback(stored)
orthanc.RegisterRestCallback("/ingest/results", results)
