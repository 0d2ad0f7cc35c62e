"""The runtime's decorator API, every feature once (used by tests/integration/test_runtime_api.py)."""

import time
from pathlib import Path

from runtime import (
    ChangeType,
    HTTPError,
    Request,
    ResourceType,
    Response,
    config,
    on_change,
    on_stored_instance,
    route,
    sdk,
)

EVENTS: list[list] = []
STORED: dict[str, dict] = {}


def marker() -> Path:
    return Path(sdk.configuration()["ApiTestMarker"])


@route("/api/hello/{name}", methods=["GET"])
def hello(request: Request):
    return {"hello": request.params["name"], "query": request.query}


@route("/api/items/{n:int}", methods=["GET", "PUT"])
def item(request: Request):
    return {"n": request.params["n"], "type": type(request.params["n"]).__name__,
            "method": request.method, "body": request.body.decode()}


@route("/api/items/{n:int}", methods=["DELETE"])
def delete_item(request: Request):
    return Response(b"", status=204)


@route(r"/api/raw/([a-z]+)/([0-9]+)")
def raw(request: Request):
    return {"groups": list(request.groups), "params": request.params}


@route("/api/echo", methods=["POST"])
def echo(request: Request):
    return {"json": request.json(), "content_type": request.headers["content-type"]}


@route("/api/text")
def text(request: Request):
    return "plain text é"


@route("/api/bytes")
def raw_bytes(request: Request):
    return b"\x89PNG-not-really"


@route("/api/list")
def a_list(request: Request):
    return [1, "two", None]


@route("/api/response")
def custom(request: Request):
    return Response("created", status=201, content_type="text/x-custom",
                    headers={"X-Request-Header": request.headers.get("X-Custom", "none")})


@route("/api/bad-return")
def bad_return(request: Request):
    return 42


@route("/api/raise")
def raises(request: Request):
    raise RuntimeError("broken handler")


@route("/api/http-error")
def http_error(request: Request):
    raise HTTPError(409, "conflict here", reason="demo")


@route("/api/orthanc-404")
def orthanc_404(request: Request):
    return sdk.rest_get("/instances/unknown")


@route("/api/orthanc-400")
def orthanc_400(request: Request):
    return sdk.rest_post("/tools/find", b"not json")


@route("/api/sdk")
def sdk_calls(request: Request):
    system = sdk.rest_get("/system")
    created = sdk.rest_put("/tools/log-level", "verbose")
    sdk.log.info("api-info-line")
    return {"version": system["Version"], "put": created.decode() if isinstance(created, bytes) else created,
            "name": sdk.configuration()["Name"], "pool": config["Pool"]["QueueLimit"],
            "dicom_size": len(sdk.get_dicom(request.query["id"])) if "id" in request.query else None}


@route("/api/events")
def events(request: Request):
    return EVENTS


@route("/api/stored/{instance_id}")
def stored_info(request: Request):
    return STORED.get(request.params["instance_id"]) or Response({"error": "not seen"}, status=404)


@on_change(ChangeType.NEW_INSTANCE, ChangeType.STABLE_STUDY)
def first(change):
    EVENTS.append(["first", change.type.name, change.level.name, change.resource_id])


@on_change(ChangeType.NEW_INSTANCE)
def second(change):
    EVENTS.append(["second", change.type.name, change.level.name, change.resource_id])


@on_change(level=ResourceType.SERIES)
def series_level(change):
    EVENTS.append(["series", change.type.name, change.level.name, change.resource_id])


@on_change(ChangeType.NEW_INSTANCE)
def slow_record(change):
    time.sleep(0.3)
    with marker().open("a") as f:
        f.write(f"instance {change.resource_id}\n")


@on_change(ChangeType.ORTHANC_STOPPED)
def stopped(change):
    with marker().open("a") as f:
        f.write("stopped\n")


@on_stored_instance
def stored(instance):
    STORED[instance.id] = {
        "size": instance.size, "data_len": len(instance.data), "origin": instance.origin.name,
        "modality": instance.json.get("Modality"), "remote_aet": instance.remote_aet,
        "sop_class": instance.metadata.get("SopClassUid"),
    }
