"""A real Dask cluster for the tests: `dask scheduler` and `dask worker` processes on loopback.

The processes come from the virtual environment's bin folder (the same
``distributed`` and ``orthanc-runtime`` as the master), on free ports, without
dashboards, and are stopped by their PIDs (each worker is a nanny process and
its worker process, which the nanny restarts when it dies).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from runtime.devkit.launcher import free_port

BIN = Path(sys.executable).parent


class DaskCluster:
    """``workers`` workers of one thread each around one scheduler; ``address`` is tcp://..."""

    def __init__(self, folder: Path, workers: int = 2, *, env: dict[str, str] | None = None,
                 tls: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        # tls: {"ca": ..., "cert": ..., "key": ...}, PEM files the scheduler, the workers and
        # the clients all use.
        self.tls = tls
        self.address = f"{'tls' if tls else 'tcp'}://127.0.0.1:{self.port}"
        # Tasks wait at the scheduler for a free worker thread rather than in a busy
        # worker's queue (what docs/dask.md advises for Orthanc's short handlers).
        self.env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0",
                    **(env or {})}
        files = ["--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]] \
            if tls else []
        self.scheduler_args = files
        # The workers' scratch space in the test's folder, not /tmp/dask-scratch-space.
        self.worker_args = [*files, "--local-directory", str(folder / "scratch")]
        self.count = workers
        self.scheduler: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.extra: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(self.folder / log, "ab") as out:
            return subprocess.Popen([str(BIN / "dask"), *args], stdout=out, stderr=subprocess.STDOUT,
                                    env=self.env, cwd=self.folder)

    def start_scheduler(self) -> None:
        self.scheduler = self._spawn(["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--no-dashboard", "--no-show", *self.scheduler_args],
                                     "scheduler.log")

    def start(self, timeout: float = 60) -> DaskCluster:
        self.start_scheduler()
        self.start_workers(timeout)
        return self

    def start_workers(self, timeout: float = 60) -> None:
        """Starts the workers (again: a worker whose scheduler is lost exits)."""
        self.workers = [self._spawn(["worker", self.address, "--nthreads", "1", "--nworkers", "1",
                                     "--no-dashboard", "--name", f"w{i}", *self.worker_args],
                                    f"worker{i}.log")
                        for i in range(self.count)]
        self.wait_for_workers(self.count, timeout)

    def add_worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """One more worker (its own options, such as ``--resources GPU=1``); stop it with
        stop_worker."""
        worker = self._spawn(["worker", self.address, "--nthreads", "1", "--nworkers", "1",
                              "--no-dashboard", "--name", name, *self.worker_args, *args],
                             f"{name}.log")
        self.extra.append(worker)
        return worker

    def stop_worker(self, worker: subprocess.Popen[bytes]) -> None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.send_signal(signal.SIGKILL)
            worker.wait(5)
        self.extra.remove(worker)

    def wait_for_workers(self, count: int, timeout: float = 60) -> None:
        """Until ``count`` workers are registered with the scheduler (its log says so)."""
        from distributed import Client

        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        while time.monotonic() < deadline:
            try:
                with Client(self.address, timeout=5, security=self.security()) as client:
                    client.wait_for_workers(count, timeout=max(1.0, deadline - time.monotonic()))
                    return
            except Exception as error:  # the scheduler is not listening yet
                last = error
                time.sleep(0.2)
        raise AssertionError(f"{count} dask workers not ready within {timeout} s: {last}\n"
                             + self.logs())

    def security(self) -> object | None:
        if not self.tls:
            return None
        from distributed.security import Security

        return Security(tls_ca_file=self.tls["ca"], tls_client_cert=self.tls["cert"],
                        tls_client_key=self.tls["key"], require_encryption=True)

    def worker_pids(self) -> list[int]:
        """The PIDs of the worker processes (the nannies' children)."""
        pids = []
        for nanny in self.workers:
            try:
                pids += [c.pid for c in psutil.Process(nanny.pid).children()]
            except psutil.NoSuchProcess:
                pass
        return pids

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(10)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                         for p in sorted(self.folder.glob("*.log")))

    def stop(self) -> None:
        processes = [*self.workers, *self.extra, *([self.scheduler] if self.scheduler else [])]
        children = []
        for process in processes:
            try:
                children += psutil.Process(process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(5)
        for child in children:  # a worker process whose nanny was killed first
            try:
                child.wait(5)
            except psutil.TimeoutExpired:
                child.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


def make_certificates(folder: Path) -> dict[str, str]:
    """A CA, and a certificate for 127.0.0.1 that it signed, made by openssl."""
    folder.mkdir(parents=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
            "-keyout", "ca.key", "-out", "ca.pem")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "node.key", "-out", "node.csr")
    (folder / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "node.pem")
    return {"ca": str(folder / "ca.pem"), "cert": str(folder / "node.pem"),
            "key": str(folder / "node.key")}
