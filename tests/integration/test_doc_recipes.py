"""docs/recipes.md's shell blocks, run as printed against the demo that the page describes.

One Orthanc runs examples/demo.py with examples/demo.json, as ``make demo`` does (on free
loopback ports here). Each test takes its block's text from the page, puts real identifiers
in place of ``<instance-id>``, ``<study-id>``... and the test's server in place of
``localhost:8042``, makes each ``curl`` request in Python (the Debian roots where these tests
also run have no curl) and checks what the page says the answer is. The worklists block's
``findscu`` line runs for real: DCMTK is installed by the Makefile and in the roots
(tests/debian_root.py's PACKAGES), as for the DICOM services' tests.
"""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import threading
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.harness import PYDICOM_FILES, Orthanc, Uploaded, check_log, running_orthanc

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "recipes.md"
EXAMPLES = ROOT / "examples"
DOCS_SERVER = "http://localhost:8042"
MR_SERIES = "dicomdirtests/98892003/MR700"  # one of the demo's files (examples/demo_upload.py)
FOR_LOOP = re.compile(r"^for \w+ in ([^;]+); do (.+?) & done; wait$")


def block(section: str) -> list[str]:
    """The lines of the shell block under ``## section`` of the page."""
    part = PAGE.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```sh\n(.*?)^```", part, re.M | re.S)
    assert match, f"no shell block under {section!r} in {PAGE}"
    return match.group(1).splitlines()


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes
    output: str | None  # curl's -o: the file the page writes the answer to
    promise: str  # the line's comment

    def json(self) -> object:
        return json.loads(self.body)


def curl(line: str, server: Orthanc, ids: dict[str, str]) -> Answer:
    """The line's curl command (``$ `` and a ``# comment`` aside), made with urllib."""
    command, _, promise = line.removeprefix("$ ").partition("  #")
    for name, value in ids.items():
        command = command.replace(f"<{name}>", value)
    assert "<" not in command, f"an identifier left to substitute in {line!r}"
    args = shlex.split(command.replace(DOCS_SERVER, server.url))
    assert args[0] == "curl", line
    method, output, url = "GET", None, None
    rest = iter(args[1:])
    for arg in rest:
        if arg == "-X":
            method = next(rest)
        elif arg == "-o":
            output = next(rest)
        elif arg == "-s":
            pass
        else:
            assert url is None and arg.startswith(server.url), f"an argument this test does not know: {arg!r}"
            url = arg
    assert url, line
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            status, headers, body = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    return Answer(status, headers.get("Content-Type", ""), body, output, promise.strip(" #"))


def curl_loop(line: str, server: Orthanc, ids: dict[str, str]) -> list[Answer]:
    """``for i in 1 2 3; do curl ... & done; wait``: the curls at once, in threads."""
    match = FOR_LOOP.match(line)
    assert match, line
    answers: list[Answer] = []
    threads = [threading.Thread(target=lambda: answers.append(curl(match.group(2), server, ids)))
               for _ in match.group(1).split()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == len(threads)
    return answers


@dataclass
class Demo:
    server: Orthanc
    ct: Uploaded  # CT_small.dcm: one frame
    color: Uploaded  # examples_ybr_color.dcm: several frames
    series: list[Uploaded]  # MR_SERIES: seven single-frame instances, a study of one series


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    config = json.loads((EXAMPLES / "demo.json").read_text())
    with running_orthanc(tmp_path_factory.mktemp("demo"), EXAMPLES / "demo.py", config) as server:
        server.wait_for_log("orthanc-runtime demo: uploaded", timeout=60)
        series = [server.upload(path) for path in sorted((PYDICOM_FILES / MR_SERIES).iterdir())]
        yield Demo(server, server.upload(PYDICOM_FILES / "CT_small.dcm"),
                   server.upload(PYDICOM_FILES / "examples_ybr_color.dcm"), series)
        check_log(server)


def image(answer: Answer, size: int) -> Image.Image:
    """The answer as the image its output file names (.jpg or .png), no larger than ``size``."""
    assert answer.status == 200, answer.body[:300]
    kind = {".jpg": ("image/jpeg", "JPEG"), ".png": ("image/png", "PNG")}[Path(answer.output or "").suffix]
    assert answer.content_type == kind[0]
    picture = Image.open(io.BytesIO(answer.body))
    assert picture.format == kind[1]
    assert 0 < max(picture.size) <= size
    return picture


def test_the_auto_routing_status_lists_pending_sent_and_failed(demo):
    (line,) = block("Auto-routing")
    answer = curl(line, demo.server, {})
    assert answer.promise == "pending, sent, failed (with reasons)"
    assert answer.status == 200 and answer.content_type.startswith("application/json")
    status = answer.json()
    assert isinstance(status, dict)
    assert all(isinstance(status[key], list) for key in ("pending", "sent", "failed"))
    assert [rule["name"] for rule in status["rules"]] == ["demo: MR studies to this Orthanc"]


def test_the_thumbnails_lines_answer_jpeg_and_png(demo):
    lines = block("Thumbnails")
    assert len(lines) == 4
    one = image(curl(lines[0], demo.server, {"instance-id": demo.ct}), 128)
    assert one.size == (128, 128)  # CT_small is 128 x 128: never enlarged, not shrunk
    frames = demo.server.get(f"/instances/{demo.color}/frames").json()
    assert len(frames) > 2  # frame=2 is one of its frames
    frame = image(curl(lines[1], demo.server, {"instance-id": demo.color}), 64)
    assert max(frame.size) == 64
    ids = {"series-id": demo.series[0]["ParentSeries"], "study-id": demo.series[0]["ParentStudy"]}
    series = curl(lines[2], demo.server, ids)
    study = curl(lines[3], demo.server, ids)
    assert series.promise == "its middle instance"
    image(series, 64)
    image(study, 64)
    by_number = sorted(demo.series, key=lambda i: int(
        demo.server.get(f"/instances/{i}/simplified-tags").json()["InstanceNumber"]))
    middle = demo.server.get(f"/thumbnails/{by_number[len(by_number) // 2]}")
    first = demo.server.get(f"/thumbnails/{by_number[0]}")
    assert series.body == middle.body != first.body
    assert study.body == series.body  # the study has that series only


def test_the_pydicom_lines_answer_the_dump_and_the_dicom_json(demo):
    text_line, json_line = block("pydicom dump")
    text = curl(text_line, demo.server, {"instance-id": demo.ct})
    assert text.promise == "str(dataset)"
    assert text.status == 200 and text.content_type.startswith("text/plain")
    assert "(0010,0010) Patient's Name" in text.body.decode() and "CompressedSamples^CT1" in text.body.decode()
    model = curl(json_line, demo.server, {"instance-id": demo.ct})
    assert model.promise == "the DICOM JSON model"
    assert model.status == 200 and model.content_type.startswith("application/dicom+json")
    assert model.json()["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^CT1"}]}  # type: ignore[index]


