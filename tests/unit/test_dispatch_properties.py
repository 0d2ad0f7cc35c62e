"""Property tests of the master's dispatch: any request gets exactly one answer, never an exception.

The answer is one Orthanc can send (a status it knows, headers without CR, LF
or NUL), and an error says no more than it should: no traceback, no path.

The RestOutput here records calls (it stands for Orthanc's answer channel in a
unit test); the same dispatch runs against a real Orthanc in tests/integration.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pool import TaskTimeout, WorkerCrashed
from runtime import answers
from runtime.callbacks import rest
from runtime.http import Response
from runtime.registry import Registry

SECRET = "/srv/secret/folder"


class RecordingOutput:
    """Stands for Orthanc's RestOutput; fails as Orthanc would on what it cannot send."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, bytes, str]] = []
        self.headers: dict[str, str] = {}

    def set_http_header(self, key: str, value: str) -> None:
        assert not answers.unsafe_header(key, value), (key, value)
        self.headers[key] = value

    def answer_buffer(self, body: bytes, mime: str) -> None:
        self.answers.append((200, bytes(body), mime))

    def send_http_status(self, status: int, body: bytes) -> None:
        assert status in answers.ORTHANC_STATUSES and status not in (301, 405), status
        if status in answers.NO_BODY_STATUSES:
            assert body == b""
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


def leaky(request):
    raise FileNotFoundError(2, "No such file or directory", f"{SECRET}/{request.params['x']}")


class Custom(BaseException):
    pass


def base(request):
    kind = request.params["kind"]
    raise {"exit": SystemExit(1), "keyboard": KeyboardInterrupt(),
           "generator": GeneratorExit()}.get(kind, Custom(SECRET))


def any_status(request):
    return Response(b"x", status=request.params["n"])


def header_from_query(request):
    return Response(b"x", headers={request.query.get("name", "X-A"): request.query.get("v", "")})


@pytest.fixture(scope="module")
def api() -> rest.RestApi:
    """The REST callback over routes of its own (bound inline at their first request)."""
    routes = Registry()
    routes.add_route("/p/{name}/{n:int}", echo, ["GET", "POST", "PUT"])
    routes.add_route("/q/{rest:path}", echo, ["GET", "POST"])
    routes.add_route("/broken/{x}", broken, ["GET"])
    routes.add_route("/weird", weird, ["GET"])
    routes.add_route("/leaky/{x}", leaky, ["GET"])
    routes.add_route("/base/{kind}", base, ["GET"])
    routes.add_route("/status/{n:int}", any_status, ["GET"])
    routes.add_route("/header", header_from_query, ["GET"])
    return rest.RestApi(routes)


segment = st.text(min_size=1, max_size=30).filter(lambda s: "/" not in s)
paths = st.one_of(
    st.builds(lambda a, n: f"/p/{a}/{n}", segment, st.integers(min_value=0)),
    st.builds(lambda a: f"/p/{a}/notint", segment),
    st.builds(lambda parts: "/q/" + "/".join(parts), st.lists(segment, min_size=1, max_size=5)),
    st.builds(lambda a: f"/broken/{a}", segment),
    st.just("/weird"),
    st.builds(lambda a: f"/leaky/{a}", segment),
    st.builds(lambda a: f"/base/{a}", st.sampled_from(["exit", "keyboard", "generator", "custom"])),
    st.builds(lambda n: f"/status/{n}", st.integers(min_value=0, max_value=700)),
    st.just("/header"),
    st.text(max_size=40).map(lambda s: "/" + s),
)
requests = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    "groups": st.tuples(),
    "headers": st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=4),
}, optional={
    "get": st.one_of(
        st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
        st.fixed_dictionaries({"name": st.sampled_from(["X-A", "X%0D%0AB", "X-B"]),
                               "v": st.sampled_from(["ok", "a%0D%0ASet-Cookie:x=1", "a%0Ab",
                                                     "a%00b", "\r", "é"])})),
    "body": st.binary(max_size=200),
})


@settings(max_examples=400, deadline=None)
@given(path=paths, request=requests)
@example(path="/p/Traceback/notint", request={"method": "GET", "groups": (), "headers": {}})
def test_every_request_gets_exactly_one_answer(api, path, request):
    output = RecordingOutput()
    api.on_rest(output, path, request)
    assert len(output.answers) == 1
    status, body, mime = output.answers[0]
    assert status in answers.ORTHANC_STATUSES
    if path.startswith("/status/"):
        return  # any status a handler asks for; the checks are in RecordingOutput
    assert status in (200, 400, 404, 405, 500)
    if status in (400, 404, 500):
        error = json.loads(body)
        assert error["status"] == status and error["error"]
        # What the answer says beyond the path the client sent (a 404 repeats it, and a
        # generated path may well be "/p/Traceback/notint").
        said = " ".join(str(value) for value in error.values()).replace(path, "")
        assert "Traceback" not in said and SECRET not in said and 'File "' not in said


def test_a_route_answers_as_its_handler_says(api):
    output = RecordingOutput()
    api.on_rest(output, "/p/x/3", {"method": "GET", "groups": ("x", "3"), "headers": {},
                                         "get": {"a": "b%20c"}})
    status, body, mime = output.answers[0]
    assert status == 200 and mime == "application/json"
    assert json.loads(body) == {"params": {"name": "x", "n": 3}, "query": {"a": "b c"}, "size": 0,
                                "json": None}


def test_response_statuses_use_orthancs_dedicated_calls():
    for response, expected in [(Response(b"", status=405, headers={"Allow": "GET"}), (405, b"", "GET")),
                               (Response(b"", status=301, headers={"Location": "/x"}), (301, b"", "/x"))]:
        output = RecordingOutput()
        rest.write(output, response)
        assert output.answers == [expected]


