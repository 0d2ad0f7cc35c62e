"""Where a worker's time goes in one thumbnail of the 2048 x 2048 radiograph, stage by stage.

    .venv/bin/python -m benchmarks.thumbnail_stages [--repeat 21]

No Orthanc: the file is written by ``benchmarks/images.py`` and each stage of
the thumbnails recipe's raw path (``Pixels: raw``) runs here, in this
process, as a worker runs it: pydicom parses the file, ``recipes.pixels``
windows the frame, Pillow shrinks it to 64 pixels and encodes the JPEG. The
median of each stage is printed, in milliseconds; beside them, a copy of the
file's bytes (what moving the file costs, at the least, on each side).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from recipes import pixels, thumbnails

from . import images
from .stats import median

EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"


def timed(stage: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The median seconds of ``repeat`` calls, and the last call's result."""
    seconds = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = stage()
        seconds.append(time.perf_counter() - started)
    return median(seconds), result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.thumbnail_stages",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=21)
    repeat = parser.parse_args(argv).repeat
    with tempfile.TemporaryDirectory() as folder:
        data = images.radiograph(Path(folder) / "radiograph.dcm").read_bytes()
    rows: list[tuple[str, float]] = []
    copy, _ = timed(lambda: bytearray(data), repeat)
    rows.append((f"copy of the file's {len(data) / 2**20:.1f} MB", copy))
    parse, found = timed(lambda: pixels.from_file(data, EXPLICIT_LITTLE, 0), repeat)
    rows.append(("pydicom parses the file, the frame located", parse))
    layout, raw = found
    window, image = timed(lambda: pixels.render(raw, layout), repeat)
    rows.append(("the window, 2048 x 2048 words to 8 bits (recipes.pixels)", window))
    frame = thumbnails.Frame(image, image.size, "raw")
    wanted = thumbnails.Thumbnail(64, "jpeg", None)
    shrink, _ = timed(lambda: thumbnails.encoded(frame, wanted, 80), repeat)
    rows.append(("Pillow: LANCZOS to 64 pixels, JPEG", shrink))
    for name, seconds in rows:
        print(f"{seconds * 1e3:7.2f} ms  {name}")
    print(f"{sum(s for _, s in rows[1:]) * 1e3:7.2f} ms  in all, without moving the file")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
