"""Checks that a built wheel is portable: what its libraries load and what paths it carries.

    python -m tests.wheel_check dist/orthanc_runtime-*.whl

Every shared library of the wheel may load only the interpreter's libpython, the C++ runtime
(libstdc++, libgcc_s) and glibc's (libc, libm, the loader), has no RPATH or RUNPATH, and no
file of the wheel names a folder of the machine that built it (the clone, pyenv, the build's
temporary folders). Standard library only: it also runs in the Debian roots before anything
is installed there.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CLONE = Path(__file__).resolve().parents[1]

ALLOWED_NEEDED = re.compile(
    r"lib(python3\.\d+\.so\.1\.0|stdc\+\+\.so\.6|gcc_s\.so\.1|c\.so\.6|m\.so\.6)"
    r"|ld-linux-(x86-64|aarch64)\.so\.[12]"
)


# Shell lines that fail (exit 1), naming what is left, if a compiler, CMake or Orthanc's SDK
# header can be found: run before a wheel is installed and loaded "without build tools", in
# the Debian 13 root's copy with them purged (tests/debian_root.py) and on this machine with
# them hidden (tests/integration/test_wheels.py).
BUILD_TOOLS = "g++ c++ gcc cc cpp cmake x86_64-linux-gnu-g++ x86_64-linux-gnu-gcc"
NO_BUILD_TOOLS = rf"""
left=""
for tool in {BUILD_TOOLS}; do
    if command -v "$tool" > /dev/null; then left="$left $(command -v "$tool")"; fi
done
left="$left $(find /usr -xdev \( -name cc1plus -o -name cc1 -o -name OrthancCPlugin.h \) -print | tr '\n' ' ')"
if [ -n "$(echo $left)" ]; then
    echo "[wheel] FAILED: build tools are left:$left"
    exit 1
fi
echo "[wheel] no build tools: command -v finds no g++, gcc or cmake; no cc1plus, cc1 or OrthancCPlugin.h under /usr"
"""


def build_paths() -> list[str]:
    """Folders of the building machine that must not appear in a wheel."""
    return sorted({str(CLONE), "/root/.pyenv", "/.pyenv/", "/tmp/pip-", "/tmp/tmp",
                   str(CLONE / "build"), str(CLONE / ".venv")})


def dynamic_section(library: Path) -> tuple[list[str], list[str]]:
    """NEEDED entries and RPATH/RUNPATH entries of an ELF library (readelf -d)."""
    out = subprocess.run(["readelf", "-d", str(library)], capture_output=True, text=True,
                         check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", out)
    paths = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[([^]]*)\]", out)
    return needed, paths


def problems(wheel: Path) -> list[str]:
    """What makes ``wheel`` unportable, one line each (empty: it is fine)."""
    found: list[str] = []
    forbidden = build_paths()
    with tempfile.TemporaryDirectory() as folder:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(folder)
        root = Path(folder)
        libraries = [p for p in root.rglob("*") if p.is_file() and ".so" in p.name]
        if not any(p.name.startswith("libOrthancRuntime") for p in libraries):
            found.append(f"{wheel.name}: no libOrthancRuntime*.so inside")
        for library in libraries:
            name = library.relative_to(root)
            needed, paths = dynamic_section(library)
            extra = [n for n in needed if not ALLOWED_NEEDED.fullmatch(n)]
            if extra:
                found.append(f"{name}: needs {', '.join(extra)}")
            if paths:
                found.append(f"{name}: has RPATH/RUNPATH {', '.join(paths)}")
        for member in sorted(p for p in root.rglob("*") if p.is_file()):
            data = member.read_bytes()
            for path in forbidden:
                if path.encode() in data:
                    found.append(f"{member.relative_to(root)}: names the build machine's {path}")
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    failed = False
    for name in argv:
        found = problems(Path(name))
        for line in found:
            print(f"wheel_check: {line}", file=sys.stderr)
        print(f"wheel_check: {Path(name).name}: {'NOT portable' if found else 'portable'}")
        failed |= bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
