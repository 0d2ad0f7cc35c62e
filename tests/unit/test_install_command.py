"""`orthanc-runtime install` on Debian's /etc/orthanc layout: what it writes, what it refuses,
that Debian's `orthanc` user reads it, and an Orthanc started from that folder (as that user)
running the installed script.

The layout is a copy of the files Debian's orthanc package installed on this machine
(/etc/orthanc, and the plugins folder its orthanc.json lists), in a temporary folder that
every user may traverse; only the plugins folder's path and the ports are changed.
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
from pathlib import Path

import pytest

import orthanc_native
from runtime.devkit.cli import main
from runtime.devkit.install import InstallError, install
from runtime.devkit.launcher import free_port, stop_orthanc

DEBIAN_CONFIG = Path("/etc/orthanc")
DEBIAN_PLUGINS = Path("/usr/share/orthanc/plugins")
SCRIPT = """\
from runtime import Request, route


@route('/installed/{name}')
def installed(request: Request):
    return {'hello': request.params['name']}
"""


class Layout:
    """A copy of Debian's configuration folder and plugins folder."""

    def __init__(self, top: Path) -> None:
        self.top = top
        self.config = top / "etc-orthanc"
        self.plugins = top / "plugins"
        self.script = top / "hello_installed.py"
        shutil.copytree(DEBIAN_CONFIG, self.config, symlinks=True)
        self.plugins.mkdir()
        orthanc_json = self.config / "orthanc.json"
        text = orthanc_json.read_text()
        assert '"/usr/share/orthanc/plugins/"' in text, "Debian's orthanc.json changed"
        orthanc_json.write_text(text.replace('"/usr/share/orthanc/plugins/"',
                                             json.dumps(str(self.plugins) + "/")))
        self.script.write_text(SCRIPT)
        for path in [top, self.config, self.plugins]:
            path.chmod(0o755)

    def purge_official_plugin(self) -> None:
        """What `apt-get purge orthanc-python` leaves: no python.json (its conffile)."""
        (self.config / "python.json").unlink()

    def install(self, *more: str) -> int:
        # The development venv's python is pyenv's under /root, which the orthanc user cannot
        # reach (install refuses it, rightly): the user check is skipped here and tested
        # alone below; a wheel in a venv of Debian's python is what that user can run.
        return main(["install", str(self.script), "--config-dir", str(self.config),
                     "--user", "", *more])


@pytest.fixture
def layout() -> Iterator[Layout]:
    # Not pytest's tmp_path: /tmp/pytest-of-root is root's only, and the orthanc user reads here.
    top = Path(tempfile.mkdtemp(prefix="ort-install-"))
    try:
        yield Layout(top)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def as_orthanc(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["runuser", "-u", "orthanc", "--", *command], capture_output=True,
                          text=True)


def test_install_writes_the_fragment_the_script_and_links_the_plugin(layout, capsys):
    layout.purge_official_plugin()
    assert layout.install() == 0
    fragment = layout.config / "orthanc-runtime.json"
    installed = layout.config / "orthanc-runtime.py"
    assert json.loads(fragment.read_text()) == {"PythonRuntime": {"Script": str(installed)}}
    assert installed.read_text() == SCRIPT
    link = layout.plugins / "libOrthancRuntime.so"
    assert link.is_symlink() and link.resolve() == orthanc_native.plugin_path().resolve()
    for path in (fragment, installed):
        assert path.stat().st_mode & 0o777 == 0o644, path
    out = capsys.readouterr().out
    assert f"wrote {fragment}" in out and "systemctl restart orthanc" in out
    assert main(["check-config", str(layout.config)]) == 0


def test_debian_orthanc_user_reads_what_install_wrote(layout):
    layout.purge_official_plugin()
    assert layout.install() == 0
    for path in ["orthanc-runtime.json", "orthanc-runtime.py"]:
        answer = as_orthanc("cat", str(layout.config / path))
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout == (layout.config / path).read_text()
    plugin = as_orthanc("head", "-c", "4", str(layout.plugins / "libOrthancRuntime.so"))
    assert plugin.returncode == 0 and plugin.stdout == "\x7fELF", plugin.stderr


def test_install_refuses_to_overwrite_without_force(layout, capsys):
    layout.purge_official_plugin()
    assert layout.install() == 0
    fragment = layout.config / "orthanc-runtime.json"
    section = json.loads(fragment.read_text())
    section["PythonRuntime"]["Pool"] = {"Workers": 3}
    fragment.write_text(json.dumps(section))
    capsys.readouterr()
    assert layout.install() == 1
    err = capsys.readouterr().err
    assert f"{fragment} exists: --force overwrites it" in err and "nothing was written" in err
    assert json.loads(fragment.read_text())["PythonRuntime"]["Pool"] == {"Workers": 3}

    layout.script.write_text(SCRIPT + "# second version\n")
    assert layout.install("--force") == 0
    assert json.loads(fragment.read_text())["PythonRuntime"]["Pool"] == {"Workers": 3}
    assert (layout.config / "orthanc-runtime.py").read_text().endswith("# second version\n")


