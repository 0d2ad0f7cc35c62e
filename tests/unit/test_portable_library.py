"""The built plugin and its extensions (`_regex`, `_fastwire`) need nothing beyond the C and C++ runtimes and
libpython, so that a plugin built on one Debian loads on another (boost's regex is header-only)."""

from __future__ import annotations

import re
import subprocess
import sysconfig
from pathlib import Path

import pytest

import orthanc_native

# What a library built here may load: the dynamic loader, the C and C++ runtimes, the kernel's
# vDSO, and (the plugin only) the interpreter's own libpython.
ALLOWED = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1",
           "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
LIBPYTHON = sysconfig.get_config_var("INSTSONAME")


def resolved(library: Path) -> dict[str, str]:
    """What `ldd` lists for a library: soname -> the file it resolves to ("" for the vDSO)."""
    answer = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True)
    assert "not found" not in answer.stdout, answer.stdout
    found = {}
    for line in answer.stdout.splitlines():
        match = re.match(r"\s*(\S+)(?:\s+=>\s+(\S+))?", line)
        if match:
            found[Path(match.group(1)).name] = match.group(2) or ""
    return found


def needed(library: Path) -> set[str]:
    return set(resolved(library))


def test_the_plugin_needs_only_libc_libstdcxx_and_libpython() -> None:
    """What the plugin loads beyond libpython's own needs (a Debian libpython loads libz and
    libexpat, say: they come with the interpreter, wherever it is installed)."""
    plugin = orthanc_native.plugin_path()
    found = resolved(plugin)
    assert LIBPYTHON in found, f"{plugin} does not load {LIBPYTHON}: {sorted(found)}"
    from_python = needed(Path(found[LIBPYTHON]))
    extra = set(found) - ALLOWED - {LIBPYTHON} - from_python
    assert extra == set(), f"{plugin} needs {sorted(extra)}"


@pytest.mark.parametrize("name", ["_regex", "_fastwire"])
def test_the_extensions_need_only_libc_and_libstdcxx(name: str) -> None:
    extension = next(orthanc_native.plugin_path().parent.glob(f"{name}*.so"))
    names = needed(extension)
    assert names - ALLOWED == set(), f"{extension} needs {sorted(names - ALLOWED)}"


@pytest.mark.parametrize("forbidden", ["boost", "icu"])
def test_no_boost_or_icu_library_is_loaded(forbidden: str) -> None:
    plugin = orthanc_native.plugin_path()
    for library in [plugin, *plugin.parent.glob("_regex*.so"), *plugin.parent.glob("_fastwire*.so")]:
        assert not [n for n in needed(library) if forbidden in n.lower()], library
