"""Debian's official Python plugin loaded beside this one in one Orthanc: why `orthanc-runtime
install` refuses a plugins folder that holds it (docs/install.md, "What install refuses").

When the official plugin runs a script, it starts Python as Orthanc loads it; this plugin,
loaded next, needs an interpreter of its own and refuses to start, saying why (it adds its
built-in module to Python just before starting Python: orthanc_native/src/sdk_module.cpp),
and Orthanc stops with an error instead of aborting. With no script the official plugin
leaves Python alone and both load; a ``python.json`` added later would stop Orthanc from
starting, which is why install refuses.
"""

from __future__ import annotations

from pathlib import Path

from orthanc_native import plugin_path
from tests.harness import running_orthanc, start_failure

OFFICIAL = Path("/usr/share/orthanc/plugins/libOrthancPython.so")
SCRIPT = """\
from runtime import Request, route


@route('/beside/{name}')
def beside(request: Request):
    return {'hello': request.params['name']}
"""

def plugins() -> dict:
    """The official plugin first (Orthanc loads the plugins of the list in its order), as
    Orthanc 1.12.7 loaded them from Debian 13's plugins folder with both in it."""
    assert OFFICIAL.exists(), f"{OFFICIAL} (Debian's orthanc-python) is needed"
    return {"Plugins": [str(OFFICIAL), str(plugin_path())]}


def test_the_plugin_refuses_to_start_when_the_official_plugin_started_python_first(tmp_path):
    official = tmp_path / "official.py"
    official.write_text("import orthanc\n")
    script = tmp_path / "ours.py"
    script.write_text(SCRIPT)
    code, log = start_failure(tmp_path / "orthanc", script, {**plugins(), "PythonScript": str(official)})
    print(f"Orthanc exited with {code}")
    assert code > 0, log[-3000:]  # an exit with an error, not a signal (SIGABRT before)
    assert "orthanc-runtime: the plugin cannot start: Python is already running" in log, log[-3000:]
    assert "Can't add new modules" not in log, log[-3000:]


def test_both_load_when_the_official_plugin_runs_no_script(tmp_path):
    script = tmp_path / "ours.py"
    script.write_text(SCRIPT)
    with running_orthanc(tmp_path / "orthanc", script, plugins()) as server:
        assert server.get("/beside/debian").json() == {"hello": "debian"}
