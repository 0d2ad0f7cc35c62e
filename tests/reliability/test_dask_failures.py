"""Failures of a real Dask cluster under an Orthanc that offloads to it (docs/reliability.md, "Dask backend")."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from distributed import Client

from runtime.errors import OrthancError
from runtime.sdk.remote import RemoteOrthanc
from tests.dask_cluster import DaskCluster, make_certificates
from tests.harness import running_orthanc, scripts_dir, start_failure, wait_for

SCRIPT = scripts_dir() / "offload_demo.py"


def dask_config(cluster: DaskCluster, markers: Path, **dask) -> dict:
    return {"OffloadMarkerDir": str(markers),
            "PythonRuntime": {"Pool": {"Backend": "dask",
                                       "Dask": {"Scheduler": cluster.address, **dask}}}}


def pool_status(server, **kw) -> dict:
    return server.get("/runtime/status", **kw).json()["pool"]


def in_background(call) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    return thread, answers


def test_worker_killed_mid_task_answers_502_and_the_handler_ran_once(dask_cluster, tmp_path):
    with running_orthanc(tmp_path / "o", SCRIPT, dask_config(dask_cluster, tmp_path)) as orthanc:
        runs = tmp_path / "runs-killed"
        thread, answers = in_background(lambda: orthanc.get("/off/marked-sleep?tag=killed&s=5"))
        pid = int(wait_for(lambda: runs.exists() and runs.read_text().strip(), timeout=20))
        assert pid in dask_cluster.worker_pids()  # a dask worker process this test started
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        thread.join(30)
        print(f"worker SIGKILL: answered {answers[0].status} "
              f"{time.monotonic() - killed:.2f} s after the kill")
        [answer] = answers
        assert answer.status == 502, answer.text
        assert answer.json()["type"] == "WorkerCrashed"
        assert "was not run again" in answer.json()["error"]
        # The nanny starts a new worker; the task is not given to it, nor to the other one.
        dask_cluster.wait_for_workers(2)
        time.sleep(1)
        assert runs.read_text().split() == [str(pid)]
        assert pool_status(orthanc)["tasks"]["crashed"] == 1
        assert orthanc.get("/off/pid").status == 200
        with Client(dask_cluster.address, timeout=10) as client:  # set by the backend
            assert client.run_on_scheduler(allowed_failures) == 0


def allowed_failures(dask_scheduler) -> int:
    return int(dask_scheduler.allowed_failures)


def orthanc_plugins(dask_scheduler) -> list[str]:
    return sorted(n for n in dask_scheduler.worker_plugins if n.startswith("orthanc-runtime-"))


def deployments_on_workers(client) -> set[str]:
    """The Orthancs each worker is set up for (runtime.backends.dask_tasks), all workers together."""
    return {name for names in client.run(_deployments).values() for name in names}


def _deployments() -> list[str]:
    from runtime.backends import dask_tasks

    return list(dask_tasks.deployments)


def test_lost_scheduler_answers_503_then_the_backend_reconnects_by_itself(tmp_path):
    cluster = DaskCluster(tmp_path / "cluster", workers=1).start()
    try:
        config = dask_config(cluster, tmp_path, ConnectTimeout=2)
        with running_orthanc(tmp_path / "o", SCRIPT, config) as orthanc:
            assert orthanc.get("/off/pid").status == 200
            thread, answers = in_background(lambda: orthanc.get("/off/sleep?s=5"))
            wait_for(lambda: pool_status(orthanc)["tasks"]["in_flight"] == 1)
            killed = time.monotonic()
            cluster.kill_scheduler()
            thread.join(30)
            print(f"scheduler SIGKILL: the running request answered {answers[0].status} "
                  f"{time.monotonic() - killed:.2f} s after the kill")
            [lost] = answers
            assert lost.status == 503, lost.text
            assert lost.json()["type"] == "ClusterUnavailable" and "retry-after" in lost.headers
            status = wait_for(lambda: (s := pool_status(orthanc))["connected"] is False and s)
            assert status["tasks"]["lost"] == 1
            asked = time.monotonic()
            refused = orthanc.get("/off/pid")
            print(f"scheduler down: a new request answered {refused.status} in "
                  f"{(time.monotonic() - asked) * 1000:.1f} ms")
            assert refused.status == 503 and refused.headers["retry-after"] == "5"
            assert "orthanc_runtime_dask_connected 0" in orthanc.get("/tools/metrics-prometheus").text
            # A new scheduler on the same address; the workers, which exit with their
            # scheduler, are started again (as a service manager would).
            cluster.start_scheduler()
            cluster.start_workers()
            started = time.monotonic()
            wait_for(lambda: orthanc.get("/off/pid").status == 200, timeout=60,
                     what="an offloaded route served again")
            recovered = time.monotonic() - started
            status = pool_status(orthanc)
            assert status["connected"] is True and status["reconnects"] >= 1
            # The worker plugin was registered with the new scheduler: the SDK works again.
            assert orthanc.get("/off/sleep-then-call?s=0").json()["version"] == "1.10.1"
            assert "worker plugin registered" in orthanc.log()
            print(f"recovered {recovered:.1f} s after the new scheduler and worker started")
    finally:
        cluster.stop()


PASSWORD = "dask-test-password"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()}


def test_the_token_opens_an_orthanc_with_authentication_and_a_bad_one_is_reported_401(
        dask_cluster, tmp_path):
    config = {**dask_config(dask_cluster, tmp_path), "AuthenticationEnabled": True,
              "RegisteredUsers": {"alice": PASSWORD}}
    with Client(dask_cluster.address, timeout=10) as client:
        before = client.run_on_scheduler(orthanc_plugins)
    with running_orthanc(tmp_path / "o", SCRIPT, config) as orthanc:
        assert orthanc.get("/system").status == 401
        # The worker reaches this Orthanc's REST API with the plugin's token.
        answer = orthanc.get("/off/sleep-then-call?s=0", headers=AUTH)
        assert answer.status == 200 and answer.json()["version"] == "1.10.1"
        status = orthanc.get("/runtime/status", headers=AUTH).text
        assert "Bearer" not in status and "Bearer" not in orthanc.log()
        with pytest.raises(OrthancError) as refused:
            RemoteOrthanc(orthanc.url, "Bearer not-the-token").call("RestApiGet", "/system")
        assert refused.value.status == 401 and refused.value.code == 29
        assert "refused this worker's token" in refused.value.message
        with Client(dask_cluster.address, timeout=10) as client:
            [plugin] = set(client.run_on_scheduler(orthanc_plugins)) - set(before)
            assert plugin.removeprefix("orthanc-runtime-") in deployments_on_workers(client)
    # Orthanc stopped: its worker plugin, and the token with it, left the cluster.
    with Client(dask_cluster.address, timeout=10) as client:
        assert plugin not in client.run_on_scheduler(orthanc_plugins)
        assert plugin.removeprefix("orthanc-runtime-") not in deployments_on_workers(client)


def test_routes_waiting_for_the_cluster_are_capped_below_orthancs_http_threads(
        dask_cluster, tmp_path):
    """HttpThreadsCount 4: at most 2 offloaded requests wait; their workers' calls back to
    Orthanc find a free thread, the others answer 503 at once."""
    config = {**dask_config(dask_cluster, tmp_path), "HttpThreadsCount": 4}
    with running_orthanc(tmp_path / "o", SCRIPT, config) as orthanc:
        assert pool_status(orthanc)["max_waiting_routes"] == 2
        started = time.monotonic()
        calls = [in_background(lambda: orthanc.get("/off/sleep-then-call?s=1.5", timeout=30))
                 for _ in range(4)]
        for thread, _ in calls:
            thread.join(40)
        took = time.monotonic() - started
        answers = sorted((a for _, [a] in calls), key=lambda a: a.status)
        assert [a.status for a in answers] == [200, 200, 503, 503]
        assert all(a.json()["version"] == "1.10.1" for a in answers[:2])
        assert all(a.json()["type"] == "ClusterBusy" and a.headers["retry-after"] == "1"
                   for a in answers[2:])
        print(f"HTTP-thread cap: {[a.status for a in answers]} in {took:.2f} s")
        assert took < 10  # no request waited for a timeout
        assert pool_status(orthanc)["tasks"]["refused_busy"] == 2


def test_a_cluster_over_tls(tmp_path):
    tls = make_certificates(tmp_path / "tls")
    cluster = DaskCluster(tmp_path / "cluster", workers=1, tls=tls).start()
    try:
        config = dask_config(cluster, tmp_path, TlsCaFile=tls["ca"], TlsCertFile=tls["cert"],
                             TlsKeyFile=tls["key"])
        with running_orthanc(tmp_path / "o", SCRIPT, config) as orthanc:
            assert pool_status(orthanc)["scheduler"].startswith("tls://")
            answer = orthanc.get("/off/sleep-then-call?s=0")
            assert answer.status == 200 and answer.json()["version"] == "1.10.1"
    finally:
        cluster.stop()


def test_plain_tcp_to_another_machine_refuses_to_start(tmp_path):
    config = {"PythonRuntime": {"Pool": {"Backend": "dask", "Workers": 2,
                                         "Dask": {"Scheduler": "tcp://192.0.2.1:8786"}}}}
    code, log = start_failure(tmp_path, SCRIPT, config)
    assert code != 0
    assert "Pool.Workers: applies to the local pool only" in log
    assert "plain tcp to another machine" in log and "AllowInsecure" in log
