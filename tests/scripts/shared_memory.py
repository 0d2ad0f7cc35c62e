"""Large transfers through the pool's shared memory (used by tests/reliability/test_shared_memory.py)."""

from runtime import Request, Response, offload, route


@route("/shm/make/{mb:int}")
@offload
def make(request: Request):
    return Response(b"\x5a" * (request.params["mb"] << 20))


@route("/shm/echo", methods=["POST"])
@offload
def echo(request: Request):
    return {"size": len(request.body), "head": request.body[:8].hex()}
