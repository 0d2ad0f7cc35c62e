"""Orthanc exits within ShutdownGrace + 5 s, whatever the script runs, and leaves nothing behind.

Each test starts a real Orthanc with a script written for it, stops it (or
makes its start fail) and checks the exit code, the time it took, and that
no process it started is left: a stuck offloaded task, a non-daemon thread,
subprocesses of the script and of offloaded handlers, the workers' private
copy of the configuration.
"""

from __future__ import annotations

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


def test_after_a_sigkill_handlers_subprocesses_end_and_the_next_start_removes_the_context_folder(
        tmp_path):
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
