"""Fixtures shared by the integration and reliability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dask_cluster import DaskCluster


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """One real Dask cluster for the session: a scheduler and two one-thread workers on loopback."""
    cluster = DaskCluster(tmp_path_factory.mktemp("dask-cluster"), workers=2)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