def test_install_refuses_while_the_official_plugin_configuration_is_there(layout, capsys):
    # Debian's python.json (from orthanc-python) sets "PythonScript": this plugin reads it too.
    assert layout.install() == 1
    err = capsys.readouterr().err
    assert f'{layout.config / "python.json"} sets "PythonScript"' in err
    assert "apt-get purge orthanc-python" in err
    assert not (layout.config / "orthanc-runtime.json").exists()
    assert not (layout.plugins / "libOrthancRuntime.so").exists()


def test_install_refuses_when_the_official_plugin_is_loaded(layout, capsys):
    layout.purge_official_plugin()
    official = DEBIAN_PLUGINS / "libOrthancPython.so"
    (layout.plugins / official.name).symlink_to(os.readlink(official) if official.is_symlink()
                                                 else official)
    assert layout.install() == 1
    err = capsys.readouterr().err
    assert "the official Python plugin is loaded from" in err and official.name in err
    assert "this plugin refuses to start and Orthanc stops with an error" in err
    assert not (layout.config / "orthanc-runtime.json").exists()


def test_install_refuses_a_key_another_file_sets(layout, capsys):
    layout.purge_official_plugin()
    (layout.config / "mine.json").write_text('{"PythonRuntime": {"Script": "/x.py"}}')
    assert layout.install() == 1
    err = capsys.readouterr().err
    assert f'{layout.config / "mine.json"} already sets "PythonRuntime"' in err
    assert not (layout.config / "orthanc-runtime.json").exists()


def test_without_plugins_elsewhere_the_fragment_lists_the_plugin(layout):
    layout.purge_official_plugin()
    orthanc_json = layout.config / "orthanc.json"
    orthanc_json.write_text(re.sub(r'"Plugins"\s*:\s*\[[^]]*\],', "", orthanc_json.read_text()))
    assert layout.install("--name", "scripts") == 0
    fragment = json.loads((layout.config / "scripts.json").read_text())
    assert fragment["Plugins"] == [str(orthanc_native.plugin_path())]
    assert fragment["PythonRuntime"]["Script"] == str(layout.config / "scripts.py")
    assert not (layout.plugins / "libOrthancRuntime.so").exists()
    assert main(["check-config", str(layout.config)]) == 0


def test_install_refuses_a_plugin_the_orthanc_user_cannot_read(layout):
    layout.purge_official_plugin()
    private = layout.top / "private"
    private.mkdir(mode=0o700)
    plugin = private / "libOrthancRuntime.so"
    shutil.copyfile(orthanc_native.plugin_path(), plugin)
    with pytest.raises(InstallError, match=f"Orthanc's user orthanc could not use {plugin}: "
                                           f"{private} is drwx------"):
        install(layout.script, layout.config, plugin=plugin, user="orthanc")
    assert not (layout.config / "orthanc-runtime.json").exists()


def test_check_config_reads_a_folder_and_refuses_a_key_set_twice(layout, capsys):
    (layout.config / "again.json").write_text('{"HttpPort": 8043}')
    assert main(["check-config", str(layout.config)]) == 1
    err = capsys.readouterr().err
    assert '"HttpPort" is set by both' in err and "again.json" in err


def test_check_config_of_a_folder_reports_a_bad_section(layout, capsys):
    layout.purge_official_plugin()
    (layout.config / "bad.json").write_text('{"PythonRuntime": {"Pool": {"Workers": "two"}}}')
    assert main(["check-config", str(layout.config)]) == 1
    assert "$.PythonRuntime.Pool.Workers" in capsys.readouterr().err


@pytest.mark.integration
def test_orthanc_started_from_the_folder_runs_the_installed_script(layout):
    layout.purge_official_plugin()
    assert layout.install() == 0
    storage = layout.top / "db"
    storage.mkdir()
    shutil.chown(storage, "orthanc", "orthanc")
    http, dicom = free_port(), free_port()
    orthanc_json = layout.config / "orthanc.json"
    text = orthanc_json.read_text()
    for key, value in [("StorageDirectory", json.dumps(str(storage))),
                       ("IndexDirectory", json.dumps(str(storage))),
                       ("HttpPort", str(http)), ("DicomPort", str(dicom))]:
        text, count = re.subn(rf'"{key}"\s*:\s*[^,\n]+', f'"{key}" : {value}', text, count=1)
        assert count == 1, key
    orthanc_json.write_text(text)
    log = layout.top / "orthanc.log"
    with open(log, "wb") as out:
        # As root: the development venv (pyenv's python under /root) is not the orthanc
        # user's to run; a wheel in a venv of Debian's python is (not tested here yet).
        orthanc = subprocess.Popen(["/usr/sbin/Orthanc", str(layout.config)],
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env={**os.environ, "HOME": str(storage)})
    try:
        answer = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and orthanc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/installed/debian",
                                            timeout=5) as response:
                    answer = json.load(response)
                    break
            except OSError:
                time.sleep(0.2)
        assert answer == {"hello": "debian"}, log.read_text(errors="replace")[-3000:]
    finally:
        stop_orthanc(orthanc)
