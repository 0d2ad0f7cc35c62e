"""The benchmark harness runs on its tiny setting: a table and a JSON file with every scenario.

A smoke test, not a benchmark: nothing here depends on a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


# `make test` installs Debian's orthanc-python, which the benchmark compares with.
@pytest.mark.timeout(300)
def test_quick_run_writes_a_table_and_json_with_every_scenario(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    ids = [scenario.ID for scenario in SCENARIOS]
    assert ids == [f"P{n}" for n in range(1, 15)]
    (table,) = tmp_path.glob("*.md")
    (document,) = tmp_path.glob("*.json")

    rows = [line for line in table.read_text().splitlines() if line.startswith("| P")]
    assert [row.split("|")[1].strip() for row in rows] == ids
    assert "| id | scenario | configuration | result | target | verdict |" in run.stdout

    results = json.loads(document.read_text())
    assert [s["id"] for s in results["scenarios"]] == ids
    assert all(s["verdict"] in ("met", "not met", "reported") for s in results["scenarios"])
    assert all(s["rows"] for s in results["scenarios"])
    machine = results["machine"]
    for key in ("cpu", "cores", "memory_gb", "python", "orthanc", "official_plugin", "date"):
        assert machine[key], key
