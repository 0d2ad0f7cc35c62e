"""Our `orthanc` module against the official plugin's, both listed inside a real Orthanc.

The same script lists the module's functions, classes, methods and
enumerations in an Orthanc with Debian's official plugin (4.0 on Debian 12,
5.0 on Debian 13, 7.1 on Debian unstable), then in one with ours. Ours must
also have the whole API of the newest official plugin, 7.1, whatever Orthanc runs.
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
    """The script is named by "PythonScript" (official 4.0), or by ``config`` itself.

    Besides the module's shape: "plugin", the version of the Python plugin that Orthanc
    lists (the official plugin's own, as /plugins/python says)."""
    output = folder / "api.json"
    config = {"IntrospectionOutput": str(output), **config}
    script = None if "Python" in config else SCRIPT
    with running_orthanc(folder, script, config, script_key="PythonScript", name=name) as server:
        wait_for(output.exists, timeout=20)
        plugin = server.get("/plugins/python")
    result = json.loads(output.read_text())
    result["plugin"] = plugin.json()["Version"] if plugin.status == 200 else None
    return result  # type: ignore[no-any-return]


def without_exception(classes: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: v for k, v in classes.items() if k != "OrthancException"}


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> dict[str, Any]:
    """The official plugin of this Debian: 4.0, 5.0 or 7.1 (its major.minor)."""
    result = shape(tmp_path_factory.mktemp("official"), "official",
                   {"Plugins": [str(official_plugin())]})
    result["version"] = ".".join(str(result["plugin"]).split(".")[:2])
    return result


@pytest.fixture(scope="module")
def ours(tmp_path_factory) -> dict[str, Any]:
    # Named as the official plugin names it from 4.1 on: the "Python" section.
    return shape(tmp_path_factory.mktemp("ours"), "ours", {"Python": {"Path": str(SCRIPT)}})


# The official plugin's size, introspected in each Debian: (functions, classes besides
# OrthancException, enumerations, methods).
SIZES = {"4.0": (77, 13, 21, 56), "5.0": (86, 14, 24, 58), "7.1": (105, 16, 28, 64)}


def test_the_recorded_official_api_is_the_real_plugins(official):
    """official_api.json holds, for the official plugin of the running Debian, what it really has."""
    assert official["version"] in rules.OFFICIAL_VERSIONS, official["plugin"]
    recorded = rules.official_api(official["version"])
    assert official["functions"] == recorded["functions"]
    assert official["enums"] == recorded["enums"]
    assert without_exception(official["classes"]) == without_exception(recorded["classes"])
    classes = without_exception(official["classes"])
    assert (len(official["functions"]), len(classes), len(official["enums"]),
            sum(len(m) for m in classes.values())) == SIZES[official["version"]]


def test_ours_has_every_official_function(official, ours):
    """All of them, but what rules.NOT_YET lists, with the reason (none of 4.0's)."""
    assert set(official["functions"]) - set(ours["functions"]) - set(rules.NOT_YET) == set()


def test_ours_has_every_official_class_and_method(official, ours):
    for cls, methods in official["classes"].items():
        if cls in rules.NOT_YET:
            continue
        assert cls in ours["classes"], cls
        missing = {m for m in set(methods) - set(ours["classes"][cls]) if f"{cls}.{m}" not in rules.NOT_YET}
        assert missing == set(), (cls, missing)


def test_ours_has_every_official_enumeration_with_the_same_values(official, ours):
    assert len(official["enums"]) == SIZES[official["version"]][2]
    for enum, values in official["enums"].items():  # ours may have newer members
        assert {k: ours["enums"].get(enum, {}).get(k) for k in values} == values, enum


def test_ours_has_the_newest_official_api_whatever_orthanc_runs(ours):
    """Every function, class, method and enumeration (same values) of the official 7.1, but the
    names rules.NOT_YET lists with the reason; and the 4.0/5.0 names 7.1 renamed, as aliases."""
    newest = rules.official_api(rules.NEWEST_OFFICIAL)
    missing = set(newest["functions"]) - set(ours["functions"])
    for cls, methods in newest["classes"].items():
        if cls not in ours["classes"]:
            missing.add(cls)
        else:
            missing |= {f"{cls}.{m}" for m in set(methods) - set(ours["classes"][cls])}
    assert missing <= set(rules.NOT_YET), sorted(missing - set(rules.NOT_YET))
    for enum, values in newest["enums"].items():
        assert {k: ours["enums"].get(enum, {}).get(k) for k in values} == values, enum
    for cls, names in rules.OLD_METHOD_NAMES.items():
        assert set(names) <= set(ours["classes"][cls]), cls
    for version in rules.OFFICIAL_VERSIONS:  # nothing an older official plugin has is gone
        older = rules.official_api(version)
        assert set(older["functions"]) <= set(ours["functions"]) | set(rules.NOT_YET), version
