"""Upload a few of pydicom's bundled test files to an Orthanc, to try the recipes on.

    python examples/demo_upload.py                          # to http://localhost:8042
    python examples/demo_upload.py http://orthanc:8042

``examples/demo.py`` (``make demo``) uploads the same files itself when Orthanc
starts; this script does it over HTTP, for any Orthanc.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pydicom

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"

# name -> what it shows
DEMO_FILES: dict[str, str] = {
    "CT_small.dcm": "a CT slice: thumbnail, dump",
    "MR_small.dcm": "an MR slice: thumbnail, dump, auto-routing (MR studies)",
    "examples_ybr_color.dcm": "a colour multi-frame instance: ?frame=",
    "JPEG2000.dcm": "a JPEG 2000 image Orthanc 1.10 cannot decode: thumbnail 415",
    "badVR.dcm": "an invalid IS value: text dump with warnings, JSON dump 422",
    "dicomdirtests/98892003/MR700": "a 7-instance MR series: series and study thumbnails",
}


def demo_files() -> list[Path]:
    """The files of DEMO_FILES, folders expanded."""
    found: list[Path] = []
    for name in DEMO_FILES:
        path = TEST_FILES / name
        found += sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return found


def upload(url: str) -> list[dict[str, str]]:
    """POSTs each demo file to ``url``/instances; Orthanc's answers."""
    answers = []
    for path in demo_files():
        request = urllib.request.Request(f"{url.rstrip('/')}/instances", data=path.read_bytes(),
                                         method="POST")
        with urllib.request.urlopen(request) as answer:
            answers.append(json.load(answer))
    return answers


if __name__ == "__main__":
    base = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8042"
    for stored in upload(base):
        print(f"{stored['Status']:14} {stored['Path']}")
