"""Start-up and shutdown of the plugin: the embedded Python, bad scripts, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from runtime.devkit.launcher import free_port
from tests.harness import running_orthanc, start_failure

VENV = Path(sys.executable).parent.parent


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


EMBEDDED = '''
import json, sys, math, ctypes, orthanc
import PIL.Image, pydicom, psutil, runtime

def Info(output, uri, **request):
    output.AnswerBuffer(json.dumps({
        "executable": sys.executable, "prefix": sys.prefix, "base_prefix": sys.base_prefix,
        "sqrt": math.sqrt(16.0), "ctypes": ctypes.sizeof(ctypes.c_int),
        "pil": PIL.__version__, "module": __name__, "path0": sys.path[0],
    }), "application/json")

orthanc.RegisterRestCallback("/embedded", Info)
'''


def test_the_embedded_python_is_the_venvs(tmp_path):
    script = write(tmp_path / "scripts", "embedded_info.py", EMBEDDED)
    with running_orthanc(tmp_path, script) as orthanc:
        info = orthanc.get("/embedded").json()
    assert Path(info["executable"]).parent == VENV / "bin"
    assert Path(info["prefix"]) == VENV
    assert info["base_prefix"] != info["prefix"]
    assert info["sqrt"] == 4.0 and info["ctypes"] == 4  # C extension modules load
    assert info["module"] == "embedded_info"  # imported as a module named after its file
    assert info["path0"] == str((tmp_path / "scripts").resolve())


def test_relative_script_path_is_taken_from_the_configuration_folder(tmp_path):
    write(tmp_path, "relative.py", EMBEDDED)
    with running_orthanc(tmp_path, None, {"PythonRuntime": {"Script": "relative.py"}}) as orthanc:
        assert orthanc.get("/embedded").json()["module"] == "relative"


def test_syntax_error_refuses_to_start_with_the_traceback_in_the_log(tmp_path):
    script = write(tmp_path, "broken.py", "import orthanc\ndef f(:\n    pass\n")
    code, log = start_failure(tmp_path / "run", script)
    assert code != 0
    assert "SyntaxError" in log and "broken.py" in log and "line 2" in log
    assert "Segmentation fault" not in log


def test_exception_at_import_refuses_to_start(tmp_path):
    script = write(tmp_path, "raising.py", "import nonexistent_module_xyz\n")
    code, log = start_failure(tmp_path / "run", script)
    assert code != 0
    assert "ModuleNotFoundError: No module named 'nonexistent_module_xyz'" in log
    assert "Traceback" in log


def test_system_exit_at_import_refuses_to_start_without_killing_orthanc_abruptly(tmp_path):
    script = write(tmp_path, "exiting.py", "import sys\nsys.exit(3)\n")
    code, log = start_failure(tmp_path / "run", script)
    assert code != 0
    assert "SystemExit: 3" in log


def test_missing_script_refuses_to_start(tmp_path):
    code, log = start_failure(tmp_path, tmp_path / "nowhere.py")
    assert code != 0
    assert "nowhere.py does not exist" in log


def test_non_python_script_refuses_to_start(tmp_path):
    script = write(tmp_path, "script.txt", "print('hi')\n")
    code, log = start_failure(tmp_path / "run", script, script_key="PythonScript")
    assert code != 0
    assert "must be a .py file" in log


def test_legacy_configuration_keys_are_accepted(tmp_path):
    script = write(tmp_path, "legacy.py", EMBEDDED)
    with running_orthanc(tmp_path / "run", script, script_key="PythonScript") as orthanc:
        assert orthanc.get("/embedded").json()["module"] == "legacy"


def test_no_script_configured_leaves_the_plugin_idle(tmp_path):
    with running_orthanc(tmp_path, None) as orthanc:
        assert orthanc.get("/runtime/status").status == 404
        assert 'no "PythonRuntime" section nor "PythonScript"' in orthanc.log()


def test_section_without_script_nor_recipe_refuses_to_start(tmp_path):
    code, log = start_failure(tmp_path, None, {"PythonRuntime": {"Verbose": True}})
    assert code != 0
    assert "$.PythonRuntime.Script: nothing to run" in log


def test_shutdown_is_quick_and_clean(tmp_path):
    script = write(tmp_path, "quick.py", EMBEDDED)
    with running_orthanc(tmp_path / "run", script) as orthanc:
        orthanc.get("/embedded")
    assert "orthanc-runtime: stopped" in orthanc.log()  # the interpreter was finalised


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV / "bin" / "orthanc-runtime"), *args], capture_output=True,
                          text=True, timeout=120)


def test_cli_plugin_path_and_version():
    result = cli("plugin-path")
    assert result.returncode == 0
    path = Path(result.stdout.strip())
    assert path.is_absolute() and path.is_file() and path.name == "libOrthancRuntime.so"
    version = cli("--version")
    assert version.stdout.strip() == "orthanc-runtime 0.1.0"


def test_cli_check_config(tmp_path):
    good = write(tmp_path, "good.json", '{\n  // a comment\n  "PythonRuntime": {"Script": "x.py"}\n}')
    assert cli("check-config", str(good)).returncode == 0
    bad = write(tmp_path, "bad.json", json.dumps({"PythonRuntime": {"Script": "x.py", "Pool": {"QueueLimit": -1}}}))
    result = cli("check-config", str(bad))
    assert result.returncode == 1
    assert "$.PythonRuntime.Pool.QueueLimit" in result.stderr


def test_cli_run_starts_orthanc_and_stops_cleanly_on_ctrl_c(tmp_path):
    import signal
    import time
    import urllib.request

    script = write(tmp_path, "cli_script.py", EMBEDDED)
    port = free_port()
    process = subprocess.Popen(
        [str(VENV / "bin" / "orthanc-runtime"), "run", str(script), "--http-port", str(port),
         "--dicom-port", str(free_port()), "--storage", str(tmp_path / "storage")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "is running" in line or not line:
            break
    assert f"http://localhost:{port}" in line
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/embedded") as answer:
        assert json.loads(answer.read())["module"] == "cli_script"
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0


def test_python_key_embeds_another_venv(tmp_path):
    other = tmp_path / "other-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(other)], check=True, timeout=120)
    site = next((other / "lib").glob("python3.*/site-packages"))
    ours = next((VENV / "lib").glob("python3.*/site-packages"))
    # the other venv sees this project's packages through a .pth file
    (site / "orthanc_runtime_dev.pth").write_text(f"{ours}\nimport _editable_skbc_orthanc_runtime\n"
                                                  if (ours / "_editable_skbc_orthanc_runtime.py").exists()
                                                  else f"{ours}\n")
    script = write(tmp_path / "scripts", "other_info.py", EMBEDDED)
    with running_orthanc(tmp_path / "run", script, {"PythonRuntime": {"Python": str(other / "bin" / "python")}}) as orthanc:
        info = orthanc.get("/embedded").json()
    assert Path(info["executable"]) == other / "bin" / "python"
    assert Path(info["prefix"]) == other


def test_a_script_named_like_a_module_the_runtime_needs_refuses_to_start(tmp_path):
    for name in ("pool", "json", "pydicom"):
        script = write(tmp_path / name, f"{name}.py", "from runtime import route\n")
        code, log = start_failure(tmp_path / name / "run", script)
        assert code != 0
        assert f"would be imported as the module '{name}', which is taken by" in log
        assert "rename the file" in log


def test_a_file_name_that_is_no_module_name_loads_and_refuses_only_to_offload(tmp_path):
    # The official plugin runs any file; so do we, unless workers must import it by name.
    script = tmp_path / "my-script.v2.py"
    script.write_text("import orthanc\n\ndef hello(output, uri, **request):\n"
                      "    output.AnswerBuffer('hi', 'text/plain')\n\n"
                      "orthanc.RegisterRestCallback('/dotted', hello)\n")
    with running_orthanc(tmp_path / "run", script) as orthanc:
        assert orthanc.get("/dotted").text == "hi"
    offloaded = tmp_path / "off-loaded.py"
    offloaded.write_text("from runtime import offload, route\n\n"
                         "@route('/off')\n@offload\ndef off(request):\n    return 'hi'\n")
    code, log = start_failure(tmp_path / "run2", offloaded)
    assert code != 0
    assert "the script(s) off-loaded have offloaded handlers, which workers find by module name" in log
