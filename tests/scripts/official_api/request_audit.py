"""An audit of the HTTP requests Orthanc receives, and a guard on deletions.

Every request is logged (method, URI, client address, the names of its headers). A
DELETE is let through only with the header ``X-Confirm-Delete: yes``, so a stray click
or script cannot remove studies.
"""

import orthanc


def audit(uri, **request):
    method = request["method"]
    names = ",".join(sorted(request["headers"]))
    orthanc.LogWarning(f"audit: method {method} {uri} from {request['ip']}, headers {names}")
    if method == orthanc.HttpMethod.DELETE:
        return request["headers"].get("x-confirm-delete") == "yes"
    return True


orthanc.RegisterIncomingHttpRequestFilter(audit)
