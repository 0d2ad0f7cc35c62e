"""Property tests of the master's dispatch: any request gets exactly one answer, never an exception.

The RestOutput here records calls (it stands for Orthanc's answer channel in a
unit test); the same dispatch runs against a real Orthanc in tests/integration.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime import dispatch
from runtime.http import Response
from runtime.registry import registry


class RecordingOutput:
    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes, str]] = []
        self.headers: dict[str, str] = {}

    def set_http_header(self, key: str, value: str) -> None:
        self.headers[key] = value

    def answer_buffer(self, body: bytes, mime: str) -> None:
        self.answers.append((200, bytes(body), mime))

    def send_http_status(self, status: int, body: bytes) -> None:
        self.answers.append((status, bytes(body), self.headers.get("Content-Type", "")))

    def send_method_not_allowed(self, allowed: str) -> None:
        self.answers.append((405, b"", allowed))

    def send_unauthorized(self, realm: str) -> None:
        self.answers.append((401, b"", realm))

    def redirect(self, location: str) -> None:
        self.answers.append((301, b"", location))


def echo(request):
    return {"params": request.params, "query": request.query, "size": len(request.body),
            "json": request.json() if request.query.get("json") else None}


def broken(request):
    raise RuntimeError("broken")


def weird(request):
    return object()


@pytest.fixture(autouse=True, scope="module")
def routes():
    registry.clear()
    registry.add_route("/p/{name}/{n:int}", echo, ["GET", "POST", "PUT"])
    registry.add_route("/q/{rest:path}", echo, ["GET", "POST"])
    registry.add_route("/broken/{x}", broken, ["GET"])
    registry.add_route("/weird", weird, ["GET"])
    yield
    registry.clear()


segment = st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s)
paths = st.one_of(
    st.builds(lambda a, n: f"/p/{a}/{n}", segment, st.integers(min_value=0)),
    st.builds(lambda a: f"/p/{a}/notint", segment),
    st.builds(lambda parts: "/q/" + "/".join(parts), st.lists(segment, min_size=1, max_size=5)),
    st.builds(lambda a: f"/broken/{a}", segment),
    st.just("/weird"),
    st.text(max_size=40).map(lambda s: "/" + s),
)
requests = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    "groups": st.tuples(),
    "headers": st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=4),
}, optional={
    "get": st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
    "body": st.binary(max_size=200),
})


@settings(max_examples=400, deadline=None)
@given(path=paths, request=requests)
def test_every_request_gets_exactly_one_answer(path, request):
    output = RecordingOutput()
    dispatch.on_rest(output, path, request)
    assert len(output.answers) == 1
    status, body, mime = output.answers[0]
    assert status in (200, 400, 404, 405, 500)
    if status in (400, 404, 500):
        error = json.loads(body)
        assert error["status"] == status and error["error"]
        assert "Traceback" not in error["error"]


def test_a_route_answers_as_its_handler_says():
    output = RecordingOutput()
    dispatch.on_rest(output, "/p/x/3", {"method": "GET", "groups": ("x", "3"), "headers": {},
                                         "get": {"a": "b%20c"}})
    status, body, mime = output.answers[0]
    assert status == 200 and mime == "application/json"
    assert json.loads(body) == {"params": {"name": "x", "n": 3}, "query": {"a": "b c"}, "size": 0,
                                "json": None}


def test_response_statuses_use_orthancs_dedicated_calls():
    for response, expected in [(Response(b"", status=405, headers={"Allow": "GET"}), (405, b"", "GET")),
                               (Response(b"", status=301, headers={"Location": "/x"}), (301, b"", "/x"))]:
        output = RecordingOutput()
        dispatch.write(output, response)
        assert output.answers == [expected]
