"""Request, Response, Headers and HTTP errors: small, plain, and picklable."""

from __future__ import annotations

import doctest
import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime import http
from runtime.http import (
    BadRequest,
    Headers,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    Request,
    Response,
    StreamingResponse,
    UnsupportedReturn,
    error_response,
    to_response,
)


def roundtrip(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(http).failed == 0


# --- Headers ----------------------------------------------------------------------------------


def test_headers_names_are_case_insensitive_and_keep_their_spelling() -> None:
    headers = Headers({"Content-Type": "text/plain", "x-custom": "1"})
    assert headers["content-type"] == headers["CONTENT-TYPE"] == "text/plain"
    assert "X-Custom" in headers
    assert "missing" not in headers and 3 not in headers
    assert list(headers) == ["Content-Type", "x-custom"]
    assert len(headers) == 2
    assert headers.get("absent") is None
    with pytest.raises(KeyError):
        headers["absent"]


def test_headers_from_pairs_keep_repeated_values() -> None:
    headers = Headers([("Accept", "a"), ("accept", "b"), ("Host", "h")])
    assert headers["ACCEPT"] == "a"
    assert headers.getlist("accept") == ["a", "b"]
    assert headers.getlist("none") == []
    assert len(headers) == 2
    assert headers.pairs() == (("Accept", "a"), ("accept", "b"), ("Host", "h"))


def test_headers_are_read_only() -> None:
    headers = Headers({"a": "1"})
    with pytest.raises(TypeError):
        headers["a"] = "2"  # type: ignore[index]
    with pytest.raises(AttributeError):
        headers.extra = 1  # type: ignore[attr-defined]


def test_headers_compare_without_regard_to_case_or_name_order() -> None:
    assert Headers({"A": "1", "b": "2"}) == Headers([("B", "2"), ("a", "1")])
    assert Headers({"A": "1"}) == {"a": "1"}
    assert Headers({"A": "1"}) != Headers({"A": "2"})
    assert Headers([("a", "1"), ("a", "2")]) != Headers([("a", "2"), ("a", "1")])
    assert Headers({"A": "1"}) != {"a": 1}
    assert Headers() != "a"


def test_headers_repr_shows_items() -> None:
    assert repr(Headers({"Host": "x"})) == "Headers({'Host': 'x'})"
    assert repr(Headers([("a", "1"), ("A", "2")])) == "Headers([('a', '1'), ('A', '2')])"


def test_headers_refuse_what_is_not_text() -> None:
    with pytest.raises(TypeError, match="header names and values are str"):
        Headers({"a": 1})  # type: ignore[dict-item]


header_names = st.text(st.characters(codec="ascii", categories=["L", "Nd", "Pd"]), min_size=1)
header_pairs = st.lists(st.tuples(header_names, st.text()), max_size=6)


@given(header_pairs)
def test_headers_pickle_equal(pairs: list[tuple[str, str]]) -> None:
    headers = Headers(pairs)
    again = roundtrip(headers)
    assert again == headers
    assert again.pairs() == headers.pairs()
    assert repr(again) == repr(headers)


# --- Request ----------------------------------------------------------------------------------


def test_request_json_parses_the_body() -> None:
    request = Request("POST", "/a", body='{"x": [1, "é"]}'.encode())
    assert request.json() == {"x": [1, "é"]}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
        (b"", "Expecting value: line 1 column 1 (char 0)"),
        (b"\xff", "'utf-8' codec can't decode byte 0xff in position 0"),
    ],
)
def test_request_json_refuses_a_bad_body_as_bad_request(body: bytes, reason: str) -> None:
    with pytest.raises(BadRequest) as caught:
        Request("POST", "/a", body=body).json()
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"request body is not valid JSON: {reason}")


def test_request_fills_in_defaults_and_normalises_its_fields() -> None:
    request = Request("GET", "/a", headers={"Host": "x"}, body=bytearray(b"1"), groups=["g"])  # type: ignore[arg-type]
    assert request.headers == Headers({"host": "x"})
    assert isinstance(request.headers, Headers)
    assert request.body == b"1" and type(request.body) is bytes
    assert request.groups == ("g",)
    assert (request.params, request.query, request.route) == ({}, {}, "")


