"""``orthanc-runtime install``: adds the plugin and a script to an Orthanc that already runs.

Orthanc reads a configuration folder (Debian's ``/etc/orthanc``) by merging every ``*.json``
of it, and refuses to start when two files set the same top-level key. So the command
writes a file of its own and sets no key that another file sets::

    <config-dir>/<name>.json     {"PythonRuntime": {"Script": "<config-dir>/<name>.py"}}
                                 (+ "Plugins": [<plugin>] when no other file sets "Plugins")
    <config-dir>/<name>.py       a copy of the script, readable by Orthanc's user
    <plugins-dir>/libOrthancRuntime.so -> the plugin in its venv
                                 when another file's "Plugins" lists a folder (Debian's
                                 orthanc.json lists /usr/share/orthanc/plugins/)

The plugin finds its venv through that symlink (its real path). The command refuses,
before writing anything: a file it would write that exists (``--force`` overwrites it,
keeping the other settings of the section), a key that another file sets, Debian's
official Python plugin loaded by the same configuration, and files that Orthanc's user
could not read. Then the merged folder is validated as ``check-config`` does.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.configuration import SECTION, check_orthanc_config, load_config, load_config_file

LINK_NAME = "libOrthancRuntime.so"
# The official plugin (Debian's orthanc-python: libOrthancPython.so): both embed CPython.
# When it runs a script it starts Python first, and this plugin then refuses to start
# (orthanc_native/src/sdk_module.cpp): Orthanc stops with an error.
OFFICIAL_PLUGIN = "libOrthancPython"
# The official plugin's own keys: this plugin reads them too, so one left by the official
# plugin's configuration (Debian's python.json) would run its script here as well.
OFFICIAL_KEYS = ("PythonScript", "Python")


class InstallError(Exception):
    """Why nothing was installed; the message says what to do."""


@dataclass
class Plan:
    """What ``install`` writes, decided before anything is written."""

    fragment: Path
    script: Path
    configuration: dict[str, Any]
    link: Path | None = None
    plugin: Path = field(default_factory=Path)

    def written(self) -> list[Path]:
        return [self.fragment, self.script, *([self.link] if self.link else [])]


def install(script: Path, config_dir: Path, *, plugin: Path, name: str = "orthanc-runtime",
            plugins_dir: Path | None = None, user: str | None = "orthanc",
            force: bool = False) -> Plan:
    """Checks, then writes the files of :class:`Plan`; raises :class:`InstallError`."""
    found = plan(script, config_dir, plugin=plugin, name=name, plugins_dir=plugins_dir,
                 force=force)
    if user is not None:
        check_readable(found, user)
    write(found, source=script)
    merged = load_config(config_dir)
    problems = check_orthanc_config(merged)
    if problems:
        raise InstallError("the configuration folder is not valid after the install: " +
                           "; ".join(f"{p.path}: {p.message}" for p in problems))
    return found


def plan(script: Path, config_dir: Path, *, plugin: Path, name: str,
         plugins_dir: Path | None, force: bool) -> Plan:
    if not script.is_file():
        raise InstallError(f"no such script: {script}")
    if not config_dir.is_dir():
        raise InstallError(f"no such configuration folder: {config_dir}")
    if not name or "/" in name or name.startswith("."):
        raise InstallError(f"--name {name!r}: a plain file name is needed")
    config_dir = config_dir.resolve()
    fragment = config_dir / f"{name}.json"
    target_script = config_dir / f"{name}.py"

    others: dict[str, tuple[Any, Path]] = {}
    for file in sorted(config_dir.glob("*.json")):
        if file == fragment or not file.is_file():
            continue
        try:
            config = load_config_file(file)
        except (OSError, ValueError) as error:
            raise InstallError(f"cannot read {file}, which Orthanc reads too: {error}") from None
        for key, value in config.items():
            others.setdefault(key, (value, file))

    if SECTION in others:
        raise InstallError(f'{others[SECTION][1]} already sets "{SECTION}": Orthanc refuses a '
                           "key that two files of its folder set; put the settings there, or "
                           "remove that file")
    for key in OFFICIAL_KEYS:
        if key in others:
            raise InstallError(
                f'{others[key][1]} sets "{key}", the official Python plugin\'s configuration: '
                "orthanc-runtime reads it too and would run that script as well; remove the "
                "file (Debian: apt-get purge orthanc-python removes python.json)")

    previous: dict[str, Any] = {}
    for path in (fragment, target_script):
        if (path.exists() or path.is_symlink()) and not force:
            raise InstallError(f"{path} exists: --force overwrites it")
    if fragment.is_file():
        try:
            previous = load_config_file(fragment)
        except ValueError:
            previous = {}

    section = dict(previous.get(SECTION, {})) if isinstance(previous.get(SECTION), dict) else {}
    section["Script"] = str(target_script)
    configuration: dict[str, Any] = {SECTION: section}

    link: Path | None = None
    listed = others.get("Plugins", (None, None))[0]
    if listed is not None and not isinstance(listed, list):
        raise InstallError(f'"Plugins" in {others["Plugins"][1]} is not a list')
    listed_paths = [Path(entry) for entry in (listed or []) if isinstance(entry, str)]
    if plugins_dir is not None:
        if not plugins_dir.is_dir():
            raise InstallError(f"no such plugins folder: {plugins_dir}")
        if listed is not None and plugins_dir.resolve() not in {p.resolve() for p in listed_paths}:
            raise InstallError(f'{plugins_dir} is not in "Plugins" of {others["Plugins"][1]}: '
                               "Orthanc would not load the plugin from there; add it there")
        link = plugins_dir.resolve() / LINK_NAME
    elif listed is not None:
        folders = [p for p in listed_paths if p.is_dir()]
        if not folders:
            raise InstallError(
                f'"Plugins" in {others["Plugins"][1]} lists no folder, and another file cannot '
                f'set it again: add {plugin} to that list yourself, or give --plugins-dir')
        link = folders[0].resolve() / LINK_NAME
    if link is None:
        configuration["Plugins"] = [str(plugin)]
    elif listed is None:
        configuration["Plugins"] = [str(link.parent)]
    if link is not None and (link.is_symlink() or link.exists()):
        if link.resolve() != plugin.resolve() and not force:
            raise InstallError(f"{link} exists and is not a link to {plugin}: --force replaces it")

    loaded = [p for p in listed_paths if p.exists()] + ([link.parent] if link else [])
    for entry in loaded:
        candidates = sorted(entry.iterdir()) if entry.is_dir() else [entry]
        for candidate in candidates:
            if candidate.name.startswith(OFFICIAL_PLUGIN) and ".so" in candidate.name:
                raise InstallError(
                    f"the official Python plugin is loaded from {candidate}: both plugins embed "
                    "Python, and once it runs a script (\"PythonScript\") this plugin refuses "
                    "to start and Orthanc stops with an error; remove it first (Debian: "
                    "apt-get purge orthanc-python)")
    return Plan(fragment, target_script, configuration, link, plugin)


def write(found: Plan, *, source: Path) -> None:
    found.fragment.write_text(json.dumps(found.configuration, indent=2) + "\n")
    os.chmod(found.fragment, 0o644)
    if source.resolve() != found.script.resolve():
        shutil.copyfile(source, found.script)
    os.chmod(found.script, 0o644)
    if found.link is not None:
        if found.link.is_symlink() or found.link.exists():
            found.link.unlink()
        found.link.symlink_to(found.plugin)


def check_readable(found: Plan, user: str) -> None:
    """Refuses when Orthanc's ``user`` could not read the plugin, its venv's python, or the
    folder the files go to (owner, group and other bits along each path; no ACLs)."""
    try:
        account = pwd.getpwnam(user)
    except KeyError:
        raise InstallError(f"no user {user!r} on this machine: --user names the user Orthanc "
                           "runs as (Debian: orthanc)") from None
    groups = {account.pw_gid, *(g.gr_gid for g in grp.getgrall() if user in g.gr_mem)}
    venv_python = venv_of(found.plugin)
    needs = [(found.plugin.resolve(), os.R_OK), (found.fragment.parent, os.X_OK | os.R_OK)]
    if venv_python is not None:
        needs.append((venv_python.resolve(), os.X_OK))
    if found.link is not None:
        needs.append((found.link.parent, os.X_OK | os.R_OK))
    for path, mode in needs:
        why = denied(path, mode, account.pw_uid, groups)
        if why:
            raise InstallError(f"Orthanc's user {user} could not use {path}: {why}; install the "
                               "venv where that user can read it (say /opt/orthanc-runtime)")


def venv_of(plugin: Path) -> Path | None:
    """The bin/python of the venv that holds ``plugin``, as the plugin finds it."""
    for folder in plugin.resolve().parents:
        if (folder / "pyvenv.cfg").is_file():
            return folder / "bin" / "python"
    return None


def denied(path: Path, mode: int, uid: int, groups: set[int]) -> str:
    """Why ``uid`` may not reach ``path`` with ``mode`` ("" when it may)."""
    if uid == 0:
        return ""
    wanted = [(path, mode)] + [(parent, os.X_OK) for parent in path.parents]
    for item, bits in wanted:
        info = item.stat()
        if info.st_uid == uid:
            allowed = (info.st_mode >> 6) & 7
        elif info.st_gid in groups:
            allowed = (info.st_mode >> 3) & 7
        else:
            allowed = info.st_mode & 7
        if allowed & bits != bits:
            return f"{item} is {stat.filemode(info.st_mode)} ({info.st_uid}:{info.st_gid})"
    return ""
