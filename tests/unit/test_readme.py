"""The README stays true: its configuration table matches config.schema.json, its example is a file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from runtime.configuration import load_schema

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def leaves(schema: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    found = {}
    for key, sub in schema.get("properties", {}).items():
        name = f"{prefix}{key}"
        if name == "Recipes":
            continue  # documented in the recipes' sections
        if sub.get("type") == "object":
            found.update(leaves(sub, f"{name}."))
        else:
            found[name] = sub
    return found


def readme_table() -> dict[str, str]:
    table = {}
    for line in README.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"`[A-Za-z.*]+`", cells[0]):
            table[cells[0].strip("`")] = cells[2]
    return table


def test_every_setting_of_the_schema_is_in_the_readme_with_its_default():
    table = readme_table()
    for name, sub in leaves(load_schema()).items():
        assert name in table, f"{name} is missing from the README's configuration table"
        if "default" in sub:
            expected = str(sub["default"]).lower() if isinstance(sub["default"], bool) else str(sub["default"])
            assert table[name] == f"`{expected}`", f"{name}: README says {table[name]}, schema {expected}"


def test_the_readme_lists_no_setting_the_schema_lacks():
    known = set(leaves(load_schema())) | {"Recipes.*"}
    assert set(readme_table()) <= known


def test_the_readme_example_is_the_file_a_test_runs():
    example = (ROOT / "examples" / "hello.py").read_text()
    assert example in README


SECTIONS = {"AutoRouting": "Auto-routing", "Thumbnails": "Thumbnails", "PydicomDump": "pydicom dump",
            "CpuDemo": "CPU demo", "StudyExport": "Study export", "Worklists": "Worklists"}


def test_every_recipe_setting_is_documented_in_the_readme():
    recipes = load_schema()["properties"]["Recipes"]["properties"]
    assert set(recipes) == set(SECTIONS)
    for recipe, sub in recipes.items():
        text = README.split(f"### {SECTIONS[recipe]}\n", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
        for key, prop in sub.get("properties", {}).items():
            if key == "Enabled":
                continue
            assert f"`{key}`" in text, f"Recipes.{recipe}.{key} is not documented in the README"
            if "default" in prop and not isinstance(prop["default"], (list, dict)):
                default = str(prop["default"]).lower() if isinstance(prop["default"], bool) else str(prop["default"])
                after = [part[:40] for part in text.split(f"`{key}`")[1:]]
                assert any(default in part for part in after), f"Recipes.{recipe}.{key}: default {default} not given in the README"


def test_the_readme_job_example_is_the_file_a_test_runs():
    assert (ROOT / "examples" / "export_job.py").read_text() in README