def test_request_has_slots() -> None:
    with pytest.raises(AttributeError):
        Request("GET", "/").extra = 1  # type: ignore[attr-defined]


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
requests = st.builds(
    Request,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    path=st.text(),
    params=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5)),
    groups=st.lists(st.text(max_size=5)).map(tuple),
    query=st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
    headers=header_pairs.map(Headers),
    body=st.binary(),
    route=st.text(max_size=10),
)


@given(requests)
def test_request_pickles_equal(request: Request) -> None:
    again = roundtrip(request)
    assert again == request
    assert isinstance(again.headers, Headers)


# --- Response ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "data", "content_type"),
    [
        (b"\x00\x01", b"\x00\x01", "application/octet-stream"),
        (bytearray(b"ab"), b"ab", "application/octet-stream"),
        (memoryview(b"ab"), b"ab", "application/octet-stream"),
        ("héllo", "héllo".encode(), "text/plain; charset=utf-8"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'.encode(), "application/json"),
        ([1, None], b"[1,null]", "application/json"),
        (b"", b"", "application/octet-stream"),
    ],
)
def test_response_body_shorthands(body: Any, data: bytes, content_type: str) -> None:
    response = Response(body)
    assert response.body == data and type(response.body) is bytes
    assert response.content_type == content_type
    assert response.status == 200
    assert response.headers == {}


def test_response_content_type_given_or_taken_from_headers() -> None:
    assert Response(b"x", content_type="image/png").content_type == "image/png"
    response = Response("<p/>", headers={"content-type": "text/html", "X-A": "1"})
    assert response.content_type == "text/html"
    assert response.headers == {"X-A": "1"}
    both = Response(b"", content_type="image/png", headers={"Content-Type": "text/html"})
    assert both.content_type == "image/png" and both.headers == {}


def test_response_headers_are_a_copy() -> None:
    given = {"X-A": "1"}
    response = Response(b"", headers=given)
    given["X-A"] = "2"
    assert response.headers == {"X-A": "1"}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"body": 3}, TypeError, "a Response body is bytes, str, dict or list, not int"),
        ({"body": None}, TypeError, "not NoneType"),
        ({"status": "200"}, TypeError, "status is an int, not str"),
        ({"status": True}, TypeError, "status is an int, not bool"),
        ({"status": 99}, ValueError, "status 99 is not an HTTP status"),
        ({"status": 600}, ValueError, "status 600 is not an HTTP status"),
        ({"body": {"x": float("nan")}}, ValueError, "Out of range float values"),
        ({"body": {"x": object()}}, TypeError, "is not JSON serializable"),
    ],
)
def test_response_refuses_what_it_cannot_send(
    kwargs: dict[str, Any], error: type, message: str
) -> None:
    with pytest.raises(error, match=message):
        Response(**kwargs)


def test_response_equality_and_repr() -> None:
    assert Response("a") == Response(b"a", content_type="text/plain; charset=utf-8")
    assert Response("a") != Response("a", status=201)
    assert Response("a") != "a"
    assert repr(Response("a", 201, headers={"X": "y"})) == (
        "Response(b'a', status=201, content_type='text/plain; charset=utf-8', headers={'X': 'y'})"
    )
    assert repr(Response(b"x" * 100)).endswith(
        "... (100 bytes), status=200, content_type='application/octet-stream')"
    )


responses = st.builds(
    Response,
    body=st.binary()
    | st.text()
    | st.dictionaries(st.text(max_size=5), json_scalars)
    | st.lists(json_scalars),
    status=st.integers(100, 599),
    content_type=st.none() | st.sampled_from(["image/png", "application/dicom"]),
    headers=st.none() | st.dictionaries(header_names, st.text(max_size=5), max_size=3),
)


@given(responses)
def test_response_pickles_equal(response: Response) -> None:
    again = roundtrip(response)
    assert again == response
    assert repr(again) == repr(response)


# --- to_response ------------------------------------------------------------------------------


def test_to_response_passes_a_response_through() -> None:
    response = Response("x", status=201)
    assert to_response(response) is response


@pytest.mark.parametrize("value", [b"a", bytearray(b"a"), memoryview(b"a"), "a", {"a": 1}, [1]])
def test_to_response_takes_shorthands(value: Any) -> None:
    assert to_response(value) == Response(value)


