"""Every request gets an answer, whatever status, header or exception its handler produces.

Against a real Orthanc 1.10.1: a status Orthanc cannot send, a header with CR
or LF, and every kind of exception (BaseException included), inline,
offloaded and through the ``orthanc`` compatibility module, each answer JSON
that says enough and no more (no traceback, path or process id).
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass

import pytest

from runtime.answers import NO_BODY_STATUSES, ORTHANC_STATUSES
from tests.harness import redirect_status, running_orthanc, scripts_dir

SCRIPT = scripts_dir() / "answers.py"
BODY = b"body of the answer"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("answers")
    with running_orthanc(folder, SCRIPT, {"PythonRuntime": {"Pool": {"Workers": 1}}}) as server:
        yield server


@dataclass
class Raw:
    """An answer read off the socket as Orthanc wrote it."""

    status: int
    head: bytes
    body: bytes

    def header_names(self) -> list[str]:
        return [line.split(b":", 1)[0].decode().lower() for line in self.head.split(b"\r\n")[1:]]

    def json(self):
        return json.loads(self.body)


def raw_get(port: int, path: str, headers: bytes = b"") -> Raw:
    """GET ``path`` on a fresh connection that Orthanc closes; no client library reads for us."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n".encode()
                     + headers + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data, f"no answer at all to {path}"
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    assert match, f"not an HTTP answer to {path}: {data[:200]!r}"
    return Raw(int(match.group(1)), head, body)


def assert_refused_status(answer: Raw, status: int, path: str) -> None:
    assert answer.status == 500, (path, answer.head)
    body = answer.json()
    assert body["refused_status"] == status and str(status) in body["error"], (path, body)
    assert body["type"] == "UnsupportedStatus"


# -- statuses ------------------------------------------------------------------

def test_every_status_a_response_asks_for_is_answered(orthanc):
    refused = []
    for status in range(100, 600):
        for prefix in ("/answers/status", "/answers/offloaded/status"):
            path = f"{prefix}/{status}"
            answer = raw_get(orthanc.http_port, path)
            if status not in ORTHANC_STATUSES:
                assert_refused_status(answer, status, path)
                refused.append(status)
                continue
            # a redirect is Orthanc's own: 301 asked, redirect_status() sent
            assert answer.status == (redirect_status() if status == 301 else status), \
                (path, answer.head)
            if status in NO_BODY_STATUSES or status in (301, 401, 405):
                assert answer.body == b"", path  # Orthanc's dedicated calls carry none
            else:
                assert answer.body == BODY, path
    print(f"\nHTTP statuses 100-599: {len(ORTHANC_STATUSES)} sent as asked, "
          f"{len(set(refused))} answered 500 JSON naming the status")
    assert {429, 308, 418, 451, 511, 209, 306, 100} <= set(refused)


def test_every_status_the_compat_module_sends_is_answered(orthanc):
    for status in range(100, 600):
        for prefix in ("/answers/compat/status", "/answers/compat/status-code"):
            path = f"{prefix}/{status}"
            answer = raw_get(orthanc.http_port, path)
            if status not in ORTHANC_STATUSES or status in (301, 405):
                assert_refused_status(answer, status, path)
                continue
            assert answer.status == status, (path, answer.head)
            with_body = prefix.endswith("/status") and status not in NO_BODY_STATUSES
            assert answer.body == (BODY if with_body else b""), path


def test_a_refused_status_is_logged_with_the_handler(orthanc):
    assert raw_get(orthanc.http_port, "/answers/status/429").status == 500
    log = orthanc.wait_for_log("answers.status (GET /answers/status/429): answer refused")
    assert "429" in log


# -- what the client sends ----------------------------------------------------

def test_text_that_is_not_utf8_reaches_the_handler_replaced(orthanc):
    # Before: the plugin failed to convert the request, and Orthanc answered its generic 500.
    answer = raw_get(orthanc.http_port, "/answers/request/a%FFb?q=%FE", b"X-A: \xff\xfeok\r\n")
    assert answer.status == 200, answer.body
    assert answer.json() == {"header": "\ufffd\ufffdok", "query": "\ufffd", "value": "a\ufffdb"}


