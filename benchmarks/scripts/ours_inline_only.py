"""orthanc-runtime with no offloaded handler, hence no pool: the reference for start-up (P6)."""

from runtime import Request, Response, route


@route("/bench/trivial")
def trivial(request: Request) -> Response:
    return Response(b"ok", content_type="text/plain")
