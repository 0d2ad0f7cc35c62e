"""A worker process that reads Orthanc's REST API over HTTP, with a token Orthanc issued.

Orthanc asks for credentials (``AuthenticationEnabled``); the script asks the plugin for
a REST API authorization token when it loads, and its worker processes send it in their
``Authorization`` header. ``GET /site/instances-from-worker`` answers the list of
instances as a worker process read it, at ``HttpPort`` of Orthanc's configuration.
"""

import json
import multiprocessing
import signal

import orthanc
import requests

TOKEN = orthanc.GenerateRestApiAuthorizationToken()
PORT = json.loads(orthanc.GetConfiguration()).get("HttpPort", 8042)


def ignore_interrupts():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def list_instances():
    reply = requests.get(f"http://127.0.0.1:{PORT}/instances",
                         headers={"Authorization": TOKEN}, timeout=30)
    reply.raise_for_status()
    return reply.text


WORKERS = multiprocessing.Pool(1, initializer=ignore_interrupts)


def from_worker(output, uri, **request):
    output.AnswerBuffer(WORKERS.apply(list_instances), "application/json")


def stop_workers(change, level, resource):
    if change != orthanc.ChangeType.ORTHANC_STOPPED:
        return
    # No request is served any more: let the worker finish what it has, then end.
    WORKERS.close()
    WORKERS.join()


orthanc.RegisterRestCallback("/site/instances-from-worker", from_worker)
orthanc.RegisterOnChangeCallback(stop_workers)
