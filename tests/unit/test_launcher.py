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
