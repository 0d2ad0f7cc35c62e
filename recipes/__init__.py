"""Ready-made scripts built on the public ``runtime`` API: deploy them as they are, or read them.

=================  ==============================  =====================================
module             configuration key               what it does
=================  ==============================  =====================================
``autorouting``    ``Recipes.AutoRouting``         sends stable studies to modalities/peers
``thumbnails``     ``Recipes.Thumbnails``          JPEG/PNG thumbnails, made in a worker
``pydicom_dump``   ``Recipes.PydicomDump``         an instance's data set, parsed by pydicom
``cpu_demo``       ``Recipes.CpuDemo``             the seed's CPU-bound loop, inline or offloaded
``study_export``   ``Recipes.StudyExport``         a study's PNG previews as a ZIP, in a job
``worklists``      ``Recipes.Worklists``           modality worklists from files or SQLite
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
parsing of path and query arguments into a 400 when they are wrong. A recipe
builds the URIs of its calls to Orthanc only from values checked here (an
identifier of Orthanc's form, an int within range, one of a few choices), so
that nothing a client sends becomes part of an internal URI as it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from runtime import BadRequest, Request, config
from runtime.registry.routing import ORTHANC_ID

__all__ = ["path_id", "query_choice", "query_int", "settings"]

_INTEGER = re.compile(r"-?[0-9]{1,18}")


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
    # ASCII digits only: int() also takes "1_000", " 7" and other scripts' digits.
    value = int(raw) if _INTEGER.fullmatch(raw) else minimum - 1
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


def path_id(request: Request, name: str) -> str:
    """The path parameter ``name`` as an Orthanc identifier; 400 if it is not one.

    ``/thumbnails/x%3Fsize=5`` answers 400 with ``{"error": "instance_id is not an
    Orthanc identifier ...", "parameter": "instance_id", ...}``; what was sent is
    not echoed.
    """
    value = request.params[name]
    if not isinstance(value, str) or not ORTHANC_ID.fullmatch(value):
        raise BadRequest(
            f"{name} is not an Orthanc identifier (five groups of 8 lowercase hex digits, "
            "joined by dashes)",
            parameter=name,
        )
    return value
