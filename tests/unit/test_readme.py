"""The README and the documentation stay true: the configuration reference is the schema's,
the examples are files that tests run, every recipe setting is documented with its default."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from runtime.configuration import load_schema

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def leaves(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    found = {}
    for key, sub in schema.get("properties", {}).items():
        name = f"{prefix}{key}"
        if sub.get("type") == "object" and "properties" in sub:
            found.update(leaves(sub, f"{name}."))
        else:
            found[name] = sub
    return found


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("configuration_page", DOCS / "hooks" / "configuration.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_is_at_most_200_lines():
    assert len(README.splitlines()) <= 200


def test_the_configuration_page_is_what_the_generator_writes_from_the_schema():
    assert (DOCS / "configuration.md").read_text() == generator().expected(), \
        "docs/configuration.md is stale: run `python docs/hooks/configuration.py`"


def test_every_setting_of_the_schema_is_on_the_configuration_page_with_its_default():
    rows = {}
    for line in (DOCS / "configuration.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) == 5 and re.fullmatch(r"`[A-Za-z.\[\]]+`", cells[0]):
            rows[cells[0].strip("`")] = cells
    for name, sub in leaves(load_schema()).items():
        assert name in rows, f"{name} is missing from docs/configuration.md"
        if "default" in sub and not isinstance(sub["default"], (list, dict)):
            expected = str(sub["default"]).lower() if isinstance(sub["default"], bool) else str(sub["default"])
            assert expected in rows[name][2], f"{name}: the page says {rows[name][2]}, the schema {expected}"


def test_the_readme_example_is_the_file_a_test_runs():
    example = (ROOT / "examples" / "hello.py").read_text()
    assert example in README


SECTIONS = {"AutoRouting": "Auto-routing", "Thumbnails": "Thumbnails", "PydicomDump": "pydicom dump",
            "CpuDemo": "CPU demo", "StudyExport": "Study export", "Worklists": "Worklists"}


def test_every_recipe_setting_is_documented_on_the_recipes_page():
    page = (DOCS / "recipes.md").read_text()
    recipes = load_schema()["properties"]["Recipes"]["properties"]
    assert set(recipes) == set(SECTIONS)
    for recipe, sub in recipes.items():
        text = page.split(f"## {SECTIONS[recipe]}\n", 1)[1].split("\n## ", 1)[0]
        for key, prop in sub.get("properties", {}).items():
            if key == "Enabled":
                continue
            assert f"`{key}`" in text, f"Recipes.{recipe}.{key} is not documented in docs/recipes.md"
            if "default" in prop and not isinstance(prop["default"], (list, dict)):
                default = str(prop["default"]).lower() if isinstance(prop["default"], bool) else str(prop["default"])
                after = [part[:40] for part in text.split(f"`{key}`")[1:]]
                assert any(default in part for part in after), f"Recipes.{recipe}.{key}: default {default} not given"


def test_the_job_example_is_the_file_a_test_runs():
    assert (ROOT / "examples" / "export_job.py").read_text() in (DOCS / "jobs.md").read_text()