@pytest.mark.parametrize(
    ("value", "name"), [(None, "NoneType"), (3, "int"), ((1,), "tuple"), (object(), "object")]
)
def test_to_response_names_what_the_handler_returned(value: object, name: str) -> None:
    with pytest.raises(TypeError) as caught:
        to_response(value)
    assert str(caught.value) == (
        f"handler returned {name}; return a Response, bytes, str, dict, list or a generator "
        "of bytes"
    )


def test_to_response_streams_a_generator_and_joins_it_on_demand() -> None:
    def rows() -> Iterator[bytes | str]:
        yield b"a\n"
        yield "\u00e9\n"

    streamed = to_response(rows())
    assert isinstance(streamed, StreamingResponse)
    assert streamed.status == 200 and streamed.content_type == "application/octet-stream"
    assert streamed.joined() == Response(b"a\n\xc3\xa9\n")
    typed = StreamingResponse(iter([b"x"]), content_type="text/csv",
                              headers={"Content-Type": "ignored", "X-Rows": "1"})
    assert to_response(typed) is typed
    assert typed.joined() == Response(b"x", content_type="text/csv", headers={"X-Rows": "1"})


def test_a_chunk_of_another_type_names_it() -> None:
    with pytest.raises(UnsupportedReturn, match="handler streamed a chunk of type int; a chunk "
                                                "is bytes or str"):
        StreamingResponse(iter([b"a", 3])).joined()


# --- errors -----------------------------------------------------------------------------------


def test_http_error_carries_status_message_headers_and_extra() -> None:
    error = HTTPError(409, "busy", headers={"Retry-After": "5"}, job="j1")
    assert (error.status, error.message, error.headers, error.extra) == (
        409,
        "busy",
        {"Retry-After": "5"},
        {"job": "j1"},
    )
    assert str(error) == "busy"
    assert HTTPError(503).message == "Service Unavailable"
    assert HTTPError(599).message == "HTTP error 599"


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (BadRequest(), 400, "Bad Request"),
        (BadRequest("missing 'x'"), 400, "missing 'x'"),
        (NotFound(), 404, "Not Found"),
        (NotFound("no such series", series="s"), 404, "no such series"),
    ],
)
def test_error_subclasses_have_their_status(error: HTTPError, status: int, message: str) -> None:
    assert isinstance(error, HTTPError)
    assert (error.status, error.message) == (status, message)


def test_method_not_allowed_sets_allow() -> None:
    error = MethodNotAllowed(["GET", "POST"])
    assert error.status == 405
    assert error.allowed == ["GET", "POST"]
    assert error.headers == {"Allow": "GET, POST"}
    assert error.message == "method not allowed; allowed: GET, POST"
    assert MethodNotAllowed(("GET",), "read only", headers={"X": "1"}).headers == {
        "X": "1",
        "Allow": "GET",
    }


@pytest.mark.parametrize(
    "error",
    [
        HTTPError(418, "teapot", headers={"X": "1"}, detail=[1, 2]),
        BadRequest("bad", field="x"),
        NotFound(),
        MethodNotAllowed(["GET"], headers={"X": "1"}),
    ],
)
def test_errors_pickle_equal(error: HTTPError) -> None:
    again = roundtrip(error)
    assert type(again) is type(error)
    assert vars(again) == vars(error)
    assert str(again) == str(error) and again.args == error.args


def test_error_response_is_json_and_omits_empty_route_and_type() -> None:
    response = error_response(404, "no route matches /x")
    assert response.status == 404
    assert response.content_type == "application/json"
    assert json.loads(response.body) == {"error": "no route matches /x", "status": 404}


def test_error_response_with_route_type_headers_and_extra() -> None:
    response = error_response(
        503, "full", route="/a/{x}", type_name="PoolFull", headers={"Retry-After": "1"}, queue=256
    )
    assert json.loads(response.body) == {
        "error": "full",
        "status": 503,
        "route": "/a/{x}",
        "type": "PoolFull",
        "queue": 256,
    }
    assert list(json.loads(response.body)) == ["error", "status", "route", "type", "queue"]
    assert response.headers == {"Retry-After": "1"}
    assert roundtrip(response) == response
