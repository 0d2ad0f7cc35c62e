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


CATCHES_SIGTERM_LATER = """
import signal, sys, time
time.sleep(float(sys.argv[1]))
signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
print("caught", flush=True)
time.sleep(30)
"""


def test_stop_waits_until_orthanc_catches_sigterm(tmp_path):
    """A SIGTERM before Orthanc's main thread has set up its signal handling kills Orthanc
    outright: stop() waits until the process catches SIGTERM (the kernel's SigCgt)."""
    import signal
    import subprocess
    import sys

    from runtime.devkit.launcher import OrthancProcess, catches_signal

    process = OrthancProcess(tmp_path / "unused.json", "http://127.0.0.1:9")
    process.process = subprocess.Popen([sys.executable, "-c", CATCHES_SIGTERM_LATER, "0.3"],
                                       stdout=subprocess.PIPE, text=True)
    assert catches_signal(process.process.pid, signal.SIGTERM) is False
    assert process.stop(10) == 0  # it waited for the handler, which exits cleanly
    assert process.process.stdout is not None and process.process.stdout.read() == "caught\n"


def test_stop_of_a_process_that_never_catches_sigterm_waits_a_bounded_time(tmp_path):
    import signal
    import subprocess
    import time

    from runtime.devkit.launcher import OrthancProcess

    process = OrthancProcess(tmp_path / "unused.json", "http://127.0.0.1:9")
    process.process = subprocess.Popen(["sleep", "30"])
    started = time.monotonic()
    assert not process.wait_until_it_catches_sigterm(timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 2
    assert process.stop(10) == -signal.SIGTERM


def test_a_held_port_is_taken_and_its_holder_named():
    import os
    import pwd
    import socket

    from runtime.devkit.launcher import free_port, port_holder, port_taken

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        port = holder.getsockname()[1]
        assert port_taken(port)
        assert port_holder(port).endswith(f"(pid {os.getpid()}, user {pwd.getpwuid(os.getuid()).pw_name})")
    assert not port_taken(port)


def test_connections_left_in_time_wait_do_not_make_a_port_taken():
    """A server that stopped leaves its closed connections in TIME_WAIT for a minute: Orthanc
    binds with SO_REUSEADDR and starts, so `orthanc-runtime run` must not refuse its port."""
    import socket

    from runtime.devkit.launcher import _bindable, free_port, port_taken

    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", free_port()))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its end waits in TIME_WAIT
        client.recv(1)
        client.close()
    assert not _bindable(port)  # a bind without SO_REUSEADDR fails: the wait is there
    assert not port_taken(port)
