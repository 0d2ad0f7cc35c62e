"""The dask backend's settings: which keys go with which backend, and a safe scheduler."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.configuration import ConfigurationError, check_section, resolve


def dask_pool(**pool: Any) -> dict[str, Any]:
    dask = pool.pop("Dask", {"Scheduler": "tcp://127.0.0.1:8786"})
    return {"Script": "a.py", "Pool": {"Backend": "dask", "Dask": dask, **pool}}


def messages(section: dict[str, Any]) -> list[str]:
    return [str(p) for p in check_section(section)]


def test_a_local_scheduler_needs_nothing_more() -> None:
    assert messages(dask_pool()) == []
    section = resolve({"PythonRuntime": dask_pool()})
    assert section["Pool"]["Backend"] == "dask"
    assert "Workers" not in section["Pool"]  # the cluster's workers are not ours to count
    assert section["Pool"]["Dask"]["ConnectTimeout"] == 10
    assert section["Pool"]["Dask"]["AllowInsecure"] is False


def test_the_local_backend_stays_the_default() -> None:
    section = resolve({"PythonRuntime": {"Script": "a.py"}})
    assert section["Pool"]["Backend"] == "local" and section["Pool"]["Workers"] >= 1


@pytest.mark.parametrize("key, value, why", [
    ("Workers", 4, "dask worker"),
    ("StartMethod", "spawn", "dask worker"),
    ("MaxTasksPerWorker", 10, "--lifetime"),
    ("MaxWorkerMemoryMB", 100, "--memory-limit"),
])
def test_local_only_keys_are_refused_with_the_dask_backend(key: str, value: Any, why: str) -> None:
    [problem] = messages(dask_pool(**{key: value}))
    assert problem.startswith(f"$.PythonRuntime.Pool.{key}: applies to the local pool only")
    assert why in problem


def test_the_scheduler_is_required() -> None:
    [problem] = messages(dask_pool(Dask={}))
    assert problem.startswith("$.PythonRuntime.Pool.Dask.Scheduler: required with")


def test_plain_tcp_to_another_machine_is_refused_unless_allowed() -> None:
    remote = {"Scheduler": "tcp://10.1.2.3:8786"}
    [problem] = messages(dask_pool(Dask=remote))
    assert "plain tcp to another machine" in problem and "AllowInsecure" in problem
    assert messages(dask_pool(Dask={**remote, "AllowInsecure": True})) == []
    for loopback in ("localhost", "127.0.0.1", "127.0.0.2", "[::1]"):
        assert messages(dask_pool(Dask={"Scheduler": f"tcp://{loopback}:8786"})) == []
    assert messages(dask_pool(Dask={"Scheduler": "tcp://scheduler.example:8786"}))


def test_tls_needs_its_three_files() -> None:
    [problem] = messages(dask_pool(Dask={"Scheduler": "tls://10.1.2.3:8786", "TlsCaFile": "ca.pem"}))
    assert "TlsCertFile, TlsKeyFile" in problem
    files = {"TlsCaFile": "ca.pem", "TlsCertFile": "c.pem", "TlsKeyFile": "k.pem"}
    assert messages(dask_pool(Dask={"Scheduler": "tls://10.1.2.3:8786", **files})) == []


def test_bad_values_are_refused_by_the_schema() -> None:
    assert messages(dask_pool(Dask={"Scheduler": "http://x:1"}))
    assert messages(dask_pool(Dask={"Scheduler": "tcp://127.0.0.1:1", "Resources": {"GPU": 0}}))
    assert messages(dask_pool(Dask={"Scheduler": "tcp://127.0.0.1:1", "MaxWaitingRoutes": 0}))
    assert messages({"Script": "a.py", "Pool": {"Backend": "ray"}})
    with pytest.raises(ConfigurationError):
        resolve({"PythonRuntime": dask_pool(Workers=2)})


def test_the_dask_section_is_kept_but_unused_with_the_local_backend() -> None:
    """One key switches backends: the Dask settings may stay in place."""
    section = {"Script": "a.py", "Pool": {"Workers": 2, "Dask": {"Scheduler": "tcp://10.0.0.1:1"}}}
    assert messages(section) == []
