"""A portable wheel, as someone with Debian's `orthanc` service installs it (docs/install.md):
installed with ``--only-binary :all:`` into a fresh venv of Debian's python that the `orthanc`
user can read, added to a copy of this machine's /etc/orthanc by that venv's ``orthanc-runtime
install``, and loaded by Debian's Orthanc (/usr/sbin/Orthanc) running AS the `orthanc` user.

Here (Debian 12): the cp311 wheel of /usr/bin/python3.11, built and repaired once per session
(tests/wheel_build.py), installed and loaded by Orthanc 1.10.1 with the compilers, CMake and
Orthanc's SDK header hidden (HIDE_BUILD_TOOLS: this machine builds the plugin, so has them). The Debian 13 root's wheel step
(tests/debian_root.py) runs this file with the cp313 wheel it built there, in a copy of that
root without g++, cmake and orthanc-dev, and Orthanc 1.12.7: ``ORTHANC_RUNTIME_WHEEL`` names a
wheel already built (not built again), ``ORTHANC_RUNTIME_WHEEL_PYTHON`` the python of the venv.

Only the copy's ports and storage folders differ from Debian's files, and its plugins
folder (a copy of Debian's, without the official Python plugin: docs/install.md purges
orthanc-python first). The cp311 build takes 276 s from a clean clone (2 cores, 2026-12-06: the
whole file 295 s), 3 s with build/wheel's cmake folder warm (the file 26 s). Not in the
roots' own test runs (tests/debian_root.py's LEFT_OUT): trixie's wheel step runs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.devkit.launcher import free_port, stop_orthanc
from tests import wheel_build, wheel_check

DEBIAN_PYTHON = os.environ.get("ORTHANC_RUNTIME_WHEEL_PYTHON", "/usr/bin/python3.11")
PREBUILT = os.environ.get("ORTHANC_RUNTIME_WHEEL")  # a wheel built before (the roots' step)
DEBIAN_ORTHANC = "/usr/sbin/Orthanc"
DEBIAN_CONFIG = Path("/etc/orthanc")
DEBIAN_PLUGINS = Path("/usr/share/orthanc/plugins")
OFFICIAL_PLUGIN = "libOrthancPython.so"
# Hides the compilers, CMake and Orthanc's SDK header from what runs next, in a mount
# namespace of its own: an empty file over each tool, an empty tmpfs over gcc's and the
# header's folders; then checks that none is left (wheel_check.NO_BUILD_TOOLS) and runs its
# arguments. This machine has them (it builds the plugin); the Debian 13 root's copy has them
# purged, and there this hides nothing and checks the same.
HIDE_BUILD_TOOLS = rf"""
empty=$(mktemp)
for tool in {wheel_check.BUILD_TOOLS}; do
    found=$(command -v "$tool") && mount --bind "$empty" "$(readlink -f "$found")"
done
rm -f "$empty"
for folder in /usr/lib/gcc /usr/libexec/gcc /usr/include/orthanc; do
    if [ -d "$folder" ]; then mount -t tmpfs none "$folder"; fi
done
{wheel_check.NO_BUILD_TOOLS}
exec "$@"
"""
SCRIPT = """\
from runtime import Request, route


@route('/from-the-wheel/{name}')
def from_the_wheel(request: Request):
    return {'hello': request.params['name']}
"""


def without_build_tools(argv: list[str]) -> list[str]:
    """``argv`` run where no compiler, CMake or SDK header can be found (HIDE_BUILD_TOOLS)."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-ec", HIDE_BUILD_TOOLS,
            "sh", *argv]


@dataclass
class Built:
    wheel: Path
    seconds: float
    python: str  # the version of DEBIAN_PYTHON, "3.11"

    @property
    def tag(self) -> str:
        return "cp" + self.python.replace(".", "")


@dataclass
class Venv:
    top: Path
    path: Path
    python: str

    @property
    def plugin(self) -> Path:
        [plugin] = self.path.glob(f"lib/python{self.python}/site-packages/**/libOrthancRuntime*.so")
        return plugin


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """The repaired wheel of DEBIAN_PYTHON, built once per session (cmake's folder in
    build/wheel keeps a second session incremental), or the one ORTHANC_RUNTIME_WHEEL names."""
    assert Path(DEBIAN_PYTHON).is_file(), f"{DEBIAN_PYTHON} (Debian's python) is needed"
    python = wheel_build.python_version(DEBIAN_PYTHON)
    if PREBUILT:
        assert Path(PREBUILT).is_file(), f"ORTHANC_RUNTIME_WHEEL={PREBUILT}: no such file"
        return Built(Path(PREBUILT), 0.0, python)
    started = time.monotonic()
    wheel = wheel_build.build(DEBIAN_PYTHON, tmp_path_factory.mktemp("wheel"))
    seconds = time.monotonic() - started
    print(f"\n[wheel] {wheel.name} built in {seconds:.0f} s")
    return Built(wheel, seconds, python)


def chmod_tree(top: Path) -> None:
    """Every folder from ``top`` down 0755: mkdtemp makes it 0700, the orthanc user must read."""
    top.chmod(0o755)
    for folder in top.rglob("*"):
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)


