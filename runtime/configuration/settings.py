"""``runtime.config``: the validated ``PythonRuntime`` section, defaults filled in.

The master installs it at start-up, each worker at its start; handlers read
it as a read-only mapping (``runtime.config['Pool']['Workers']``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any


class ConfigView(Mapping[str, Any]):
    """A read-only view of the section; empty until the plugin has started."""

    def __init__(self) -> None:
        self._section: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return copy.deepcopy(self._section[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._section)

    def __len__(self) -> int:
        return len(self._section)

    def __repr__(self) -> str:
        return f"ConfigView({self._section!r})"


config = ConfigView()


def install(section: dict[str, Any]) -> None:
    config._section = copy.deepcopy(section)


def shutdown_grace() -> float:
    """``Pool.ShutdownGrace``, the seconds a stop may take (0 before the plugin started)."""
    pool = config._section.get("Pool")
    return float(pool["ShutdownGrace"]) if pool else 0.0
