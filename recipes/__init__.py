"""Ready-made scripts built on the public ``runtime`` API: deploy them as they are, or read them.

=================  ==============================  =====================================
module             configuration key               what it does
=================  ==============================  =====================================
``autorouting``    ``Recipes.AutoRouting``         sends stable studies to modalities/peers
``thumbnails``     ``Recipes.Thumbnails``          JPEG/PNG thumbnails, resized in a worker
``pydicom_dump``   ``Recipes.PydicomDump``         an instance's data set, parsed by pydicom
``cpu_demo``       ``Recipes.CpuDemo``             the seed's CPU-bound loop, inline or offloaded
=================  ==============================  =====================================

A recipe registers its handlers when its module is imported, so there are
two ways to run one::

    orthanc-runtime run recipes/thumbnails.py        # the recipe is the script

    "PythonRuntime": {"Recipes": {"Thumbnails": {"Enabled": true, "DefaultSize": 128}}}

With the second, the plugin imports ``recipes.thumbnails`` after the script (if
any). Either way a recipe reads its settings, defaults filled in, from
``runtime.config["Recipes"][CONFIG_KEY]`` when it handles something, never at
import: a worker's fork server imports the module before the configuration
is installed there.

The helpers below are what the recipes share: their settings, and the
parsing of query arguments into a 400 when they are wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime import BadRequest, Request, config

__all__ = ["query_choice", "query_int", "settings"]


def settings(key: str) -> dict[str, Any]:
    """The settings of the recipe ``key`` (``"Thumbnails"``...), as validated at start-up."""
    recipes = config.get("Recipes")
    if not isinstance(recipes, dict) or key not in recipes:
        raise RuntimeError(
            f"the configuration of the recipe {key} is not installed: recipes run inside "
            "Orthanc, loaded by the orthanc-runtime plugin"
        )
    section: dict[str, Any] = recipes[key]
    return section


def query_int(request: Request, name: str, default: int, minimum: int, maximum: int) -> int:
    """The GET argument ``name`` as an int within [minimum, maximum]; 400 otherwise.

    ``/thumbnails/x?size=abc`` answers 400 with
    ``{"error": "size must be an integer between 1 and 512, not 'abc'", ...}``.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise BadRequest(
            f"{name} must be an integer between {minimum} and {maximum}, not {raw!r}",
            parameter=name,
        )
    return value


def query_choice(request: Request, name: str, choices: Iterable[str], default: str) -> str:
    """The GET argument ``name``, lower-cased, one of ``choices``; 400 otherwise."""
    allowed = list(choices)
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    value = raw.lower()
    if value not in allowed:
        raise BadRequest(
            f"{name} must be one of {', '.join(allowed)}, not {raw!r}", parameter=name
        )
    return value
