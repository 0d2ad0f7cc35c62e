"""docs/compat.md: how much of the official plugin's API the ``orthanc`` module covers.

Checked on the module itself (runtime.compat, hand-written names and generated
ones alike) against the official APIs recorded in
orthanc_native/codegen/official_api.json, with each call's "needs Orthanc >="
from the header's model. The generator cannot write this table: it imports
nothing of the runtime (an import-linter contract). ``make codegen`` runs
``python -m runtime.devkit.coverage`` after it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orthanc_native.codegen import ROOT, emit, gcc_include, model, rules

OUTPUT = "docs/compat.md"


def write(out: Path = ROOT, header: Path | None = None) -> Path:
    """Writes the coverage table under ``out``; returns its path."""
    from runtime import compat

    parsed = model.parse(header, gcc_include())
    officials = {version: rules.official_api(version) for version in rules.OFFICIAL_VERSIONS}
    path = out / OUTPUT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(emit.compat_md(parsed, officials, compat))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m runtime.devkit.coverage")
    parser.add_argument("--out", type=Path, default=ROOT, help="root folder to write under")
    arguments = parser.parse_args()
    try:
        print(write(arguments.out))
    except FileNotFoundError as missing:  # no header: say what to run, without a traceback
        raise SystemExit(str(missing)) from None


if __name__ == "__main__":
    main()
