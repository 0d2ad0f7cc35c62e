"""The dask backend with reload on save, and with Dask resources."""

from __future__ import annotations

import psutil

from tests.harness import running_orthanc, wait_for

SCRIPT = '''
import os
from runtime import offload, route

@route("/d/value")
@offload
def value(request):
    return {{"v": {v}, "pid": os.getpid()}}
'''


def dask_config(cluster, **dask) -> dict:
    return {"PythonRuntime": {"Pool": {"Backend": "dask",
                                       "Dask": {"Scheduler": cluster.address, **dask}}}}


def test_a_saved_change_reaches_the_cluster_workers(dask_cluster, tmp_path):
    script = tmp_path / "reloaded_on_dask.py"
    script.write_text(SCRIPT.format(v=1))
    config = dask_config(dask_cluster)
    config["PythonRuntime"]["Reload"] = True
    with running_orthanc(tmp_path / "o", script, config) as orthanc:
        first = orthanc.get("/d/value").json()
        assert first["v"] == 1 and first["pid"] in dask_cluster.worker_pids()
        script.write_text(SCRIPT.format(v=2))
        # The worker plugin is registered again with the new source; every worker runs it.
        wait_for(lambda: orthanc.get("/d/value").json()["v"] == 2, timeout=20,
                 what="the new code on the workers")
        assert {orthanc.get("/d/value").json()["v"] for _ in range(6)} == {2}


def test_tasks_go_only_to_workers_with_the_resources_they_require(dask_cluster, tmp_path):
    script = tmp_path / "gpu_script.py"
    script.write_text(SCRIPT.format(v=7))
    gpu = dask_cluster.add_worker("gpu", "--resources", "GPU=1")
    try:
        dask_cluster.wait_for_workers(3)
        config = dask_config(dask_cluster, Resources={"GPU": 1})
        with running_orthanc(tmp_path / "o", script, config) as orthanc:
            pids = {orthanc.get("/d/value").json()["pid"] for _ in range(6)}
            # One process, under the GPU worker's nanny: never the two workers without a GPU.
            assert len(pids) == 1 and pids <= set(_children(gpu.pid))
            assert not pids & set(dask_cluster.worker_pids())
    finally:
        dask_cluster.stop_worker(gpu)


def _children(pid: int) -> list[int]:
    return [c.pid for c in psutil.Process(pid).children()]
