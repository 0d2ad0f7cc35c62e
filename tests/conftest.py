"""Fixtures shared by the integration and reliability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dask_cluster import DaskCluster

_clusters: list[DaskCluster] = []
_last_user: list[pytest.Item] = []


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """One real Dask cluster for the session: a scheduler and two one-thread workers on loopback.

    It is stopped after the last test that uses it, not at the end of the session: its
    processes are children of pytest's, which the pool's unit tests count.
    """
    cluster = DaskCluster(tmp_path_factory.mktemp("dask-cluster"), workers=2)
    _clusters.append(cluster)
    try:
        yield cluster.start()
    finally:
        _stop_clusters()


def _stop_clusters() -> None:
    while _clusters:
        _clusters.pop().stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    users = [item for item in items if "dask_cluster" in getattr(item, "fixturenames", ())]
    _last_user[:] = users[-1:]


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if _last_user and item is _last_user[0]:
        _stop_clusters()
