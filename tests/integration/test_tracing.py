"""OpenTelemetry (the ``otel`` extra): a request is one trace across the master and its worker.

A tiny OTLP/HTTP collector runs in the test (http.server on loopback) and decodes what each
process of Orthanc exports with opentelemetry-proto; the test checks the spans' names, their
parent links across the processes and the request id they carry.
"""

from __future__ import annotations

import gzip
import http.server
import threading
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_service

from tests.harness import running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "logs_demo.py"


class Collector:
    """Spans exported to ``url``, as dicts, by process."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        collector = self

        class Receive(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    data = gzip.decompress(data)
                collector.take(data)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receive)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, data: bytes) -> None:
        request = trace_service.ExportTraceServiceRequest()
        request.ParseFromString(data)
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    found.append({
                        "name": span.name, "trace": span.trace_id.hex(),
                        "id": span.span_id.hex(), "parent": span.parent_span_id.hex(),
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "pid": resource.get("process.pid"),
                        "service": resource.get("service.name"),
                        "start": span.start_time_unix_nano, "end": span.end_time_unix_nano,
                    })
        with self.lock:
            self.spans += found

    def of_request(self, request_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [s for s in self.spans
                    if s["attributes"].get("orthanc_runtime.request_id") == request_id]

    def __enter__(self) -> Collector:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tracing")
    with Collector() as collector:
        config = {"PythonRuntime": {"Pool": {"Workers": 1},
                                    "Telemetry": {"Endpoint": collector.url,
                                                  "ServiceName": "orthanc-under-test"}}}
        with running_orthanc(folder, SCRIPT, config) as server:
            yield server, collector


def test_an_offloaded_request_is_one_trace_from_the_master_into_the_worker(traced):
    server, collector = traced
    answer = server.get("/logs/sdk")
    assert answer.status == 200, answer.text
    request_id = answer.headers["x-request-id"]
    worker_pid = answer.json()["pid"]
    master_pid = server.process.process.pid

    def complete() -> list[dict[str, Any]] | None:
        spans = collector.of_request(request_id)
        names = {s["name"].split(" ")[0] for s in spans}
        return spans if {"dispatch", "queue", "worker", "sdk"} <= names else None

    spans = wait_for(complete, timeout=30, what="the request's four kinds of spans")
    by_kind = {s["name"].split(" ")[0]: s for s in spans}
    dispatch, queue, run, call = (by_kind[k] for k in ("dispatch", "queue", "worker", "sdk"))
    assert dispatch["name"] == "dispatch logs_demo.sdk_call"
    assert run["name"] == "worker run logs_demo.sdk_call"
    assert call["name"] == "sdk CallRestApi"
    assert {s["trace"] for s in spans} == {dispatch["trace"]}  # one trace
    assert dispatch["parent"] == ""  # its root
    assert queue["parent"] == dispatch["id"] and run["parent"] == dispatch["id"]
    assert call["parent"] == run["id"]
    # the master made the dispatch span, the worker the three others
    assert dispatch["pid"] == master_pid
    assert queue["pid"] == run["pid"] == call["pid"] == worker_pid != master_pid
    assert {s["service"] for s in spans} == {"orthanc-under-test"}
    assert queue["end"] <= run["start"] and dispatch["start"] <= queue["start"]
    assert dispatch["attributes"]["http.response.status_code"] == 200
    assert all(s["attributes"]["orthanc_runtime.handler"] == "logs_demo.sdk_call" for s in spans)


def test_an_inline_request_is_a_trace_of_its_own(traced):
    server, collector = traced
    answer = server.get("/logs/inline?tag=traced")
    request_id = answer.headers["x-request-id"]
    spans = wait_for(lambda: collector.of_request(request_id), timeout=30,
                     what="the inline request's span")
    assert [s["name"] for s in spans] == ["dispatch logs_demo.inline"]
    assert server.get("/logs/modules").json()["opentelemetry"] is True


def test_a_failing_handler_marks_its_dispatch_span_with_the_status(traced):
    server, collector = traced
    answer = server.get("/logs/fails?tag=traced")
    assert answer.status == 500
    request_id = answer.json()["request_id"]
    spans = wait_for(lambda: [s for s in collector.of_request(request_id)
                              if s["name"].startswith("dispatch")], timeout=30,
                     what="the failed request's dispatch span")
    assert spans[0]["attributes"]["http.response.status_code"] == 500


def test_an_offloaded_event_is_a_trace_from_its_delivery_into_the_worker(traced):
    server, collector = traced
    patient = server.upload("CT_small.dcm")["ParentPatient"]
    line = server.wait_for_log(f"event new patient {patient}")
    request_id = line.split(f"event new patient {patient} req ", 1)[1].split()[0]

    def complete() -> list[dict[str, Any]] | None:
        spans = collector.of_request(request_id)
        return spans if len(spans) >= 3 else None

    spans = wait_for(complete, timeout=30, what="the event's three spans")
    by_kind = {s["name"].split(" ")[0]: s for s in spans}
    delivery, queue, run = by_kind["event"], by_kind["queue"], by_kind["worker"]
    assert delivery["name"] == "event logs_demo.new_patient"
    assert run["name"] == "worker run logs_demo.new_patient"
    assert queue["parent"] == run["parent"] == delivery["id"]
    assert delivery["trace"] == run["trace"] and delivery["pid"] != run["pid"]
    assert delivery["end"] >= run["end"]  # ended when its handler was done


def test_without_telemetry_nothing_of_opentelemetry_is_loaded(tmp_path):
    with running_orthanc(tmp_path, SCRIPT, {"PythonRuntime": {"Pool": {"Workers": 1}}}) as server:
        assert server.get("/logs/modules").json()["opentelemetry"] is False
