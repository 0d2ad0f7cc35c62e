"""Debian's official Python plugin loaded beside this one in one Orthanc: why `orthanc-runtime
install` refuses a plugins folder that holds it (docs/install.md, "What install refuses").

When the official plugin runs a script, it starts Python as Orthanc loads it; this plugin,
loaded next, needs an interpreter of its own and refuses to start, saying why (it adds its
built-in module to Python just before starting Python: orthanc_native/src/sdk_module.cpp),
and Orthanc stops with an error instead of aborting. With no script the official plugin
leaves Python alone, but its libpython stays loaded, and the process has one library of that
name: both load when it is the Python of this plugin's venv (the Debian roots: a venv of
Debian's python3), and this plugin refuses to start, saying why, when it is another patch
release (here: Debian 12's 3.11.2 beside the venv's pyenv 3.11.7, whose extension modules
need symbols 3.11.2 lacks; before the check, the plugin started and `import ssl` failed).
A ``python.json`` added later would stop Orthanc from starting, which is why install
refuses.
"""

from __future__ import annotations

import platform
import subprocess
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


def official_python() -> str:
    """The Python release of the official plugin's libpython: Debian's python3's."""
    found = subprocess.run(["/usr/bin/python3", "-c", "import platform; print(platform.python_version())"],
                           capture_output=True, text=True, check=True)
    return found.stdout.strip()


def test_with_no_official_script_both_load_on_one_python_else_ours_refuses(tmp_path):
    script = tmp_path / "ours.py"
    script.write_text(SCRIPT)
    theirs, ours = official_python(), platform.python_version()
    print(f"official plugin's Python {theirs}, this venv's {ours}")
    if theirs == ours:
        with running_orthanc(tmp_path / "orthanc", script, plugins()) as server:
            assert server.get("/beside/debian").json() == {"hello": "debian"}
            assert "the plugin cannot start" not in server.log()
        return
    code, log = start_failure(tmp_path / "orthanc", script, plugins())
    assert code > 0, log[-3000:]
    assert (f"orthanc-runtime: the plugin cannot start: the Python library in this Orthanc is "
            f"{theirs}, and the virtual environment") in log, log[-3000:]
    assert f"is of Python {ours}" in log, log[-3000:]
