"""The built plugin and the `_regex` extension need nothing beyond the C and C++ runtimes and
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


def needed(library: Path) -> set[str]:
    """The sonames `ldd` lists for a library, resolved or not."""
    answer = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True)
    names = set()
    for line in answer.stdout.splitlines():
        match = re.match(r"\s*(\S+)", line)
        if match:
            names.add(Path(match.group(1)).name)
    assert "not found" not in answer.stdout, answer.stdout
    return names


def test_the_plugin_needs_only_libc_libstdcxx_and_libpython() -> None:
    plugin = orthanc_native.plugin_path()
    names = needed(plugin)
    assert LIBPYTHON in names, f"{plugin} does not load {LIBPYTHON}: {sorted(names)}"
    assert names - ALLOWED - {LIBPYTHON} == set(), f"{plugin} needs {sorted(names - ALLOWED)}"


def test_the_regex_extension_needs_only_libc_and_libstdcxx() -> None:
    extension = next(orthanc_native.plugin_path().parent.glob("_regex*.so"))
    names = needed(extension)
    assert names - ALLOWED == set(), f"{extension} needs {sorted(names - ALLOWED)}"


@pytest.mark.parametrize("forbidden", ["boost", "icu"])
def test_no_boost_or_icu_library_is_loaded(forbidden: str) -> None:
    plugin = orthanc_native.plugin_path()
    for library in [plugin, *plugin.parent.glob("_regex*.so")]:
        assert not [n for n in needed(library) if forbidden in n.lower()], library
