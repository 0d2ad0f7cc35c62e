"""The official plugin's HTTP filter (the Orthanc Book's authorization sample, recording)."""

import orthanc

SEEN = []


def Filter(uri, **request):
    SEEN.append({"uri": uri, "method": int(request["method"]), "ip": request["ip"],
                 "has_headers": isinstance(request["headers"], dict), "get": request["get"]})
    return not uri.startswith("/secret")


def Seen(output, uri, **request):
    import json
    output.AnswerBuffer(json.dumps(SEEN[-20:]), "application/json")


orthanc.RegisterIncomingHttpRequestFilter(Filter)
orthanc.RegisterRestCallback("/compat-gates/seen", Seen)
