"""Integration tests start real Orthanc servers (Debian's `orthanc`) with the plugin."""

from __future__ import annotations

import pytest

from tests.harness import PYDICOM_FILES


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def dicom_files():
    return PYDICOM_FILES
