"""The project built and tested inside Debian 13 (trixie) and Debian unstable (sid) roots.

``make test`` runs the suite on this machine (Debian 12, Orthanc 1.10.1, Python 3.11); these
roots give it the newer Orthancs people run: trixie's Orthanc 1.12.7 with Python 3.13, sid's
Orthanc 1.13.0 with Python 3.14, each with Debian's official Python plugin beside ours.

    python -m tests.debian_root make [SUITE...]   # build/roots/<suite>, from a cached tarball
    python -m tests.debian_root test [SUITE...]   # build the project in each root, run its tests
    python -m tests.debian_root test sid --repeat 20 --paths tests/integration/test_x.py::test_y
                                                  # one build, 20 runs: how often a test fails
    python -m tests.debian_root wheel trixie      # its cp313 wheel into dist/ (make wheel)

The steps, and where each thing lives::

    debootstrap SUITE (MIRROR from this machine's apt sources)        -- cold only
        -> $ORTHANC_RUNTIME_ROOTS/<suite>-<key>.tar.zst               -- key: suite + PACKAGES
        -> <clone>/build/roots/<suite>                                  -- extracted, gitignored
    git ls-files -> <root>/work/orthanc-runtime                         -- synced, mtimes kept
        -> .venv there (that Debian's python3), pip install -e '.[test,dev,dask,otel]' (incremental)
        -> pytest -n WORKERS tests/integration, minus LEFT_OUT
    trixie only, the wheel step (test; --no-wheel skips it):
    tests/wheel_build.py with the root's /usr/bin/python3 -> build/wheel/dist there (and dist/
        here for `wheel`)
    a copy of the root: overlay, tmpfs upper layer  -- g++, gcc, cmake, orthanc-dev purged there
        -> tests/integration/test_wheels.py with that wheel (ORTHANC_RUNTIME_WHEEL)

The cache is outside the clone (``/var/cache/orthanc-runtime/roots`` unless
``ORTHANC_RUNTIME_ROOTS`` says otherwise), so that a clean clone only extracts; a tarball
older than ``ORTHANC_RUNTIME_ROOTS_MAX_DAYS`` (3) days is rebuilt, as sid moves. Everything
that mounts (debootstrap itself, and every command in a root) runs in a private mount
namespace of its own (``unshare --mount``): its mounts end with it, even when it is killed,
and this machine never sees them. Runs as root.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests import wheel_check

CLONE = Path(__file__).resolve().parents[1]
ROOTS = CLONE / "build" / "roots"
CACHE = Path(os.environ.get("ORTHANC_RUNTIME_ROOTS", "/var/cache/orthanc-runtime/roots"))
MAX_DAYS = float(os.environ.get("ORTHANC_RUNTIME_ROOTS_MAX_DAYS", "3"))
WORKERS = os.environ.get("ORTHANC_RUNTIME_ROOTS_WORKERS", "4")
PROJECT = "/work/orthanc-runtime"  # the clone's copy inside a root
SEED = CLONE.parent / "shared" / "seed"  # tests/integration/test_seed_samples.py reads it there
STAMP = ".orthanc-runtime-root"
HOST_CA = "/etc/ssl/certs/host-ca-certificates.crt"  # this machine's CA bundle, in a root
COPY_SIZE = "4g"  # the most the wheel step's copy of a root may write (its tmpfs): about 0.2 GB (the purge 86 MB, the venv 120 MB)

# What building the plugin and running its tests needs in a minbase root: Orthanc and its
# SDK header, the official plugin (the API comparison), the DICOMweb plugin, the compiler and
# headers (boost's regex is header-only), DCMTK's clients, wrk (the benchmark's smoke test),
# the Python the official plugin's samples use (numpy: its P12 baseline decodes pixels), and
# ps/kill (procps).
PACKAGES = sorted("""
    orthanc orthanc-dev orthanc-python orthanc-dicomweb
    python3 python3-venv python3-dev python3-pil python3-pydicom python3-numpy
    g++ cmake make nlohmann-json3-dev libboost-dev
    dcmtk wrk ca-certificates procps
