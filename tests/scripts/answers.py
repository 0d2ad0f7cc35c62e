"""Handlers that answer what Orthanc cannot send, or fail every way a handler can.

Used by tests/integration/test_answers.py: any status, a query value copied
into a header, every kind of exception, inline, offloaded and through the
``orthanc`` compatibility module.
"""

import os
import sys
import time
from urllib.parse import unquote_plus

import orthanc

from runtime import Request, Response, offload, route


class Custom(BaseException):
    """A BaseException of the script's own."""


class BadStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken too")


def fail(kind: str) -> None:
    if kind == "exit":
        sys.exit(3)
    if kind == "keyboard":
        raise KeyboardInterrupt
    if kind == "generator":
        raise GeneratorExit
    if kind == "custom":
        raise Custom("custom base exception")
    if kind == "badstr":
        raise BadStr()
    if kind == "path":
        open("/nonexistent/secret/folder/file.txt")  # noqa: SIM115 - FileNotFoundError naming the path
    raise ValueError(f"unknown kind {kind}")


# -- any status --

@route("/answers/status/{status:int}")
def status(request: Request):
    return Response(b"body of the answer", status=request.params["status"])


@route("/answers/offloaded/status/{status:int}")
@offload
def offloaded_status(request: Request):
    return Response(b"body of the answer", status=request.params["status"])


def compat_status(output, uri, **request):
    output.SendHttpStatus(int(request["groups"][0]), b"body of the answer")


def compat_status_code(output, uri, **request):
    output.SendHttpStatusCode(int(request["groups"][0]))


orthanc.RegisterRestCallback("/answers/compat/status/([0-9]+)", compat_status)
orthanc.RegisterRestCallback("/answers/compat/status-code/([0-9]+)", compat_status_code)


# -- what the client sent, as the handler sees it --

@route("/answers/request/{value}")
def request_text(request: Request):
    return {"header": request.headers.get("X-A"), "query": request.query.get("q"),
            "value": request.params["value"]}


# -- a query value copied into a header --

@route("/answers/header")
def header(request: Request):
    return Response({"echoed": True}, headers={"X-Echo": request.query.get("v", "")})


@route("/answers/header-name")
def header_name(request: Request):
    return Response({"echoed": True}, headers={request.query.get("v", "X-Name"): "value"})


@route("/answers/content-type")
def content_type(request: Request):
    return Response(b"x", content_type=request.query.get("v", "text/plain"))


@route("/answers/offloaded/header")
@offload
def offloaded_header(request: Request):
    return Response({"echoed": True}, headers={"X-Echo": request.query.get("v", "")})


def compat_header(output, uri, **request):
    output.SetHttpHeader("X-Echo", unquote_plus(request["get"].get("v", "")))
    output.AnswerBuffer(b'{"echoed": true}', "application/json")


def compat_cookie(output, uri, **request):
    output.SetCookie("session", unquote_plus(request["get"].get("v", "")))
    output.AnswerBuffer(b'{"echoed": true}', "application/json")


orthanc.RegisterRestCallback("/answers/compat/header", compat_header)
orthanc.RegisterRestCallback("/answers/compat/cookie", compat_cookie)


# -- every kind of exception --

@route("/answers/raise/{kind}")
def raises(request: Request):
    fail(request.params["kind"])


@route("/answers/offloaded/raise/{kind}")
@offload
def offloaded_raises(request: Request):
    fail(request.params["kind"])


def compat_raises(output, uri, **request):
    fail(request["groups"][0])


orthanc.RegisterRestCallback("/answers/compat/raise/([a-z]+)", compat_raises)


# -- the pool's own failures --

@route("/answers/offloaded/crash")
@offload
def crash(request: Request):
    os._exit(3)


@route("/answers/offloaded/hang")
@offload(timeout=0.5)
def hang(request: Request):
    time.sleep(30)


@route("/answers/offloaded/pid")
@offload
def pid(request: Request):
    return {"pid": os.getpid()}
