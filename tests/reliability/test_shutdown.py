"""Orthanc exits within ShutdownGrace + 5 s, whatever the script runs, and leaves nothing behind.

Each test starts a real Orthanc with a script written for it, stops it (or
makes its start fail) and checks the exit code, the time it took, and that
no process it started is left: a stuck offloaded task, a non-daemon thread,
subprocesses of the script and of offloaded handlers, the workers' private
copy of the configuration.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from tests.harness import Answer, Orthanc, prepare, running_orthanc, wait_for, wait_until

PROMISE = 5.0
"""Seconds past ShutdownGrace within which Orthanc exits."""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def start(folder: Path, script: str, grace: float = 2, workers: int = 1) -> Orthanc:
    path = write(folder / "scripts", "shutdown_script.py", script)
    config = {"PythonRuntime": {"Pool": {"Workers": workers, "ShutdownGrace": grace}}}
    server = prepare(folder, path, config)
    server.process.start(verbose=True)
    server.process.wait_ready()
    return server


def sigterm(server: Orthanc, timeout: float = 60) -> tuple[int, float]:
    """SIGTERM; the exit code and the seconds Orthanc took to exit."""
    assert server.process.process is not None
    started = time.monotonic()
    server.process.process.send_signal(signal.SIGTERM)
    code = server.process.process.wait(timeout)
    return code, time.monotonic() - started


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def assert_no_child_left(children: list[psutil.Process]) -> None:
    """Every process that was below Orthanc has ended (within 5 s of its exit)."""
    assert children
    wait_for(lambda: not [c for c in children if c.is_running() and not gone(c.pid)],
             timeout=5, what=f"no child left of {children}")


def read_pid(path: Path) -> int:
    return int(wait_for(lambda: path.exists() and path.read_text(), what=f"a pid in {path}"))


def context_folders(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"orthanc-runtime-{pid}-*"))


STUCK = '''
import time
from runtime import offload, route

@route("/stuck")
@offload(timeout=120)
def stuck(request):
    time.sleep(1000)
'''


def test_sigterm_with_a_stuck_offloaded_task_exits_within_the_grace(tmp_path):
    grace = 2.0
    server = start(tmp_path, STUCK, grace)
    answers: list[Answer | BaseException] = []

    def call() -> None:
        try:
            answers.append(server.get("/stuck", timeout=200))
        except BaseException as error:
            answers.append(error)

    client = threading.Thread(target=call)
    client.start()
    wait_for(lambda: server.get("/runtime/status").json()["pool"]["workers"]["busy"] == 1)
    children = server.children()
    code, took = sigterm(server)
    client.join(30)
    answer = answers[0]
    print(f"stuck task (timeout 120 s), ShutdownGrace {grace:g} s: Orthanc exited {code} after "
          f"{took:.2f} s; the request in flight got {getattr(answer, 'status', answer)!r}")
    assert code == 0, server.log()[-3000:]
    assert took < grace + PROMISE
    # Its task is ended just before the grace is over, while Orthanc can still answer.
    assert isinstance(answer, Answer), answer
    assert answer.status == 503, answer.text
    assert answer.json()["error"] == "Orthanc is stopping"
    assert_no_child_left(children)


def test_a_restart_with_a_stuck_offloaded_task_keeps_the_grace(tmp_path):
    """POST /tools/reset stops the plugin as a SIGTERM does: the stuck task ends at the grace."""
    grace = 2.0
    script = write(tmp_path / "scripts", "stuck.py", STUCK)
    config = {"PythonRuntime": {"Pool": {"Workers": 1, "ShutdownGrace": grace}}}
    with running_orthanc(tmp_path, script, config) as orthanc:
        answers: list[Answer] = []
        client = threading.Thread(target=lambda: answers.append(orthanc.get("/stuck", timeout=200)))
        client.start()
        wait_for(lambda: orthanc.get("/runtime/status").json()["pool"]["workers"]["busy"] == 1)
        started = time.monotonic()
        assert orthanc.post("/tools/reset", "").status == 200
        wait_for(lambda: orthanc.log().count("orthanc-runtime: loaded") == 2, timeout=60)
        took = time.monotonic() - started
        client.join(30)
        print(f"/tools/reset with a stuck task (timeout 120 s), ShutdownGrace {grace:g} s: the "
              f"plugin loaded again after {took:.2f} s; the request in flight got {answers[0].status}")
        assert took < grace + PROMISE
        assert answers[0].status == 503 and answers[0].json()["error"] == "Orthanc is stopping"

        def serving() -> bool:
            try:
                return orthanc.get("/system").status == 200
            except OSError:
                return False

        # Orthanc installs its SIGTERM handler again only once it has restarted: the
        # harness's SIGTERM at the end must not arrive before (a loaded machine is slow).
        wait_for(serving, timeout=60)


THREAD = '''
import multiprocessing, threading, time
from pool import in_worker
from runtime import offload, route

def forever():
    while True:
        time.sleep(0.1)

threading.Thread(target=forever, name="forever-loop").start()
if not in_worker():  # in Orthanc only: multiprocessing would join it for ever at exit
    multiprocessing.Process(target=forever, name="forever-process").start()

@route("/work")
@offload
def work(request):
    return {"ok": True}
'''


def test_non_daemon_threads_and_processes_of_the_script_do_not_hold_the_exit(tmp_path):
    """The script is imported by Orthanc and by the fork server: the thread runs in both."""
    grace = 2.0
    server = start(tmp_path, THREAD, grace)
    assert server.get("/work").json() == {"ok": True}
    children = server.children()
    code, took = sigterm(server)
    print(f"non-daemon thread and multiprocessing.Process in the script, ShutdownGrace {grace:g} s: Orthanc exited {code} "
          f"after {took:.2f} s")
    assert code == 0, server.log()[-3000:]
    assert took < grace + PROMISE
    log = server.log()
    assert "thread(s) still running: 'forever-loop'" in log
    assert "exiting without waiting for the thread(s) still running: 'forever-loop'" in log
    assert "ending the process(es) still running at exit: 'forever-process'" in log
    assert_no_child_left(children)


FAILING = '''
import pathlib, subprocess, threading, time

def forever():
    while True:
        time.sleep(0.1)

threading.Thread(target=forever, name="forever-loop").start()
child = subprocess.Popen(["sleep", "600"])
pathlib.Path(__file__).with_name("child.pid").write_text(str(child.pid))
raise RuntimeError("this script refuses to load")
'''


def test_a_script_failing_at_import_leaves_nothing_and_orthanc_exits(tmp_path):
    path = write(tmp_path / "scripts", "failing_script.py", FAILING)
    server = prepare(tmp_path, path)
    started = time.monotonic()
    server.process.start(verbose=True)
    assert server.process.process is not None
    code = server.process.process.wait(60)
    took = time.monotonic() - started
    child = read_pid(tmp_path / "scripts" / "child.pid")
    print(f"script with a thread and a subprocess failing at import: Orthanc exited {code} after "
          f"{took:.2f} s; its subprocess {'gone' if gone(child) else 'still running'}")
    assert code != 0
    assert took < PROMISE
    assert gone(child)
    log = server.log()
    assert "this script refuses to load" in log
    assert f"ending process {child} (sleep 600)" in log
    assert "'forever-loop'" in log


SUBPROCESSES = '''
import pathlib, subprocess, time
from runtime import offload, route

HERE = pathlib.Path(__file__).parent

@route("/hang")
@offload(timeout=1)
def hang(request):
    child = subprocess.Popen(["sleep", "600"])
    (HERE / "hanging.pid").write_text(str(child.pid))
    time.sleep(600)

@route("/leave")
@offload
def leave(request):
    return {"pid": subprocess.Popen(["sleep", "600"]).pid}
'''


def test_a_timeout_ends_what_the_handler_started(tmp_path):
    with running_orthanc(tmp_path, write(tmp_path / "scripts", "subprocesses.py", SUBPROCESSES),
                         {"PythonRuntime": {"Pool": {"Workers": 1}}}) as orthanc:
        answer = orthanc.get("/hang")
        assert answer.status == 504, answer.text
        child = read_pid(tmp_path / "scripts" / "hanging.pid")
        started = time.monotonic()
        wait_for(lambda: gone(child), timeout=5, what="the handler's subprocess to end")
        print(f"after the 504, the handler's subprocess was gone within "
              f"{time.monotonic() - started:.2f} s")


def test_what_a_handler_left_running_ends_with_orthanc(tmp_path):
    server = start(tmp_path, SUBPROCESSES, grace=2)
    child = server.get("/leave").json()["pid"]
    assert not gone(child)
    children = server.children()
    code, took = sigterm(server)
    print(f"a handler's subprocess left running: Orthanc exited {code} after {took:.2f} s; "
          f"the subprocess {'gone' if gone(child) else 'still running'}")
    assert code == 0
    assert took < 2 + PROMISE
    assert gone(child)
    assert_no_child_left(children)


def test_after_a_sigkill_handlers_subprocesses_end_and_the_next_start_removes_the_context_folder(
        tmp_path, monkeypatch, request):
    # A temporary folder of this test's own: any Orthanc that starts a pool removes the stale
    # folders it finds, and the other tests' Orthancs, running meanwhile, must not find this one.
    # A short one: the fork server's socket is made in it, and an AF_UNIX path has at most 107
    # bytes (tmp_path, /tmp/pytest-of-root/pytest-104/popen-gw2/test_after_a_sigkill_..., is
    # too long once pytest counts its runs past 99).
    private = Path(tempfile.mkdtemp(prefix="or-"))
    request.addfinalizer(lambda: shutil.rmtree(private, ignore_errors=True))
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    server = start(tmp_path / "killed", SUBPROCESSES)
    child = server.get("/leave").json()["pid"]
    assert server.process.process is not None
    pid = server.process.process.pid
    assert len(context_folders(pid)) == 1
    server.process.process.send_signal(signal.SIGKILL)
    server.process.process.wait(10)
    # Its worker kills its own process group when it sees its master gone.
    _, seconds = wait_until(lambda: gone(child), timeout=5, what="the handler's subprocess to end")
    assert context_folders(pid), "a SIGKILL leaves the folder; the next start removes it"
    with running_orthanc(tmp_path / "next", write(tmp_path / "scripts", "subprocesses.py",
                                                  SUBPROCESSES)) as orthanc:
        assert not context_folders(pid)
        assert "left by a master that died" in orthanc.log()
    print(f"SIGKILL of Orthanc: its handler's subprocess gone {seconds:.2f} s later; its context "
          f"folder removed by the next start")


WORKERS_REFUSE = '''
from pool import in_worker
from runtime import offload, route

if in_worker():
    raise RuntimeError("workers refuse this script")

@route("/work")
@offload
def work(request):
    return {}
'''


def test_a_failed_start_leaves_no_context_folder(tmp_path: Any):
    path = write(tmp_path / "scripts", "workers_refuse.py", WORKERS_REFUSE)
    server = prepare(tmp_path, path)
    server.process.start(verbose=True)
    assert server.process.process is not None
    pid = server.process.process.pid
    code = server.process.process.wait(60)
    assert code != 0
    assert "workers refuse this script" in server.log()
    assert not context_folders(pid)


MASTER_CHILD = SUBPROCESSES + '''
from pool import in_worker

if not in_worker():  # in Orthanc itself, not in the fork server nor the workers
    with open(HERE / "master.pids", "a") as file:
        file.write(f"{subprocess.Popen(['sleep', '600']).pid}\\n")
'''


def test_a_restart_ends_what_the_script_left_running_and_the_pool_serves_again(tmp_path):
    """POST /tools/reset: the script's processes and the handlers' are ended, the new pool serves."""
    pids = tmp_path / "scripts" / "master.pids"
    script = write(tmp_path / "scripts", "master_child.py", MASTER_CHILD)
    with running_orthanc(tmp_path, script, {"PythonRuntime": {"Pool": {"Workers": 1}}}) as orthanc:
        handlers = orthanc.get("/leave").json()["pid"]
        first = int(pids.read_text().split()[0])
        assert not gone(first) and not gone(handlers)
        assert orthanc.post("/tools/reset", "").status == 200
        wait_for(lambda: orthanc.log().count("orthanc-runtime: loaded") == 2, timeout=30)
        assert gone(first) and gone(handlers)
        assert f"ending process {first} (sleep 600)" in orthanc.log()

        def serving() -> bool:
            try:
                return orthanc.get("/leave").status == 200
            except OSError:
                return False

        wait_for(serving, timeout=30, step=0.2)
        second = int(pids.read_text().split()[1])  # the script imported again
        assert not gone(second)
    assert gone(second)
