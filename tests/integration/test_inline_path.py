"""The inline path (inline_path.cpp): a route whose handlers run in the master answers through
its own native callback. What that callback converts and sends itself is checked here
against a real Orthanc; the rest of the REST API's behaviour is test_runtime_api's."""

from __future__ import annotations

import http.client
import json
import threading

import pytest

SCRIPT = '''
import os
from runtime import Response, route, sdk

@route("/inline/big/{size:int}")
def big(request):
    return bytes(range(256)) * (request.params["size"] // 256)

@route("/inline/echo", methods=["GET", "POST", "PUT", "DELETE"])
def echo(request):
    return {"method": request.method, "query": request.query, "size": len(request.body),
            "headers": {k: v for k, v in request.headers.items() if k.startswith("x-")},
            "pid": os.getpid()}

@route("/inline/typed")
def typed(request):
    return Response("<p>x</p>", content_type="text/html; charset=utf-8")

@route("/inline/bad-type")
def bad_type(request):
    return Response(b"x", content_type="text/plain\\r\\nSet-Cookie: a=1")

@route("/inline/nested")
def nested(request):
    inner = sdk.rest_get("/inline/echo", after_plugins=True)
    return {"inner": inner["method"], "same_process": inner["pid"] == os.getpid()}
'''


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    from runtime.devkit.testing import running_orthanc

    folder = tmp_path_factory.mktemp("inline")
    script = folder / "inline_routes.py"
    script.write_text(SCRIPT)
    with running_orthanc(folder, script, {}) as server:
        yield server


def test_a_large_answer_arrives_whole(orthanc):
    answer = orthanc.get(f"/inline/big/{3 << 20}")
    assert answer.status == 200 and answer.headers["content-type"] == "application/octet-stream"
    assert answer.body == bytes(range(256)) * ((3 << 20) // 256)


def test_the_request_reaches_the_handler_whole_and_in_the_master(orthanc):
    got = orthanc.get("/inline/echo?a=b%20c&e=%C3%A9", headers={"X-One": "1"}).json()
    assert got["method"] == "GET" and got["query"] == {"a": "b c", "e": "é"}
    assert got["headers"] == {"x-one": "1"} and got["pid"] == orthanc.process.process.pid
    posted = orthanc.post("/inline/echo", b"\0" * 70000).json()
    assert posted["method"] == "POST" and posted["size"] == 70000 and posted["query"] == {}
    assert orthanc.put("/inline/echo", "abc").json()["size"] == 3
    assert orthanc.delete("/inline/echo").json()["size"] == 0


def test_a_header_that_is_not_utf8_reaches_the_handler_with_replacement(orthanc):
    connection = http.client.HTTPConnection("127.0.0.1", orthanc.http_port, timeout=30)
    try:
        connection.putrequest("GET", "/inline/echo")
        connection.putheader("X-Raw", b"caf\xe9")
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 200
        assert json.loads(answer.read())["headers"] == {"x-raw": "caf\ufffd"}
    finally:
        connection.close()


def test_the_content_type_and_a_refused_one(orthanc):
    typed = orthanc.get("/inline/typed")
    assert typed.status == 200 and typed.headers["content-type"] == "text/html; charset=utf-8"
    assert typed.body == b"<p>x</p>"
    refused = orthanc.get("/inline/bad-type")
    assert refused.status == 500 and refused.json()["type"] == "UnsafeHeader"
    assert "set-cookie" not in refused.headers


def test_a_route_called_from_a_handler_of_another_route_answers(orthanc):
    assert orthanc.get("/inline/nested").json() == {"inner": "GET", "same_process": True}


def test_concurrent_requests_each_get_their_own_answer(orthanc):
    failures: list[str] = []

    def client(n: int) -> None:
        for i in range(50):
            got = orthanc.get(f"/inline/echo?n={n}&i={i}").json()
            if got["query"] != {"n": str(n), "i": str(i)}:
                failures.append(f"{n}/{i}: {got}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
