"""Access decided by the hospital's authorization service, for every HTTP request.

The service's URL is ``AccessService.Url`` in Orthanc's configuration. For each request
the script posts ``{"uri", "method", "headers"}`` to it as JSON, and lets the request in
only if the service answers ``{"granted": true}``; if the service cannot be reached or
answers anything else, the request is refused.
"""

import json

import orthanc
import requests

SERVICE = json.loads(orthanc.GetConfiguration())["AccessService"]["Url"]


def ask_service(uri, **request):
    question = {"uri": uri, "method": int(request["method"]), "headers": request["headers"]}
    try:
        reply = requests.post(SERVICE, json=question, timeout=5)
        reply.raise_for_status()
        verdict = reply.json().get("granted")
    except (requests.RequestException, ValueError) as error:
        orthanc.LogError(f"access service {SERVICE} failed, refusing {uri}: {error}")
        return False
    return verdict is True


orthanc.RegisterIncomingHttpRequestFilter(ask_service)
