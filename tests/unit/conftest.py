"""Fixtures of the unit tests: a plugin session of their own, never started."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from runtime.plugin.session import Session
from runtime.registry import Registry


@pytest.fixture
def session() -> Iterator[Session]:
    """A fresh session, active: what a test's decorators declare goes to its registry, and
    ``jobs.submit`` adds to its jobs. Nothing is started (no pool, no Orthanc)."""
    with Session() as made:
        yield made


@pytest.fixture
def registry(session: Session) -> Registry:
    return session.registry
