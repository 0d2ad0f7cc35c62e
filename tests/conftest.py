"""Fixtures shared by the integration and reliability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dask_cluster import DaskCluster


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """One real Dask cluster for the session (of each pytest-xdist worker that needs one): a
    scheduler and two one-thread workers on loopback, stopped at the end of the session.

    Its processes are children of pytest's; the pool's unit tests, which count the children
    of their process, leave them out (tests/unit/pool_tasks.py).
    """
    cluster = DaskCluster(tmp_path_factory.mktemp("dask-cluster"), workers=2)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