def test_the_cpu_demo_lines_run_in_a_worker_and_inline(demo):
    offloaded_line, inline_line, loop_line = block("CPU demo")
    orthanc_pid = demo.server.process.process.pid  # type: ignore[union-attr]
    offloaded = curl(offloaded_line, demo.server, {})
    assert offloaded.promise == "in a worker" and offloaded.status == 200
    assert offloaded.json()["n"] == 1000 and offloaded.json()["offloaded"] is True  # type: ignore[index]
    assert offloaded.json()["pid"] != orthanc_pid  # type: ignore[index]
    inline = curl(inline_line, demo.server, {})
    assert inline.promise == "in Orthanc's interpreter" and inline.status == 200
    assert inline.json()["offloaded"] is False and inline.json()["pid"] == orthanc_pid  # type: ignore[index]
    answers = [a.json() for a in curl_loop(loop_line, demo.server, {})]
    assert len(answers) == 3
    for answer in answers:  # "the seconds the loop took, the process id, and its start and end times"
        assert {"seconds", "pid", "start", "end"} <= set(answer)  # type: ignore[arg-type]
        assert answer["offloaded"] is True and answer["pid"] != orthanc_pid  # type: ignore[index]


def test_the_study_export_lines_submit_follow_and_fetch_the_archive(demo):
    submit, progress, fetch = block("Study export")
    ids = {"study-id": demo.ct["ParentStudy"]}
    submitted = curl(submit, demo.server, ids)
    assert submitted.promise == '{"ID": "<job-id>", ...}'
    assert submitted.status == 200, submitted.body
    ids["job-id"] = submitted.json()["ID"]  # type: ignore[index]

    def finished() -> dict | None:
        answer = curl(progress, demo.server, ids)
        assert answer.status == 200 and answer.promise == "progress, per instance"
        job = answer.json()
        assert isinstance(job, dict) and "Progress" in job
        return job if job["State"] in ("Success", "Failure") else None

    job = demo.server.wait_for(finished, timeout=60, what="the export job's end")
    assert job["State"] == "Success", job
    archive = curl(fetch, demo.server, ids)
    assert archive.status == 200 and archive.content_type == "application/zip"
    assert archive.output == "study.zip"
    names = zipfile.ZipFile(io.BytesIO(archive.body)).namelist()
    assert len(names) == 1 and names[0].endswith(f"{demo.ct}.png")


def test_the_worklists_lines_find_the_ct_item_and_list_both(demo):
    find_line, list_line = block("Worklists")
    args = shlex.split(find_line.removeprefix("$ "))
    assert args[0] == "findscu" and args[-2:] == ["localhost", "4242"]
    assert shutil.which("findscu"), "DCMTK's findscu is missing: `make system` installs dcmtk"
    found = subprocess.run([*args[:-1], str(demo.server.dicom_port)], capture_output=True, text=True,
                           timeout=60, check=False)
    assert found.returncode == 0, found.stdout + found.stderr
    output = found.stdout + found.stderr
    assert "DOE^JOHN" in output and "WL-001" in output
    assert "SMITH^ANNA" not in output  # the MR item does not match Modality=CT
    listed = curl(list_line, demo.server, {})
    assert listed.status == 200
    items = listed.json()
    assert isinstance(items, list)
    assert sorted(item["00100020"]["Value"][0] for item in items) == ["WL-001", "WL-002"]
