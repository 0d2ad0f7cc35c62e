"""The generator of the SDK layer: OrthancCPlugin.h -> model -> bindings, enums, stubs, docs.

    .venv/bin/python -m orthanc_native.codegen            # rewrites the generated files
    .venv/bin/python -m orthanc_native.codegen --out DIR  # writes them under DIR instead

model.py reads the header with libclang (the optional dependency group
``codegen``); rules.py lists every hand-written or left-out function with its
reason; emit.py holds the templates. The output is committed, so building the
plugin needs no parser; tests/unit/test_codegen.py regenerates into a temporary
folder and fails when the committed files are stale.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from . import emit, model

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = {
    "cpp": "orthanc_native/src/sdk_api.cpp",
    "python": "runtime/sdk/calls.py",
    "catalog": "runtime/sdk/catalog.py",
    "enums": "runtime/enums.py",
    "stubs": "stubs/orthanc-stubs/__init__.pyi",
    "model": "orthanc_native/codegen/sdk_model.json",
}


def gcc_include() -> str:
    """GCC's own include folder, for stddef.h and stdint.h as the header includes them."""
    answer = subprocess.run(["gcc", "-print-file-name=include"], capture_output=True, text=True,
                            check=True)
    return answer.stdout.strip()


def generate(out: Path = ROOT, header: Path | None = None) -> dict[str, Path]:
    parsed = model.parse(header, gcc_include())
    missing = emit.unclassified(parsed)
    if missing:
        raise SystemExit("functions neither bound nor listed in rules.py: "
                         + ", ".join(f"{f.name} ({f.unsupported})" for f in missing))
    texts = {
        "cpp": lambda: emit.cpp(parsed),
        "python": lambda: emit.python(parsed),
        "catalog": lambda: emit.catalog(parsed),
        "enums": lambda: emit.enums(parsed),
        "stubs": lambda: emit.stubs(parsed),
        "model": lambda: emit.model_json(parsed),
    }
    written = {}
    for key, relative in OUTPUTS.items():
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(texts[key]())
        written[key] = path
    return written
