"""Streamed answers (tests/scripts/streaming.py): a route whose handler returns a generator,
and the official API's RestOutput.StartStreamAnswer / SendStreamChunk.

Valid on every Orthanc: 1.12.6 and newer send each chunk as the generator yields it (the
client reads the first one before the generator goes on); on older ones (1.10.1) the
chunks are joined into one answer, and StartStreamAnswer raises OrthancException naming
the version it needs. An offloaded generator's chunks cross from its worker to Orthanc as
they come, where Orthanc streams.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Orthanc, running_orthanc, scripts_dir
from tests.integration.test_dicom_connection import orthanc_version


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("streaming")
    with running_orthanc(folder, scripts_dir() / "streaming.py") as orthanc:
        yield orthanc


def streams(server: Orthanc) -> bool:
    return orthanc_version(server) >= (1, 12, 6)


class Read:
    """One GET read as a client reads a stream: the first bytes, then the rest once the
    flag file is made."""

    def __init__(self, server: Orthanc, path: str, flag: Path) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
        try:
            connection.request("GET", path)
            answer = connection.getresponse()
            self.status = answer.status
            self.headers = {k.lower(): v for k, v in answer.getheaders()}
            self.first = answer.read1(65536)
            flag.touch()  # the generator may go on
            self.body = self.first + answer.read()
        finally:
            connection.close()


def test_generator_route_streams_where_orthanc_can(server, tmp_path):
    flag = tmp_path / "flag"
    read = Read(server, f"/stream?flag={flag}&wait=10", flag)
    assert read.status == 200
    assert read.headers["content-type"] == "application/octet-stream"
    if streams(server):
        # The client held the first chunk while the generator waited for it to say so.
        assert read.first == b"first\n"
        assert read.body == b"first\nacknowledged\nlast\n"
        # Orthanc sends no length: the answer ends when it closes the connection.
        assert "content-length" not in read.headers
        assert read.headers["connection"] == "close"
    else:  # joined: nothing reached the client before the generator was done
        assert read.body == b"first\nnot acknowledged\nlast\n"
        assert int(read.headers["content-length"]) == len(read.body)


def test_offloaded_generator_streams_from_its_worker_where_orthanc_can(server, tmp_path):
    flag = tmp_path / "flag"
    read = Read(server, f"/stream/offloaded?flag={flag}&wait=5", flag)
    assert read.status == 200
    if streams(server):
        assert read.first == b"first\n"
        assert read.body == b"first\nacknowledged\nlast\n"
        assert "content-length" not in read.headers
    else:
        assert read.body == b"first\nnot acknowledged\nlast\n"
        assert int(read.headers["content-length"]) == len(read.body)


def test_streaming_response_keeps_its_type_and_headers(server):
    answer = server.get("/stream/typed")
    assert answer.status == 200
    assert answer.body == b"a,b\n1,2\n"
    assert answer.headers["content-type"] == "text/csv"
    assert answer.headers["x-rows"] == "2"


def test_generator_that_fails_before_its_first_chunk_answers_json(server):
    answer = server.get("/stream/fails-at-once")
    assert answer.status == 500
    assert answer.json()["type"] == "RuntimeError"
    server.wait_for_log("streaming.fails_at_once (GET /stream/fails-at-once): RuntimeError "
                        f"[error id {answer.json()['error_id']}]: no data today")


def read_cut(server: Orthanc, path: str) -> bytes:
    """What a client reads of an answer that Orthanc cuts short."""
    connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=60)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        assert answer.status == 200
        body = b""
        try:
            while chunk := answer.read1(65536):
                body += chunk
        except http.client.IncompleteRead as cut:
            body += cut.partial
        return body
    finally:
        connection.close()


def test_offloaded_generator_that_fails_later_is_cut_and_logged(server):
    if streams(server):
        assert read_cut(server, "/stream/offloaded/fails-later") == b"first\n"
        server.wait_for_log("streaming.offloaded_fails_later (GET /stream/offloaded/fails-later): "
                            "the streamed answer is cut after 6 bytes: HTTP 500")
        assert "the worker's source went away" in server.log()
    else:
        answer = server.get("/stream/offloaded/fails-later")
        assert answer.status == 500
        assert answer.json()["type"] == "RuntimeError"
    assert server.get("/stream/typed").status == 200


def test_generator_that_fails_later_is_cut_and_logged(server):
    if streams(server):
        assert read_cut(server, "/stream/fails-later") == b"first\n"
        server.wait_for_log("streaming.fails_later (GET /stream/fails-later): the streamed "
                            "answer is cut after 6 bytes")
    else:
        answer = server.get("/stream/fails-later")
        assert answer.status == 500
        assert answer.json()["type"] == "RuntimeError"
        server.wait_for_log("streaming.fails_later (GET /stream/fails-later): RuntimeError "
                            f"[error id {answer.json()['error_id']}]: the source went away")
    assert server.get("/stream/typed").status == 200  # Orthanc goes on


def test_chunk_of_the_wrong_type_answers_json_naming_it(server):
    answer = server.get("/stream/bad-chunk")
    assert answer.status == 500
    assert answer.json()["type"] == "UnsupportedReturn"
    assert "handler streamed a chunk of type int; a chunk is bytes or str" in \
        answer.json()["error"]


def test_official_stream_answer_or_the_version_it_needs(server):
    answer = server.get("/stream/compat")
    if streams(server):
        assert answer.status == 200
        assert answer.body == b"one\ntwo\nthree\n"
        assert answer.headers["content-type"] == "text/plain"
    else:  # NotImplemented
        assert answer.status == 501
        # "this is Orthanc 1.10.1", or "this plugin was built against the SDK of ..."
        assert answer.json()["error"].startswith(
            "RestOutput.StartStreamAnswer needs Orthanc 1.12.6 or newer; this ")
