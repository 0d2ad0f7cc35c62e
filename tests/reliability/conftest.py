"""Fault-injection tests against real Orthanc servers (see RELIABILITY.md)."""

from __future__ import annotations

import time

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "reliability" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def wait_until(predicate, timeout: float = 10, step: float = 0.02):
    """Polls ``predicate`` until it returns a true value; returns (value, seconds)."""
    started = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
