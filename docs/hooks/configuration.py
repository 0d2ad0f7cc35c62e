"""The configuration reference, docs/configuration.md, written from config.schema.json.

`python docs/hooks/configuration.py` writes the page; tests/unit/test_configuration_page.py
fails when the committed page differs from what this writes, and `make docs` refuses to build
a stale one (the hook below). Every setting gets one row: its JSON path, type, default,
bounds and the schema's own description, so the page cannot say what the schema does not.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "config.schema.json"
PAGE = ROOT / "docs" / "configuration.md"

INTRO = """\
# Configuration reference

<!-- Written by docs/hooks/configuration.py from config.schema.json: do not edit by hand. -->

The plugin reads the section `"PythonRuntime"` of Orthanc's configuration; for compatibility
it also accepts the official plugin's top-level `"PythonScript"` and `"PythonVerbose"`. The
section is validated against `config.schema.json` when the plugin starts: on a problem,
Orthanc's log names its JSON path and the reason, and Orthanc refuses to start.
`orthanc-runtime check-config orthanc.json` does the same check offline, and
`orthanc-runtime schema` prints the schema.

```json
--8<-- "samples/configuration.json"
```

The plugin's path is what `orthanc-runtime plugin-path` prints.
"""


def type_of(sub: dict[str, Any]) -> str:
    if "enum" in sub:
        return " or ".join(f"`{json.dumps(value)}`" for value in sub["enum"])
    kind = sub.get("type", "")
    if kind == "array" and "type" in sub.get("items", {}):
        return f"array of {sub['items']['type']}s"
    return str(kind)


def bounds_of(sub: dict[str, Any]) -> str:
    found = []
    for key, sign in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("minItems", "items >=")):
        if key in sub:
            found.append(f"{sign} {sub[key]}")
    if "pattern" in sub:
        found.append(f"matches `{sub['pattern']}`")
    return ", ".join(found)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, sub in schema.get("properties", {}).items():
        name = f"{prefix}{key}"
        if "properties" in sub:
            found += rows(sub, f"{name}.")
            continue
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        found.append(f"| `{name}` | {cell(type_of(sub))} | {cell(default)} | {cell(bounds_of(sub))} | "
                     f"{cell(sub.get('description', ''))} |")
        items = sub.get("items", {})
        if "properties" in items:
            found += rows(items, f"{name}[].")
    return found


def sections(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """One table per object of the schema: the top level, Pool, Pool.Dask, Cluster, each recipe."""
    top = {"properties": {key: sub for key, sub in schema["properties"].items() if "properties" not in sub}}
    found = [("The section", schema.get("description", ""), top)]
    pool = schema["properties"]["Pool"]
    found.append(("Pool", pool.get("description", ""),
                  {"properties": {k: v for k, v in pool["properties"].items() if "properties" not in v}}))
    found.append(("Pool.Dask", pool["properties"]["Dask"].get("description", ""), pool["properties"]["Dask"]))
    cluster = schema["properties"]["Cluster"]
    found.append(("Cluster", cluster.get("description", ""), cluster))
    recipes = schema["properties"]["Recipes"]
    for name, sub in recipes["properties"].items():
        found.append((f"Recipes.{name}", sub.get("description", ""), sub))
    return found


def render(schema: dict[str, Any]) -> str:
    parts = [INTRO]
    for title, description, sub in sections(schema):
        prefix = "" if title == "The section" else f"{title}."
        parts.append(f"## {title}\n\n{description}\n\n"
                     "| setting | type | default | bounds | what it does |\n| --- | --- | --- | --- | --- |\n"
                     + "\n".join(rows(sub, prefix)) + "\n")
    return "\n".join(parts)


def expected() -> str:
    return render(json.loads(SCHEMA.read_text()))


def on_pre_build(config: Any) -> None:
    """The mkdocs hook: a page older than the schema fails the build, saying how to fix it."""
    if PAGE.read_text() != expected():
        from mkdocs.exceptions import PluginError

        raise PluginError("docs/configuration.md is stale: run `python docs/hooks/configuration.py`")


if __name__ == "__main__":
    PAGE.write_text(expected())
    sys.stdout.write(f"wrote {PAGE.relative_to(ROOT)}\n")
