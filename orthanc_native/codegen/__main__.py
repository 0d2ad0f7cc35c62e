"""`python -m orthanc_native.codegen [--out DIR]`: see the package docstring."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import ROOT, generate

parser = argparse.ArgumentParser(prog="python -m orthanc_native.codegen")
parser.add_argument("--out", type=Path, default=ROOT, help="root folder to write under")
arguments = parser.parse_args()
try:
    written = generate(arguments.out)
except FileNotFoundError as missing:  # no header: say what to run, without a traceback
    raise SystemExit(str(missing)) from None
for path in written.values():
    print(path)