# -- headers -------------------------------------------------------------------

INJECTION = "ok%0D%0ASet-Cookie:evil=1"


@pytest.mark.parametrize("path", ["/answers/header", "/answers/offloaded/header",
                                  "/answers/compat/header", "/answers/compat/cookie",
                                  "/answers/header-name", "/answers/content-type"])
def test_a_header_with_cr_or_lf_is_refused(orthanc, path):
    answer = raw_get(orthanc.http_port, f"{path}?v={INJECTION}")
    assert answer.status == 500, answer.head
    assert b"evil" not in answer.head and "set-cookie" not in answer.header_names()
    body = answer.json()
    assert body["type"] == "UnsafeHeader" and "CR, LF or NUL" in body["error"]
    assert "evil=1" not in body["error"]  # the value is not echoed
    assert raw_get(orthanc.http_port, f"{path}?v=fine").status == 200


def test_a_refused_header_names_it_and_is_logged_with_the_handler(orthanc):
    answer = raw_get(orthanc.http_port, f"/answers/header?v={INJECTION}")
    assert answer.json()["header"] == "X-Echo"
    cookie = raw_get(orthanc.http_port, f"/answers/compat/cookie?v={INJECTION}")
    assert cookie.json()["header"] == "Set-Cookie (session)"
    orthanc.wait_for_log("answers.header (GET /answers/header): answer refused")
    orthanc.wait_for_log("answers.compat_cookie (GET /answers/compat/cookie): answer refused")


# -- exceptions ----------------------------------------------------------------

KINDS = {"exit": "SystemExit", "keyboard": "KeyboardInterrupt", "generator": "GeneratorExit",
         "custom": "Custom", "badstr": "BadStr", "path": "FileNotFoundError"}


@pytest.mark.parametrize("prefix", ["/answers/raise", "/answers/offloaded/raise",
                                    "/answers/compat/raise"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_exception_answers_json_with_an_error_id_and_nothing_more(orthanc, prefix, kind):
    answer = raw_get(orthanc.http_port, f"{prefix}/{kind}")
    assert answer.status == 500, answer.head
    body = answer.json()
    error_id = body["error_id"]
    assert re.fullmatch(r"[0-9a-f]{12}", error_id)
    assert body["error"] == f"internal error in the handler; see Orthanc's log, error id {error_id}"
    assert body["type"] == KINDS[kind]
    assert "/nonexistent" not in answer.body.decode() and "Traceback" not in answer.body.decode()
    log = orthanc.wait_for_log(f"[error id {error_id}]")
    logged = log[log.index(f"[error id {error_id}]"):]
    assert "Traceback" in logged and "fail(" in logged
    assert raw_get(orthanc.http_port, "/answers/offloaded/pid").status == 200


def test_the_log_line_names_the_handler_and_keeps_the_detail(orthanc):
    body = raw_get(orthanc.http_port, "/answers/raise/path").json()
    log = orthanc.wait_for_log(f"[error id {body['error_id']}]")
    line = next(line for line in log.splitlines() if body["error_id"] in line)
    assert "answers.raises (GET /answers/raise/path)" in line
    assert "/nonexistent/secret/folder/file.txt" in line


def test_a_crashed_worker_answers_502_without_its_pid(orthanc):
    answer = raw_get(orthanc.http_port, "/answers/offloaded/crash")
    assert answer.status == 502
    body = answer.json()
    assert body["type"] == "WorkerCrashed" and "exited with code 3" in body["error"]
    assert not re.search(r"\d{3,}", body["error"]), body  # no pid
    log = orthanc.wait_for_log(f"[error id {body['error_id']}]")
    assert re.search(r"worker \d+ exited with code 3", log)  # the log keeps it


def test_a_timed_out_handler_answers_504_without_its_pid(orthanc):
    answer = raw_get(orthanc.http_port, "/answers/offloaded/hang")
    assert answer.status == 504
    body = answer.json()
    assert body["type"] == "TaskTimeout" and "0.5 s" in body["error"]
    assert not re.search(r"\d{3,}", body["error"]), body
    log = orthanc.wait_for_log(f"[error id {body['error_id']}]")
    assert re.search(r"\(worker \d+ was killed\)", log)
