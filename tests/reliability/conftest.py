"""Fault-injection tests against real Orthanc servers (see docs/reliability.md)."""

from __future__ import annotations

import pytest

from tests import harness


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def wait_until(predicate, timeout: float = 10, step: float = 0.02):
    """Polls ``predicate`` until it returns a true value; returns (value, seconds)."""
    return harness.wait_until(predicate, timeout, step)
