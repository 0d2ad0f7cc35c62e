"""The fast path's frames and write plans (runtime.backends.fastwire)."""

from __future__ import annotations

import json

import pytest

from runtime.backends import fastwire
from runtime.http import Response


def test_a_request_frame_decodes_to_what_was_encoded():
    data = fastwire.encode_request("d", "POST", "/a/1", ("1", ""), {"X": "\u00e9"}, {"q": "v"},
                                   b"\x00body")
    frame = fastwire.decode_request(data)
    assert frame == fastwire.FastRequest("d", "POST", "/a/1", ("1", ""), {"X": "\u00e9"},
                                         {"q": "v"}, b"\x00body")


def test_a_request_frame_carries_the_request_id():
    data = fastwire.encode_request("d", "GET", "/a", (), {}, {}, b"", "3f9a-17")
    assert fastwire.decode_request(data).request_id == "3f9a-17"
    assert fastwire.decode_request(fastwire.encode_request("d", "GET", "/a", (), {}, {},
                                                           b"")).request_id == ""


def test_an_answer_frame_takes_more_headers_after_the_plans():
    plan = fastwire.plan_of(Response(b"x", headers={"X-A": "1"}))
    decoded = fastwire.decode_answer(fastwire.encode_answer(plan, (("X-Request-Id", "r-1"),)))
    assert decoded.headers == (("X-A", "1"), ("X-Request-Id", "r-1"))


@pytest.fixture
def worker_side():
    """runtime.worker.fast, whose package makes this process a worker when first imported (the
    transport asks a master, logging goes to Orthanc): undone after the test."""
    from runtime.sdk import pylog, transport
    from runtime.worker import fast

    yield fast
    transport.use_master(None, lambda: False)  # type: ignore[arg-type]
    pylog.uninstall()


def test_a_worker_answers_with_the_frames_request_id_unless_the_handler_set_one(worker_side):
    import sys
    import types

    from runtime import request_id

    fast = worker_side

    module = types.ModuleType("fastwire_ids")
    module.plain = lambda request: {"seen": request_id()}  # type: ignore[attr-defined]
    module.own = lambda request: Response(b"", headers={"x-request-id": "mine"})  # type: ignore[attr-defined]
    sys.modules["fastwire_ids"] = module
    try:
        def ask(qualname: str) -> fastwire.Plan:
            descriptor = json.dumps({"module": "fastwire_ids", "qualname": qualname,
                                     "pattern": "/i", "name": f"fastwire_ids.{qualname}"})
            answer = fast.answer(fastwire.encode_request(descriptor, "GET", "/i", (), {}, {},
                                                         b"", "r-9"))
            assert isinstance(answer, bytes)
            return fastwire.decode_answer(answer)

        plain = ask("plain")
        assert plain.body == b'{"seen":"r-9"}'
        assert ("X-Request-Id", "r-9") in plain.headers
        assert ask("own").headers == (("x-request-id", "mine"),)
    finally:
        del sys.modules["fastwire_ids"]
    assert request_id() is None


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


# -- the native codec (orthanc_native._fastwire) against the Python one, the reference ------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NATIVE = fastwire._native_codec()
needs_native = pytest.mark.skipif(NATIVE is None, reason="orthanc_native._fastwire is not built "
                                  "here (make test builds it; this is a checkout without it)")

texts = st.text(max_size=20)
pairs = st.dictionaries(texts, texts, max_size=5)


@needs_native
@given(descriptor=texts, method=texts, url=texts, request_id=texts,
       groups=st.lists(texts, max_size=4).map(tuple), headers=pairs, get=pairs,
       body=st.binary(max_size=64))
def test_the_native_codec_decodes_a_request_frame_as_the_python_one(
        descriptor, method, url, request_id, groups, headers, get, body):
    data = fastwire.encode_request(descriptor, method, url, groups, headers, get, body, request_id)
    native = fastwire.FastRequest(*NATIVE.decode_request(data))
    assert native == fastwire.py_decode_request(data)
    assert native == (descriptor, method, url, groups, headers, get, body, request_id)


@needs_native
@given(status=st.integers(100, 599), kind=st.integers(0, 5), content_type=texts, extra=texts,
       headers=st.lists(st.tuples(texts, texts), max_size=4).map(tuple),
       more=st.lists(st.tuples(texts, texts), max_size=2).map(tuple), body=st.binary(max_size=64))
def test_the_native_codec_encodes_an_answer_frame_as_the_python_one(
        status, kind, content_type, extra, headers, more, body):
    plan = fastwire.Plan(kind, status, content_type, extra, headers, body)
    data = NATIVE.encode_answer(status, kind, content_type, extra, headers, body, more)
    assert data == fastwire.py_encode_answer(plan, more)
    assert fastwire.decode_answer(data) == plan._replace(headers=headers + more)


@needs_native
@given(data=st.binary(max_size=200))
def test_the_native_codec_refuses_what_the_python_one_refuses(data):
    """Any bytes: both codecs decode them alike or both refuse them with ValueError (a length
    word past the frame's end never reads outside it)."""
    try:
        expected = fastwire.py_decode_request(data)
    except ValueError as error:
        with pytest.raises(ValueError, match=str(error)):
            NATIVE.decode_request(data)
    else:
        assert fastwire.FastRequest(*NATIVE.decode_request(data)) == expected


@needs_native
def test_the_native_codec_replaces_bytes_that_are_not_utf8_and_refuses_cut_frames():
    good = fastwire.encode_request("d", "GET", "/", (), {"X": "v"}, {}, b"12345")
    bad = good.replace(b"v", b"\xff")
    assert fastwire.FastRequest(*NATIVE.decode_request(bad)).headers == {"X": "\ufffd"}
    for cut in range(len(good)):
        with pytest.raises(ValueError, match="cut short"):
            NATIVE.decode_request(good[:cut])
    with pytest.raises(ValueError, match="after its body"):
        NATIVE.decode_request(good + b"\x00")


def test_the_worker_uses_the_native_codec_where_it_is_built():
    """Where the package is built (an editable install, a wheel), the fast path's worker side
    decodes in one native call: a build that lost the extension falls back to Python silently,
    and this says so."""
    import orthanc_native

    built = any(orthanc_native.plugin_path().parent.glob("_fastwire*.so"))
    assert (fastwire._native is not None) == built


@needs_native
@pytest.mark.parametrize("headers", [(["X-A", "1"],), (("X-A",),), (("X-A", 1),)])
def test_the_native_codec_refuses_a_header_that_is_not_a_pair_of_texts(headers):
    with pytest.raises(TypeError):
        NATIVE.encode_answer(200, 0, "text/plain", "", headers, b"", ())
