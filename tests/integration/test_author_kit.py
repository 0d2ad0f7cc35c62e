"""The script author's kit, from a user's point of view: `orthanc-runtime new`, then pytest."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def new_project(tmp_path: Path, name: str) -> Path:
    done = subprocess.run([str(VENV_BIN / "orthanc-runtime"), "new", name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / name
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [f"{name}.py", f"test_{name}.py", "README.md", "orthanc.json"])
    return folder


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=folder, capture_output=True, text=True, timeout=300)


def test_a_new_project_passes_its_own_tests(tmp_path):
    folder = new_project(tmp_path, "clinic")
    done = run_pytest(folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    check = subprocess.run([str(VENV_BIN / "orthanc-runtime"), "check-config",
                            str(folder / "orthanc.json")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_a_handler_that_raises_fails_the_test_with_the_traceback(tmp_path):
    folder = new_project(tmp_path, "broken")
    script = folder / "broken.py"
    # The event handler raises: no answer shows it, only Orthanc's log does.
    script.write_text(script.read_text().replace(
        '    sdk.log.info(f"broken: the study {change.resource_id} is stable")\n',
        '    raise RuntimeError("the rules file is missing")\n'))
    done = run_pytest(folder)
    assert done.returncode != 0
    assert "Orthanc logged a Python traceback" in done.stdout
    assert "RuntimeError: the rules file is missing" in done.stdout


def test_new_refuses_a_name_that_is_not_a_module_name(tmp_path):
    for name in ("2fast", "json", "with-dash"):
        done = subprocess.run([str(VENV_BIN / "orthanc-runtime"), "new", name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 1
        assert "orthanc-runtime:" in done.stderr
        assert not (tmp_path / name).exists()


ROUTING = '''
from runtime import ChangeType, on_change, route

SEEN = []

@on_change(ChangeType.NEW_INSTANCE)
def seen(change):
    SEEN.append(change.resource_id)

@route("/routing/seen")
def routing_seen(request):
    return SEEN
'''

WORKLIST = '''
from runtime import ChangeType, on_change, route

SEEN = []

@on_change(ChangeType.NEW_INSTANCE)
def seen(change):
    SEEN.append(change.resource_id)

@route("/worklist/seen")
def worklist_seen(request):
    return SEEN
'''

CLASH = '''
from runtime import route

@route("/routing/seen")
def mine(request):
    return []
'''


def test_several_scripts_are_loaded_and_combined(tmp_path, orthanc_factory, dicom_files):
    (tmp_path / "routing.py").write_text(ROUTING)
    (tmp_path / "worklist.py").write_text(WORKLIST)
    orthanc = orthanc_factory(tmp_path / "routing.py",
                              {"PythonRuntime": {"Scripts": [str(tmp_path / "worklist.py")]}})
    instance = orthanc.upload(dicom_files / "CT_small.dcm")
    orthanc.wait_for(lambda: instance in orthanc.get("/routing/seen").json(), what="routing saw it")
    orthanc.wait_for(lambda: instance in orthanc.get("/worklist/seen").json(),
                     what="worklist saw it")


def test_a_route_claimed_by_two_scripts_refuses_to_start_naming_both(tmp_path):
    from tests.harness import start_failure

    (tmp_path / "routing.py").write_text(ROUTING)
    (tmp_path / "other.py").write_text(CLASH)
    code, log = start_failure(tmp_path / "run", tmp_path / "routing.py",
                              {"PythonRuntime": {"Scripts": [str(tmp_path / "other.py")]}})
    assert code != 0
    assert str(tmp_path / "routing.py") in log and str(tmp_path / "other.py") in log
    assert "already handled by" in log


def test_the_new_script_passes_mypy_strict_against_the_shipped_types(tmp_path):
    folder = new_project(tmp_path, "typed")
    done = subprocess.run([str(VENV_BIN / "mypy"), "--strict", "typed.py"], cwd=folder,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_guides_command_line_starts_a_project_that_passes(tmp_path):
    """docs/guide.md's `orthanc-runtime new clinic && cd clinic && pytest`, taken from the page
    and run by a shell in an empty folder, the venv's orthanc-runtime and pytest first on PATH:
    its output says what the line's comment promises."""
    import os
    import re

    page = (Path(__file__).resolve().parents[2] / "docs" / "guide.md").read_text()
    lines = [line for block in re.findall(r"^```sh\n(.*?)^```", page, re.M | re.S)
             for line in block.splitlines() if line.startswith("orthanc-runtime new ")]
    assert len(lines) == 1, lines
    command, _, promise = lines[0].partition("#")
    assert promise.strip() == "3 passed"
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert promise.strip() in done.stdout
    assert (tmp_path / "clinic" / "clinic.py").is_file()
