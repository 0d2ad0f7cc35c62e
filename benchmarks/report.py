"""The results of a run as a Markdown table and as JSON, with the machine's description."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .machine import summary_line
from .scenarios.base import Result

HOW = """\
Every figure is measured in this run, with the configurations' repetitions
interleaved, and medians are quoted; targets are judged on ratios or
differences of medians (P6, a start-up time, is a duration by nature).
Clients run on the same machine, over loopback: threads with one keep-alive
connection each (P1, P2, P4, P5, P7); wrk for throughput (P3) and the real
workloads (P8, P9). Raw figures are in the JSON file beside this one."""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(results: Sequence[Result]) -> str:
    lines = ["| id | scenario | configuration | result | target | verdict |",
             "| --- | --- | --- | --- | --- | --- |"]
    for result in results:
        for index, (configuration, figures) in enumerate(result.rows or [("", "")]):
            first = index == 0
            verdict = f"**{result.verdict}**" + (f": {result.judged}" if result.judged else "")
            lines.append("| " + " | ".join(_cell(cell) for cell in (
                result.id if first else "",
                result.title if first else "",
                configuration,
                figures,
                result.target if first else "",
                verdict if first else "",
            )) + " |")
    return "\n".join(lines)


def markdown(results: Sequence[Result], machine: dict[str, Any], run: dict[str, Any]) -> str:
    title = "orthanc-runtime benchmark" + (" (quick: figures not meaningful)"
                                           if run["mode"] == "quick" else "")
    return (f"# {title}, {machine['date'][:10]}\n\n"
            f"Machine: {summary_line(machine)}.\n\n"
            f"Run: {run['mode']}, {run['seconds']:.0f} s; load average "
            f"{machine['load_average_at_start'][0]} at start, "
            f"{machine['load_average_at_end'][0]} at the end.\n\n"
            f"{table(results)}\n\n{HOW}\n")


def _clean(value: Any) -> Any:
    """JSON has no NaN: an empty sample's statistics become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def as_json(results: Sequence[Result], machine: dict[str, Any], run: dict[str, Any]) -> str:
    document = {
        "machine": machine,
        "run": run,
        "scenarios": [
            {"id": r.id, "title": r.title, "target": r.target, "verdict": r.verdict,
             "judged": r.judged, "rows": [list(row) for row in r.rows], "seconds": r.seconds,
             "data": r.data}
            for r in results
        ],
    }
    return json.dumps(_clean(document), indent=2, ensure_ascii=False)


def write(folder: Path, stem: str, results: Sequence[Result], machine: dict[str, Any],
          run: dict[str, Any]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / f"{stem}.md"
    js = folder / f"{stem}.json"
    md.write_text(markdown(results, machine, run))
    js.write_text(as_json(results, machine, run) + "\n")
    return md, js