@pytest.mark.parametrize("status", [429, 308, 418, 451, 511, 209, 306, 100, 102])
def test_a_status_orthanc_cannot_send_answers_500_naming_it(status):
    output = RecordingOutput()
    rest.write(output, Response(b"x", status=status))
    (answer,) = output.answers
    assert answer[0] == 500
    body = json.loads(answer[1])
    assert body["refused_status"] == status and str(status) in body["error"]


@pytest.mark.parametrize("name, value", [("X-A", "a\r\nSet-Cookie: x=1"), ("X-A", "a\nb"),
                                         ("X-A", "a\0b"), ("X\r\nB", "v"), ("X\0", "v")])
def test_a_header_with_cr_lf_or_nul_answers_500_naming_it(name, value):
    output = RecordingOutput()
    rest.write(output, Response(b"x", headers={name: value}))
    (answer,) = output.answers
    body = json.loads(answer[1])
    assert answer[0] == 500 and body["type"] == "UnsafeHeader"
    assert body["header"] == name.split("\r")[0].split("\0")[0] + ("..." if name != "X-A" else "")
    assert "Set-Cookie" not in answer[1].decode() and not output.headers.keys() - {"Content-Type"}


def test_an_unexpected_error_answers_a_generic_message_and_an_id_that_the_log_repeats(api, monkeypatch):
    logged: list[str] = []
    monkeypatch.setattr(answers, "log_error", logged.append)
    output = RecordingOutput()
    api.on_rest(output, "/leaky/x", {"method": "GET", "groups": ("x",), "headers": {}})
    body = json.loads(output.answers[0][1])
    assert body["error"] == f"internal error in the handler; see Orthanc's log, error id {body['error_id']}"
    (line,) = logged
    assert f"[error id {body['error_id']}]" in line and SECRET in line and "Traceback" in line


def test_an_exception_whose_str_raises_still_answers_json():
    class BadStr(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    response = answers.error_to_response(BadStr(), "where", "/route")
    assert response.status == 500 and json.loads(response.body)["type"] == "BadStr"


@pytest.mark.parametrize("error, status", [(TaskTimeout(2.0, 123456), 504),
                                           (WorkerCrashed(123456, -9), 502)])
def test_pool_failures_answer_without_the_workers_pid(error, status, monkeypatch):
    logged: list[str] = []
    monkeypatch.setattr(answers, "log_error", logged.append)
    response = answers.error_to_response(error, "where", "/route")
    assert response.status == status and b"123456" not in response.body
    assert "123456" in logged[0] and json.loads(response.body)["error_id"] in logged[0]


def _served(api: rest.RestApi, path: str, request: dict) -> list[tuple[int, bytes, str]]:
    """What the native callback of the route Orthanc matched sends, through its serve
    (inline_path.cpp): a (body, content_type) pair it sends as 200 itself, or a callable that
    writes with the RestOutput."""
    found = api.routes.match(path)
    assert found is not None
    serve = api.serve_of(found[0])
    assert serve is not None  # every handler here is inline and decorated
    method = request["method"]
    answer = serve(path, method, tuple(request["headers"].items()),
                   request.get("get") if method == "GET" else None,
                   request.get("body", b"") if method in ("POST", "PUT") else b"")
    if isinstance(answer, tuple):
        body, content_type, request_id = answer
        assert request_id  # sent as X-Request-Id
        return [(200, body, content_type)]
    output = RecordingOutput()
    answer(output)
    return output.answers


def _without_error_id(answers_: list[tuple[int, bytes, str]]) -> list[tuple[int, Any, str]]:
    result: list[tuple[int, Any, str]] = []
    for status, body, mime in answers_:
        if mime == "application/json" and status >= 400:
            parsed = json.loads(body)
            assert parsed.pop("request_id")  # each dispatch names its own request
            error_id = parsed.pop("error_id", None)
            if error_id:
                parsed["error"] = parsed["error"].replace(error_id, "<id>")
            result.append((status, parsed, mime))
        else:
            result.append((status, body, mime))
    return result


@settings(max_examples=400, deadline=None)
@given(path=paths, request=requests)
@example(path="/p/x/3", request={"method": "DELETE", "groups": (), "headers": {}})
def test_an_inline_routes_serve_answers_as_on_rest(api, path, request):
    """The native inline path answers every request as the Python dispatch does."""
    if api.routes.match(path) is None:
        return  # Orthanc calls no route of ours
    method = request["method"]
    native_like = {"method": method, "groups": (), "headers": request["headers"]}
    if method == "GET" and request.get("get") is not None:
        native_like["get"] = request["get"]
    if method in ("POST", "PUT"):
        native_like["body"] = request.get("body", b"")
    output = RecordingOutput()
    api.on_rest(output, path, native_like)
    assert _without_error_id(_served(api, path, native_like)) == _without_error_id(output.answers)
    assert api.in_flight.count == 0


def test_a_route_with_an_offloaded_or_official_style_handler_has_no_serve():
    from runtime import offload

    def heavy(request):
        return b"done"

    def also_heavy(request):
        return b"done"

    routes = Registry()
    routes.add_route("/inline", echo, ["GET"])
    routes.add_route("/offloaded", offload(heavy), ["GET"])
    routes.add_route("/mixed", echo, ["GET"])
    routes.add_route("/mixed", offload(also_heavy), ["POST"])
    api = rest.RestApi(routes)
    serves = {r.pattern.source: api.serve_of(r) for r in routes.routes}
    assert serves["/inline"] is not None
    assert serves["/offloaded"] is None and serves["/mixed"] is None