""".split())


@dataclass(frozen=True)
class Suite:
    name: str
    describes: str  # what the root holds, for messages
    apt_conf: str = ""  # written to the root's /etc/apt/apt.conf.d, for apt run there later
    wheel: bool = False  # the root's python gets a wheel, tested without build tools


SUITES = {
    "trixie": Suite("trixie", "Debian 13: Orthanc 1.12.7, official plugin 5.0, Python 3.13",
                    wheel=True),
    # sid's Release files expire within days; an older mirror snapshot is still fine to use.
    "sid": Suite("sid", "Debian unstable: Orthanc 1.13.0, official plugin 7.1, Python 3.14",
                 'Acquire::Check-Valid-Until "false";\n'),
}

# Tests that the roots leave out, by pytest node id (a whole file, or one test), with the
# reason. The list is here and only here; a root prints it before its run. Each is a
# difference of the newer Orthanc that the plugin does not yet smooth over (issue 24's
# follow-up), of the official plugin there, or of the roots' Python (not Debian 12's 3.11);
# every other test of tests/integration runs.
MAKE_DEMO = "tests/integration/test_doc_commands.py::test_make_demo_as_the_readme_says_serves_the_recipes_until_ctrl_c"
MAKE_DEMO_REASON = ("make demo installs Debian 12's packages and .venv through the Makefile, "
                    "which a root's build (pip install -e there) does not go through")
BROWSER_TEST = "tests/integration/test_operator_page.py"
BROWSER_REASON = ("drives Debian's chromium through chromium-driver, which took 115 packages and "
                  "504 MB on this Debian 12 machine, more in a minbase root; the page's routes, "
                  "its data and its link in "
                  "Orthanc Explorer are tested there over plain HTTP "
                  "(tests/integration/test_operator_page_routes.py)")

LEFT_OUT: dict[str, dict[str, str]] = {
    "trixie": {
        BROWSER_TEST: BROWSER_REASON,
        "tests/integration/test_wheels.py":
            "runs after these tests in the wheel step, on this root's cp313 wheel and in a copy of "
            "the root without g++, cmake and orthanc-dev (here it would build the cp311 wheel of "
            "Debian 12's /usr/bin/python3.11, which this root lacks)",
        MAKE_DEMO: MAKE_DEMO_REASON,
    },
    "sid": {
        BROWSER_TEST: BROWSER_REASON,
        "tests/integration/test_wheels.py":
            "builds the cp311 wheel of Debian 12's /usr/bin/python3.11, which this root lacks; "
            "the wheels are Debian 12's and 13's (issue 27), so sid has no wheel step",
        "tests/integration/test_bench_smoke.py":
            "the benchmark's baseline server runs the official 7.1 plugin with a multiprocessing "
            "pool, which that plugin cannot start on Python 3.14 (forkserver relaunches Orthanc)",
        MAKE_DEMO: MAKE_DEMO_REASON,
    },
}


class RootError(RuntimeError):
    """A step of making or testing a root failed; the message says which, where, and why."""


# -- the mirror and the cache ------------------------------------------------------------------

def mirror() -> str:
    """The Debian mirror of this machine's own apt sources (deb822 files first, then
    sources.list): the first ``deb`` URI that is not a security archive."""
    uris: list[str] = []
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split():
                uris += fields.get("URIs", "").split()
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]:
        if path.exists():
            uris += re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", path.read_text(), re.MULTILINE)
    for uri in uris:
        if uri.startswith(("http://", "https://")) and "security" not in uri:
            return uri.rstrip("/")
    raise RootError("no Debian mirror in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list")


def tarball(suite: Suite) -> Path:
    """The cached root of ``suite``: its name changes with the package list."""
    key = hashlib.sha256(f"{suite.name} minbase {' '.join(PACKAGES)}".encode()).hexdigest()[:12]
    return CACHE / f"{suite.name}-{key}.tar.zst"


def mounts_under(path: Path) -> list[str]:
    """The mount points at or under ``path`` that this process sees."""
    prefix = str(path.resolve())
    points = [line.split()[4].replace("\\040", " ")
              for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    return [p for p in points if p == prefix or p.startswith(prefix + "/")]


def remove_tree(path: Path) -> None:
    """``rm -rf path``, refused while anything is mounted in it."""
    if mounted := mounts_under(path):
        raise RootError(f"not removing {path}: still mounted there: {', '.join(mounted)}")
    if path.exists():
        shutil.rmtree(path)


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """One builder of a tarball at a time (two `make test` on one machine)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_tarball(suite: Suite, target: Path) -> float:
    """debootstrap ``suite`` and pack it as ``target``: the seconds it took."""
    started = time.monotonic()
    staging = CACHE / f"{suite.name}.staging"
    log = CACHE / f"{suite.name}.debootstrap.log"
    remove_tree(staging)
    source = mirror()
    print(f"[roots] debootstrap {suite.name} from {source} ({len(PACKAGES)} packages and their "
          f"dependencies, a few minutes; log {log})", flush=True)
    command = ["unshare", "--mount", "--propagation", "private", "debootstrap", "--variant=minbase",
               f"--include={','.join(PACKAGES)}", suite.name, str(staging), source]
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        lines = log.read_text(errors="replace").splitlines()
        errors = [line for line in lines if line.startswith(("E:", "W:"))] or lines[-15:]
        raise RootError(f"debootstrap of {suite.name} from {source} failed ({done.returncode}); "
                        f"from {log}:\n" + "\n".join(errors[-15:]))
    if suite.apt_conf:
        (staging / "etc/apt/apt.conf.d/90orthanc-runtime").write_text(suite.apt_conf)
    for deb in (staging / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()
    partial = target.with_suffix(".partial")
    run(["tar", "--numeric-owner", "-I", "zstd -T0 -3", "-C", str(staging), "-cf", str(partial), "."],
        f"packing the {suite.name} root")
    partial.rename(target)
    for old in CACHE.glob(f"{suite.name}-*.tar.zst"):
        if old != target:
            old.unlink()
    remove_tree(staging)
    return time.monotonic() - started


def run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RootError(f"{what} failed ({done.returncode}): {shlex.join(command)}\n{done.stderr[-3000:]}")


# -- the roots -----------------------------------------------------------------------------------

def make_root(suite: Suite) -> Path:
    """``build/roots/<suite>``, extracted from the cached tarball (built first if missing,
    stale or of another package list); left as it is when already extracted from it."""
    target = tarball(suite)
    with locked(suite.name):
        age_days = (time.time() - target.stat().st_mtime) / 86400 if target.exists() else None
        if age_days is None or age_days > MAX_DAYS:
            why = "none cached" if age_days is None else f"the cached one is {age_days:.1f} days old"
            print(f"[roots] {suite.name}: building {target.name} ({why})", flush=True)
            took = build_tarball(suite, target)
            print(f"[roots] {suite.name}: debootstrap and pack took {took:.0f} s", flush=True)
        root = ROOTS / suite.name
        stamp = f"{target.name} {target.stat().st_mtime_ns}\n"
        if (root / STAMP).exists() and (root / STAMP).read_text() == stamp:
            return root
        started = time.monotonic()
        remove_tree(root)
        root.mkdir(parents=True)
        run(["tar", "--numeric-owner", "-I", "zstd -T0", "-C", str(root), "-xf", str(target)],
            f"extracting {target}")
        (root / STAMP).write_text(stamp)
        print(f"[roots] {suite.name}: extracted {target.name} in {time.monotonic() - started:.0f} s",
              flush=True)
    return root


def sync_clone(root: Path) -> None:
    """The clone's tracked files into ``<root>/work/orthanc-runtime``, modification times kept
    (so that the build there stays incremental); files no longer tracked go. The root's own
    venv and build folder stay; the host's are never read."""
    listed = subprocess.run(["git", "-C", str(CLONE), "ls-files", "-z"], capture_output=True,
                            check=True).stdout.decode().split("\0")
    tracked = {name for name in listed if name and (CLONE / name).is_file()}
    copy = root / PROJECT.lstrip("/")
    keep = {".venv", "build"}
    for folder, dirs, files in os.walk(copy):
        relative = Path(folder).relative_to(copy)
        if relative == Path("."):
            dirs[:] = [d for d in dirs if d not in keep]
        for name in files:
            if str(relative / name) not in tracked and not name.endswith(".pyc"):
                (Path(folder) / name).unlink()
    for name in tracked:
        source, target = CLONE / name, copy / name
        stat = source.stat()
        if target.exists() and target.stat().st_mtime_ns == stat.st_mtime_ns \
                and target.stat().st_size == stat.st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    if SEED.is_dir():
        shutil.copytree(SEED, root / "work/shared/seed", dirs_exist_ok=True)


def in_root(root: Path, script: str, *, tail: int = 0,
            copy: Path | None = None) -> tuple[int, list[str]]:
    """Runs ``script`` (sh) in ``root`` as root, in a private mount namespace with /proc, /dev
    and /dev/shm bound in; echoes its output. Its exit code and the last ``tail`` lines.

    With ``copy`` (a folder beside the root), the script runs in a copy of the root instead: an
    overlay of the root under a tmpfs upper layer, mounted at ``copy/merged`` in that namespace
    only. What the script changes there (packages purged) goes with the namespace: the root
    stays as it was, and nothing stays mounted, even when the run is killed."""
    mounts: list[str] = []
    target = root
    if copy is not None:
        copy.mkdir(parents=True, exist_ok=True)
        target = copy / "merged"
        layers = f"lowerdir={root},upperdir={copy / 'upper'},workdir={copy / 'work'}"
        mounts += [shlex.join(["mount", "-t", "tmpfs", "-o", f"size={COPY_SIZE},mode=0755",
                               "orthanc-runtime-copy", str(copy)]),
                   shlex.join(["mkdir", *(str(copy / layer) for layer in ("upper", "work", "merged"))]),
                   shlex.join(["mount", "-t", "overlay", "-o", layers, "orthanc-runtime-copy",
                               str(target)])]
    mounts += [f"mount --bind /{point} {shlex.quote(str(target / point))}"
               for point in ("proc", "dev", "dev/shm")]
    # pip there trusts what this machine trusts (a proxy's own CA, say): its CA bundle.
    inner = shlex.join(["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                        "HOME=/root", "LANG=C.UTF-8", "TMPDIR=/tmp", "PYTHONUNBUFFERED=1",
                        f"PIP_CERT={HOST_CA}", f"SSL_CERT_FILE={HOST_CA}",
                        "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_DEFAULT_TIMEOUT=180",
                        "chroot", str(target), "sh", "-ec", script])
    shutil.copyfile("/etc/resolv.conf", root / "etc/resolv.conf")
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", root / HOST_CA.lstrip("/"))
    process = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                                f"{' && '.join(mounts)} && exec {inner}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    last: collections.deque[str] = collections.deque(maxlen=tail or 1)
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        last.append(line.rstrip("\n"))
    return process.wait(), list(last) if tail else []


INSTALL = f"""
cd {PROJECT}
[ -x .venv/bin/python ] || {{ python3 -m venv .venv; .venv/bin/pip install -q --upgrade pip; }}
.venv/bin/pip install -q $(.venv/bin/python -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']))")
.venv/bin/pip install -q --no-build-isolation -e '.[test,dev,dask,otel]'
"""


# The wheel step. The build in the root, with its build tools: tests/wheel_build.py is
# standard library only, so that the root's python3 runs it without the project's venv.
WHEEL_DIST = "build/wheel/dist"  # in the root's copy of the clone
WHEEL_BUILD = f"""
cd {PROJECT}
python3 -m tests.wheel_build --python /usr/bin/python3 --out {WHEEL_DIST}
"""

# The copy without build tools: the packages that hold the compilers, CMake and Orthanc's SDK
# header are purged with every package that needs them (g++, gcc, cpp and their versions), then
# the copy is searched for what they held: the step fails loudly if any is left. binutils
# (readelf: tests/wheel_check.py) and the interpreter's libpython stay.
WITHOUT_BUILD_TOOLS = r"""
export DEBIAN_FRONTEND=noninteractive
holders=$(dpkg -S /usr/libexec/gcc/*/*/cc1plus /usr/libexec/gcc/*/*/cc1 /usr/bin/cmake \
    /usr/include/orthanc/OrthancCPlugin.h | cut -d: -f1 | tr ',' '\n' | sort -u | tr '\n' ' ')
echo "[wheel] purging $holders and what needs them"
apt-get purge -y -q $holders > /tmp/purge.log 2>&1 || { tail -20 /tmp/purge.log; exit 1; }
echo "[wheel] removed: $(sed -n 's/^Removing \([^ ]*\) .*/\1/p' /tmp/purge.log | sort | tr '\n' ' ')"
for package in g++ gcc cmake orthanc-dev; do
    if dpkg -s "$package" > /dev/null 2>&1; then
        echo "[wheel] FAILED: the copy of the root still has the package $package"
        exit 1
    fi
done
echo "[wheel] g++, gcc, cmake and orthanc-dev are not installed"
""" + wheel_check.NO_BUILD_TOOLS


def build_wheel(suite: Suite, root: Path) -> Path:
    """The root's wheel, built there by tests/wheel_build.py (its cmake folder stays in the
    root: a second build is incremental): its path on this machine."""
    code, last = in_root(root, WHEEL_BUILD, tail=40)
    if code != 0:
        raise RootError(f"building the wheel in the {suite.name} root failed ({code}):\n"
                        + "\n".join(last))
    [wheel] = (root / PROJECT.lstrip("/") / WHEEL_DIST).glob("orthanc_runtime-*.whl")
    return wheel


def test_wheel(suite: Suite, root: Path, wheel: Path) -> None:
    """tests/integration/test_wheels.py with ``wheel`` (built in the root), in a copy of the
    root without build tools."""
    inside = Path("/") / wheel.relative_to(root)
    script = "\n".join([
        WITHOUT_BUILD_TOOLS, "rm -rf /tmp/pytest-of-root", f"cd {PROJECT}",
        shlex.join(["env", f"ORTHANC_RUNTIME_WHEEL={inside}",
                    "ORTHANC_RUNTIME_WHEEL_PYTHON=/usr/bin/python3", ".venv/bin/python", "-m",
                    "pytest", "-q", "-s", "-p", "no:cacheprovider",
                    "tests/integration/test_wheels.py"])])
    code, last = in_root(root, script, tail=60, copy=ROOTS / f"{suite.name}.copy")
    if code != 0:
        raise RootError(f"the wheel {wheel.name} failed in a copy of the {suite.name} root "
                        f"without build tools ({code}):\n" + "\n".join(last))


def wheel_step(suite: Suite, root: Path, times: dict[str, float]) -> Path:
    """Builds the root's wheel and tests it without build tools; ``times`` gets each part's
    seconds."""
    print(f"[roots] {suite.name}: building the wheel of its python3", flush=True)
    started = time.monotonic()
    wheel = build_wheel(suite, root)
    times["wheel build"] = time.monotonic() - started
    print(f"[roots] {suite.name}: {wheel.name} built in {times['wheel build']:.0f} s; testing it in "
          "a copy of the root without build tools", flush=True)
    started = time.monotonic()
    try:
        test_wheel(suite, root, wheel)
    finally:
        times["wheel test"] = time.monotonic() - started
    print(f"[roots] {suite.name}: the wheel's test took {times['wheel test']:.0f} s", flush=True)
    return wheel


def test_root(suite: Suite, paths: list[str], repeat: int = 1,
              wheel: bool = True) -> dict[str, float]:
    """Builds and installs the project in the root of ``suite`` and runs ``paths`` there
    (``repeat`` times, each run whatever the last one gave: a flaky test's count), then, for a
    suite with a wheel and unless ``wheel`` is false, the wheel step: the seconds each step
    took. Raises RootError naming the root when a step fails (the wheel step runs after
    failed tests too)."""
    times: dict[str, float] = {}
    started = time.monotonic()
    root = make_root(suite)
    times["root"] = time.monotonic() - started
    print(f"[roots] {suite.name} ({suite.describes}): building the project", flush=True)
    started = time.monotonic()
    sync_clone(root)
    code, last = in_root(root, INSTALL, tail=40)
    times["install"] = time.monotonic() - started
    print(f"[roots] {suite.name}: built and installed in {times['install']:.0f} s", flush=True)
    if code != 0:
        raise RootError(f"building and installing the project in the {suite.name} root failed "
                        f"({code}):\n" + "\n".join(last))
    left_out = LEFT_OUT[suite.name]
    for node, reason in left_out.items():
        print(f"[roots] {suite.name}: left out {node}: {reason}", flush=True)
    deselect = [arg for node in left_out for arg in ("--deselect", node)]
    pytest = ["rm -rf /tmp/pytest-of-root", f"cd {PROJECT}",
              shlex.join([".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-n", WORKERS, "--dist", "loadfile", *deselect, *paths])]
    started = time.monotonic()
    failed: list[str] = []
    for run_number in range(1, repeat + 1):
        code, last = in_root(root, "\n".join(pytest), tail=60)
        if code != 0:
            summary = last[next((i for i, line in enumerate(last) if "short test summary" in line), 0):]
            failed.append(f"run {run_number}:\n" + "\n".join(summary))
        if repeat > 1:
            print(f"[roots] {suite.name}: run {run_number} of {repeat} "
                  f"{'failed' if code else 'passed'} ({len(failed)} failed so far)", flush=True)
    times["tests"] = time.monotonic() - started
    print(f"[roots] {suite.name}: tests took {times['tests']:.0f} s", flush=True)
    errors = []
    if failed:
        errors.append(f"tests failed in the {suite.name} root ({suite.describes}), in "
                      f"{len(failed)} of {repeat} run(s):\n" + "\n".join(failed))
    if suite.wheel and wheel:
        try:
            wheel_step(suite, root, times)
        except RootError as error:
            errors.append(str(error))
    if errors:
        raise RootError("\n".join(errors))
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.debian_root", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["make", "test", "wheel"])
    parser.add_argument("suites", nargs="*", default=list(SUITES), help=f"of {', '.join(SUITES)}")
    parser.add_argument("--paths", nargs="+", default=["tests/integration"],
                        help="test paths inside the project (test: tests/integration)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="test: run the tests N times after one build (a flaky test's count)")
    parser.add_argument("--no-wheel", action="store_true",
                        help="test: skip the wheel step (trixie's wheel without build tools)")
    parser.add_argument("--out", type=Path, default=CLONE / "dist",
                        help="wheel: where the root's wheel is copied (default: dist)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.suites if name not in SUITES]
    if unknown:
        parser.error(f"unknown suite {', '.join(unknown)}: choose among {', '.join(SUITES)}")
    if args.action == "wheel":
        with_wheel = [name for name in SUITES if SUITES[name].wheel]
        if args.suites == list(SUITES):
            args.suites = with_wheel
        if without := [name for name in args.suites if name not in with_wheel]:
            parser.error(f"{', '.join(without)} has no wheel: choose among {', '.join(with_wheel)}")
    if os.geteuid() != 0:
        parser.error("debootstrap, chroot and mounts need root")
    failures = []
    for name in args.suites:
        suite = SUITES[name]
        try:
            if args.action == "make":
                started = time.monotonic()
                root = make_root(suite)
                print(f"[roots] {name}: {root} ready ({time.monotonic() - started:.0f} s)")
            elif args.action == "wheel":
                started = time.monotonic()
                root = make_root(suite)
                sync_clone(root)
                built = build_wheel(suite, root)
                args.out.mkdir(parents=True, exist_ok=True)
                for old in args.out.glob(f"orthanc_runtime-*-{built.name.split('-')[2]}-*.whl"):
                    old.unlink()
                shutil.copy2(built, args.out / built.name)
                print(f"[roots] {name}: {args.out / built.name} ({time.monotonic() - started:.0f} s)")
            else:
                times = test_root(suite, args.paths, args.repeat, wheel=not args.no_wheel)
                print(f"[roots] {name}: passed; " + ", ".join(
                    f"{step} {seconds:.0f} s" for step, seconds in times.items()), flush=True)
        except RootError as error:
            print(f"[roots] {name}: {error}", file=sys.stderr, flush=True)
            failures.append(name)
    if failures:
        print(f"[roots] failed in: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
