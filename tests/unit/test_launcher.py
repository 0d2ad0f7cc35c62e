"""The configuration that `orthanc-runtime run`, `make demo` and the tests give Orthanc."""

from __future__ import annotations

from pathlib import Path

from runtime.devkit.launcher import build_configuration, merge


def test_merge_is_deep_and_in_order():
    base = {"A": {"B": 1, "C": 2}, "D": [1]}
    assert merge(base, {"A": {"C": 3}, "D": [2]}) == {"A": {"B": 1, "C": 3}, "D": [2]}
    assert base == {"A": {"B": 1, "C": 2}, "D": [1]}  # untouched


def test_build_configuration_has_the_plugin_the_script_and_the_extras(tmp_path):
    script = tmp_path / "s.py"
    script.write_text("")
    config = build_configuration(script=script, http_port=1234, dicom_port=5678, storage=tmp_path / "st",
                                 extra=[{"PythonRuntime": {"Pool": {"Workers": 1}}},
                                        {"PythonRuntime": {"Pool": {"TaskTimeout": 5}}, "Name": "x"}])
    assert config["HttpPort"] == 1234 and config["DicomPort"] == 5678
    assert Path(config["Plugins"][0]).name == "libOrthancRuntime.so"
    assert config["PythonRuntime"] == {"Script": str(script.resolve()), "Pool": {"Workers": 1, "TaskTimeout": 5}}
    assert config["Name"] == "x"
    assert config["StorageDirectory"] == str((tmp_path / "st").resolve())


def test_free_ports_are_bindable_distinct_and_below_the_kernels_own_range():
    import socket

    from runtime.devkit.launcher import _kernel_range_start, free_port

    ports = [free_port() for _ in range(100)]
    assert len(set(ports)) == 100
    assert all(20000 <= port < _kernel_range_start() for port in ports)
    for port in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))  # free indeed


def test_stop_waits_until_the_plugin_heard_that_orthanc_started(tmp_path):
    """A SIGTERM before Orthanc's main thread has told the plugins it started kills Orthanc
    outright: stop() waits while /runtime/status says ORTHANC_STARTED was not heard yet."""
    import http.server
    import signal
    import subprocess
    import threading
    import time

    from runtime.devkit.launcher import OrthancProcess, free_port

    asked: list[float] = []
    ready_at = time.monotonic() + 0.3

    class Status(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            asked.append(time.monotonic())
            body = b'{"orthanc_started": %s}' % (b"true" if time.monotonic() > ready_at else b"false")
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        process = OrthancProcess(tmp_path / "unused.json", f"http://127.0.0.1:{port}")
        process.process = subprocess.Popen(["sleep", "30"])
        assert process.stop(10) == -signal.SIGTERM
        assert asked and asked[-1] > ready_at  # it asked until the plugin had heard it
    finally:
        server.shutdown()
