"""Our `orthanc` module against the official plugin 4.0's, both listed inside a real Orthanc.

The same script lists the module's functions, classes, methods and
enumerations in an Orthanc with Debian's official plugin, then in one with ours.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.servers import official_plugin
from orthanc_native.codegen import rules
from tests.harness import running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "introspect_orthanc.py"


def shape(folder: Path, name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The script is named by "PythonScript" (official 4.0), or by ``config`` itself."""
    output = folder / "api.json"
    config = {"IntrospectionOutput": str(output), **config}
    script = None if "Python" in config else SCRIPT
    with running_orthanc(folder, script, config, script_key="PythonScript", name=name):
        wait_for(output.exists, timeout=20)
    return json.loads(output.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict[str, Any]:
    return shape(tmp_path_factory.mktemp("official"), "official",
                 {"Plugins": [str(official_plugin())]})


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> dict[str, Any]:
    # Named as the official plugin names it from 4.1 on: the "Python" section.
    return shape(tmp_path_factory.mktemp("ours"), "ours", {"Python": {"Path": str(SCRIPT)}})


def test_the_recorded_official_api_is_the_real_plugins(official):
    recorded = json.loads(rules.OFFICIAL_API.read_text())
    assert official["functions"] == recorded["functions"]
    assert official["enums"] == recorded["enums"]
    assert {k: v for k, v in official["classes"].items() if k != "OrthancException"} == \
        {k: v for k, v in recorded["classes"].items() if k != "OrthancException"}
    callables = len(official["functions"]) + sum(len(m) for k, m in official["classes"].items()
                                                 if k != "OrthancException")
    assert callables == 133


def test_ours_has_every_official_function(official, ours):
    assert set(official["functions"]) - set(ours["functions"]) == set()


def test_ours_has_every_official_class_and_method(official, ours):
    for cls, methods in official["classes"].items():
        assert cls in ours["classes"], cls
        assert set(methods) <= set(ours["classes"][cls]), (cls, set(methods) - set(ours["classes"][cls]))


def test_ours_has_every_official_enumeration_with_the_same_values(official, ours):
    assert len(official["enums"]) == 21
    for enum, values in official["enums"].items():
        assert ours["enums"].get(enum) == values, enum
