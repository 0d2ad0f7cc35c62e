"""The fast path's frames and write plans (runtime.backends.fastwire)."""

from __future__ import annotations

import pytest

from runtime.backends import fastwire
from runtime.http import Response


def test_a_request_frame_decodes_to_what_was_encoded():
    data = fastwire.encode_request("d", "POST", "/a/1", ("1", ""), {"X": "\u00e9"}, {"q": "v"},
                                   b"\x00body")
    frame = fastwire.decode_request(data)
    assert frame == fastwire.FastRequest("d", "POST", "/a/1", ("1", ""), {"X": "\u00e9"},
                                         {"q": "v"}, b"\x00body")


def test_a_cut_request_frame_is_refused():
    data = fastwire.encode_request("d", "GET", "/", (), {}, {}, b"12345")
    with pytest.raises(ValueError, match="cut short"):
        fastwire.decode_request(data[:-2])


@pytest.mark.parametrize(("response", "kind", "extra", "body"), [
    (Response("hi"), fastwire.PLAN_ANSWER, "", b"hi"),
    (Response("no", 404), fastwire.PLAN_STATUS, "", b"no"),
    (Response("", 204), fastwire.PLAN_NO_BODY, "", b""),
    (Response("", 405, headers={"Allow": "GET"}), fastwire.PLAN_NOT_ALLOWED, "GET", b""),
    (Response("", 401), fastwire.PLAN_UNAUTHORIZED, "orthanc-runtime", b""),
    (Response("", 301, headers={"Location": "/x"}), fastwire.PLAN_REDIRECT, "/x", b""),
])
def test_plan_of_chooses_orthancs_call(response, kind, extra, body):
    plan = fastwire.plan_of(response)
    assert (plan.kind, plan.extra, plan.body) == (kind, extra, body)
    assert fastwire.decode_answer(fastwire.encode_answer(plan)) == plan


def test_a_plan_keeps_headers_but_not_content_type():
    plan = fastwire.plan_of(Response(b"x", headers={"X-A": "1", "Content-Type": "image/png"}))
    assert plan.headers == (("X-A", "1"),)
    assert plan.content_type == "image/png"


class Recorder:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *args: self.calls.append((name, *args))


def test_write_plan_makes_the_calls_the_python_path_made():
    output = Recorder()
    fastwire.write_plan(output, fastwire.plan_of(Response("no", 404, headers={"X-A": "1"})))
    assert output.calls == [("set_http_header", "X-A", "1"),
                            ("set_http_header", "Content-Type", "text/plain; charset=utf-8"),
                            ("send_http_status", 404, b"no")]