@pytest.fixture(scope="module")
def venv(built) -> Iterator[Venv]:
    # Not pytest's tmp_path: /tmp/pytest-of-root is root's only.
    top = Path(tempfile.mkdtemp(prefix="ort-wheel-"))
    try:
        path = top / "venv"
        subprocess.run([DEBIAN_PYTHON, "-m", "venv", str(path)], check=True)
        done = subprocess.run(without_build_tools([str(path / "bin/pip"), "install", "-q",
                                                   "--only-binary", ":all:", str(built.wheel)]),
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        print(done.stdout.strip())
        assert "[wheel] no build tools" in done.stdout
        chmod_tree(top)
        yield Venv(top, path, built.python)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_the_wheel_is_portable(built):
    assert wheel_check.problems(built.wheel) == []
    assert re.fullmatch(rf"orthanc_runtime-.+-{built.tag}-{built.tag}-manylinux_2_\d+_x86_64\.whl",
                        built.wheel.name), built.wheel.name


def test_the_plugin_in_the_venv_needs_no_build_path(venv):
    needed, paths = wheel_check.dynamic_section(venv.plugin)
    assert paths == [], f"{venv.plugin} has RPATH/RUNPATH {paths}"
    assert [n for n in needed if not wheel_check.ALLOWED_NEEDED.fullmatch(n)] == [], needed
    data = venv.plugin.read_bytes()
    assert [p for p in wheel_check.build_paths() if p.encode() in data] == []
    # The loader finds every library without the build machine's folders.
    ldd = subprocess.run(["ldd", str(venv.plugin)], capture_output=True, text=True, check=True)
    assert "not found" not in ldd.stdout, ldd.stdout


def copy_owned(source: Path, target: Path) -> None:
    """``source`` copied to ``target`` with its modes and owners (credentials.json is
    root:orthanc 0640 on Debian: the orthanc user reads it through its group)."""
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        original = source / path.relative_to(target)
        status = original.lstat()
        os.chown(path, status.st_uid, status.st_gid, follow_symlinks=False)


@dataclass
class Service:
    """A copy of Debian's orthanc service's folders: configuration, plugins, storage."""

    top: Path
    config: Path
    plugins: Path
    storage: Path
    http: int
    dicom: int


@pytest.fixture
def service(venv) -> Iterator[Service]:
    top = Path(tempfile.mkdtemp(prefix="ort-service-"))
    try:
        config, plugins, storage = top / "etc-orthanc", top / "plugins", top / "db"
        copy_owned(DEBIAN_CONFIG, config)
        # Debian's plugins (links, relative to /usr/share/orthanc/plugins: made absolute),
        # without what `apt-get purge orthanc-python` removes: its plugin and python.json.
        plugins.mkdir()
        for plugin in sorted(DEBIAN_PLUGINS.iterdir()):
            if plugin.name != OFFICIAL_PLUGIN:
                (plugins / plugin.name).symlink_to(plugin.resolve())
        (config / "python.json").unlink()
        storage.mkdir()
        shutil.chown(storage, "orthanc", "orthanc")
        http, dicom = free_port(), free_port()
        orthanc_json = config / "orthanc.json"
        text = orthanc_json.read_text()
        for key, value in [("Plugins", f"[ {json.dumps(str(plugins) + '/')} ]"),
                           ("StorageDirectory", json.dumps(str(storage))),
                           ("IndexDirectory", json.dumps(str(storage))),
                           ("HttpPort", str(http)), ("DicomPort", str(dicom))]:
            text, count = re.subn(rf'"{key}"\s*:\s*(\[[^]]*\]|[^,\n]+)', f'"{key}" : {value}',
                                  text, count=1)
            assert count == 1, key
        orthanc_json.write_text(text)
        for folder in (top, plugins):
            folder.chmod(0o755)
        yield Service(top, config, plugins, storage, http, dicom)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_debians_orthanc_as_its_user_runs_a_script_from_the_wheels_venv(venv, service):
    script = service.top / "hello_wheel.py"
    script.write_text(SCRIPT)
    done = subprocess.run([str(venv.path / "bin/orthanc-runtime"), "install", str(script),
                           "--config-dir", str(service.config), "--user", "orthanc"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "systemctl restart orthanc" in done.stdout
    link = service.plugins / "libOrthancRuntime.so"
    assert link.resolve() == venv.plugin.resolve()
    assert json.loads((service.config / "orthanc-runtime.json").read_text()) == {
        "PythonRuntime": {"Script": str(service.config / "orthanc-runtime.py")}}
    checked = subprocess.run([str(venv.path / "bin/orthanc-runtime"), "check-config",
                              str(service.config)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    log = service.top / "orthanc.log"
    with open(log, "wb") as out:
        orthanc = subprocess.Popen(
            without_build_tools(["setpriv", "--reuid=orthanc", "--regid=orthanc",
                                 "--init-groups", DEBIAN_ORTHANC, str(service.config)]),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin", "HOME": str(service.storage), "LANG": "C.UTF-8"})
    try:
        answer = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and orthanc.poll() is None:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{service.http}/from-the-wheel/debian",
                        timeout=5) as response:
                    answer = json.load(response)
                    break
            except OSError:
                time.sleep(0.2)
        text = log.read_text(errors="replace")
        assert answer == {"hello": "debian"}, text[-3000:]
        assert "[wheel] no build tools" in text, text[-3000:]
        # Orthanc runs as the orthanc user, and the plugin found the venv's python itself.
        owner = subprocess.run(["ps", "-o", "user=", "-p", str(orthanc.pid)],
                               capture_output=True, text=True).stdout.strip()
        assert owner == "orthanc"
        found = re.search(r"loaded .+ \(\d+ route\(s\) and \d+ of the runtime.s own, .+ in Orthanc (\S+), Python (\S+) from (\S+)",
                          text)
        assert found, text[-3000:]
        print(f"\n[wheel] Orthanc's log: {found.group(0)}")
        version = subprocess.run([DEBIAN_ORTHANC, "--version"], capture_output=True, text=True)
        assert found.group(1) == version.stdout.split()[1], version.stdout
        assert found.group(2).startswith(f"{venv.python}."), found.group(2)
        assert found.group(3) == str(venv.path / "bin" / "python")
    finally:
        stop_orthanc(orthanc)
