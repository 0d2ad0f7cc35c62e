"""Scripts written for the official Python plugin's API (``import orthanc``) run on ours.

The scripts in tests/scripts/official_api/ are the project's own: each does a job a
hospital's IT team might give it (an arrivals register, study lists, a contact sheet of a
series, a quarantine for uploads, access decided by an outside service...) through the
calls of the official plugin's ``orthanc`` module: REST callbacks and RestOutput, change
and stored-instance callbacks, HTTP filters, the REST API from inside, images, the DICOM
dictionary, OrthancException, Orthanc Explorer, a storage area, threads, timers,
multiprocessing pools, a pynetdicom server. Each test runs them as the official plugin
would (the first as ``"PythonScript"``, the rest through ``"PythonRuntime": {"Scripts"}``,
each its own module), on a real Orthanc with our plugin, and checks what they do: an
answer, an image, a stored instance, a file they write, a line they log.

Scripts that do not get in each other's way share one Orthanc (a module fixture per
group), which keeps this file quick. ``SCRIPTS`` says which test runs each script; the
first test checks it covers the folder, but for the DICOM network scripts
(``dicom_*.py``), which a test file of their own runs.
"""

from __future__ import annotations

import base64
import http.server
import inspect
import io
import json
import math
import platform
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from PIL import Image, ImageChops, ImageStat
from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword

from orthanc_native import plugin_path
from tests.harness import (
    OFFICIAL_API,
    PYDICOM_FILES,
    Orthanc,
    check_log,
    official_orthanc,
    running_orthanc,
    stop_and_check,
    wait_for,
)

MR700 = sorted((PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR700").iterdir())
STUDIES = ["CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm", "examples_overlay.dcm"]
DICOMWEB = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"

# The Orthancs the tests share (the fixture of that name runs the list), and the tests
# that check each script.
GROUP_A = ["site_routes.py", "study_browser.py", "image_pages.py", "synthetic_dicom.py",
           "tag_tools.py", "api_inventory.py", "error_handling.py", "arrivals.py",
           "change_journal.py", "request_audit.py", "extra_paths.py", "inline_benchmark.py",
           "housekeeping_timer.py"]
GROUP_B = ["change_feed.py", "file_storage.py", "pooled_benchmark.py", "store_listener.py"]
GUARDED = ["external_authorization.py", "token_worker.py"]
ROUTING = ["study_forwarding.py", "route_overrides.py"]
GROUPS = {"group_a": GROUP_A, "group_b": GROUP_B, "guarded": GUARDED, "routing": ROUTING}
SCRIPTS: dict[str, list[str]] = {
    "site_routes.py": ["test_bed_route_answers_from_its_regex_groups",
                       "test_explorer_button_and_its_route"],
    "study_browser.py": ["test_studies_by_date_a_page_at_a_time",
                         "test_tools_find_filters_by_metadata"],
    "image_pages.py": ["test_contact_sheet_of_a_series", "test_jpeg_thumbnail_of_an_instance"],
    "synthetic_dicom.py": ["test_qa_pattern_made_from_a_png"],
    "tag_tools.py": ["test_dictionary_entries_of_the_rule_tags",
                     "test_instance_printed_by_pydicom"],
    "api_inventory.py": ["test_inventory_of_the_orthanc_module"],
    "error_handling.py": ["test_unknown_resource_told_from_other_errors"],
    "arrivals.py": ["test_arrivals_register_from_stored_instances"],
    "change_journal.py": ["test_journal_written_by_a_thread"],
    "request_audit.py": ["test_requests_audited_and_deletions_guarded"],
    "extra_paths.py": ["test_site_libraries_on_sys_path"],
    "inline_benchmark.py": ["test_benchmark_in_the_request_thread"],
    "housekeeping_timer.py": ["test_housekeeping_timer_between_start_and_stop"],
    "change_feed.py": ["test_change_feed_and_import_on_startup"],
    "file_storage.py": ["test_attachments_in_our_own_file_tree"],
    "pooled_benchmark.py": ["test_benchmark_in_a_multiprocessing_pool"],
    "store_listener.py": ["test_pynetdicom_listener_instead_of_orthancs_dicom_server"],
    "external_authorization.py": ["test_access_decided_by_an_outside_service"],
    "token_worker.py": ["test_worker_process_reads_the_api_with_a_token"],
    "study_forwarding.py": ["test_stable_study_forwarded_to_a_modality"],
    "route_overrides.py": ["test_uploads_held_for_review", "test_dicomweb_metadata_without_private_tags"],
}


# Scripts whose tests live in a file of their own (the feature's), beside the DICOM ones.
ELSEWHERE = {"tiered_storage.py": "test_storage_area_custom_data.py",
             "compile_on_ingest.py": "test_python_in_orthanc_threads.py",
             "pool_default_start.py": "test_python_in_orthanc_threads.py"}


def test_every_script_is_run_by_a_test():
    for script, test_file in ELSEWHERE.items():
        assert script in (Path(__file__).parent / test_file).read_text(), (script, test_file)
    ours = sorted(p.name for p in OFFICIAL_API.glob("*.py")
                  if not p.name.startswith("dicom_") and p.name not in ELSEWHERE)
    assert ours == sorted(SCRIPTS)
    assert sorted(name for group in GROUPS.values() for name in group) == ours
    for script, tests in SCRIPTS.items():
        [fixture] = [name for name, group in GROUPS.items() if script in group]
        for name in tests:
            test = globals().get(name)
            assert callable(test), f"{script}: no {name}"
            assert fixture in inspect.signature(test).parameters, \
                f"{name} does not use {fixture}, the Orthanc that runs {script}"


# -- helpers ------------------------------------------------------------------------------

def stopped(server: Orthanc) -> str:
    """Stops the server (SIGTERM, clean exit checked): its whole log."""
    stop_and_check(server)
    check_log(server)
    return server.log()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def primes_below(limit: int) -> int:
    """A sieve: another way than the scripts' trial division."""
    sieve = bytearray([1]) * limit
    sieve[0:2] = b"\0\0"
    for n in range(2, math.isqrt(limit) + 1):
        if sieve[n]:
            sieve[n * n::n] = bytearray(len(range(n * n, limit, n)))
    return sum(sieve)


def working_folder(server: Orthanc) -> Path:
    return server.folder.parent


# -- group A: routes, images, dictionary, callbacks, filters, timers ----------------------

SITE_CODES = 'VERSION = "2026.12"\n'


class Stored:
    """What group A's Orthanc holds: the upload answers by file name, the MR700 series."""

    def __init__(self, server: Orthanc) -> None:
        self.server = server
        self.uploaded = {name: server.upload(name) for name in STUDIES}
        self.series = [server.upload(path) for path in MR700]


@pytest.fixture(scope="module")
def group_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    folder = tmp_path_factory.mktemp("official-a")
    pixels = bytes(b for y in range(48) for x in range(64) for b in (x * 4, y * 5, (x ^ y) * 3))
    Image.frombytes("RGB", (64, 48), pixels).save(folder / "qa-pattern.png")
    (folder / "site-libs").mkdir()
    (folder / "site-libs" / "site_codes.py").write_text(SITE_CODES)
    config = {"HousekeepingSeconds": 1, "SiteLibraries": [str(folder / "site-libs")]}
    with official_orthanc(folder, GROUP_A, config) as server:
        yield Stored(server)


def test_bed_route_answers_from_its_regex_groups(group_a):
    server = group_a.server
    answer = server.get("/site/beds/icu/12?asked=by-test")
    assert answer.status == 200
    assert answer.json() == {"unit": "icu", "bed": 12,
                             "where": "Intensive care unit, building B, 2nd floor"}
    assert server.get("/site/beds/er/3").json()["unit"] == "er"
    assert server.get("/site/beds/oncology/1").status == 404  # the regex does not match
    log = server.wait_for_log("site route /site/beds/icu/12: ")
    assert ("site route /site/beds/icu/12: method GET, groups ('icu', '12'), "
            "query {'asked': 'by-test'}") in log


def test_explorer_button_and_its_route(group_a):
    server = group_a.server
    answer = server.get("/site/python")
    assert (answer.status, answer.text) == (200, f"Site scripts run on Python {platform.python_version()}")
    explorer = server.get("/plugins/explorer.js")  # what Orthanc Explorer loads from plugins
    assert explorer.status == 200
    assert "$('#site-python-info').length" in explorer.text
    assert "$.get('../site/python'" in explorer.text
    # The runtime's own button to its operator page (runtime.callbacks.operator_page) is
    # there too: one plugin's extensions add up, none replaces the script's.
    assert 'href="../runtime/ui/index.html"' in explorer.text


def test_studies_by_date_a_page_at_a_time(group_a):
    server = group_a.server
    dates = sorted([*(pydicom.dcmread(PYDICOM_FILES / name).StudyDate for name in STUDIES),
                    pydicom.dcmread(MR700[0]).StudyDate])
    every = server.get("/site/studies-by-date").json()
    assert [s["MainDicomTags"]["StudyDate"] for s in every] == dates
    assert [s["ID"] for s in every] == \
        [s["ID"] for s in sorted(every, key=lambda s: (s["MainDicomTags"]["StudyDate"], s["ID"]))]
    page = server.get("/site/studies-by-date?first=1&count=2").json()
    assert [s["ID"] for s in page] == [s["ID"] for s in every[1:3]]
    rest = server.get("/site/studies-by-date?first=3").json()
    assert [s["ID"] for s in rest] == [s["ID"] for s in every[3:]]
    assert server.post("/site/studies-by-date", "{}").status == 405


def test_tools_find_filters_by_metadata(group_a):
    server = group_a.server
    studies = sorted([*(s["ParentStudy"] for s in group_a.uploaded.values()),
                      group_a.series[0]["ParentStudy"]])
    year = time.strftime("%Y")

    def find(query: dict[str, Any]) -> Any:
        answer = server.post("/tools/find", json.dumps(query))
        assert answer.status == 200, answer.text
        return answer.json()

    assert find({"Level": "Study", "Query": {}, "Metadata": {"LastUpdate": "^1999"}}) == []
    every = find({"Level": "Study", "Query": {}, "Expand": True,
                  "Metadata": {"LastUpdate": f"^{year}"}})
    assert sorted(s["ID"] for s in every) == studies
    assert all(s["Metadata"]["LastUpdate"].startswith(year) for s in every)
    ct = group_a.uploaded["CT_small.dcm"]
    assert find({"Level": "Study", "Query": {"StudyDate": "20040119"}, "Metadata": {}}) == \
        [ct["ParentStudy"]]
    # A metadata item the resource lacks counts as "": only a pattern matching "" keeps it.
    assert find({"Level": "Instance", "Query": {"SOPInstanceUID": pydicom.dcmread(
        PYDICOM_FILES / "CT_small.dcm").SOPInstanceUID}, "Metadata": {"NoSuchItem": "^$"}}) == \
        [ct["ID"]]
    assert server.get("/tools/find").status == 405


def test_contact_sheet_of_a_series(group_a):
    server = group_a.server
    series = group_a.series[0]["ParentSeries"]
    slices = server.get(f"/series/{series}/ordered-slices").json()["Slices"]
    assert len(slices) == len(MR700) == 7
    answer = server.get(f"/series/{series}/contact-sheet")
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    sheet = Image.open(io.BytesIO(answer.body))
    tiles = [Image.open(io.BytesIO(server.get(s + "/preview").body)).convert("L") for s in slices]
    width, height = tiles[0].size
    columns = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / columns)
    assert sheet.mode == "L"
    assert sheet.size == (columns * width, rows * height)
    for index, tile in enumerate(tiles):  # slice i at row i // columns, column i % columns
        x, y = (index % columns) * width, (index // columns) * height
        assert sheet.crop((x, y, x + width, y + height)).tobytes() == tile.tobytes(), index
    for index in range(len(tiles), columns * rows):  # the empty cells: black
        x, y = (index % columns) * width, (index // columns) * height
        assert sheet.crop((x, y, x + width, y + height)).getextrema() == (0, 0)


def test_jpeg_thumbnail_of_an_instance(group_a):
    server = group_a.server
    instance = group_a.uploaded["SC_rgb_rle.dcm"]["ID"]
    answer = server.get(f"/instances/{instance}/thumbnail")
    assert answer.status == 200 and answer.headers["content-type"] == "image/jpeg"
    thumbnail = Image.open(io.BytesIO(answer.body))
    assert thumbnail.format == "JPEG"
    rendered = Image.open(io.BytesIO(server.get(f"/instances/{instance}/rendered").body))
    expected = rendered.convert("RGB")
    expected.thumbnail((64, 64))
    assert max(thumbnail.size) == 64 and thumbnail.size == expected.size
    # The same picture, but for JPEG's losses.
    difference = ImageStat.Stat(ImageChops.difference(thumbnail.convert("RGB"), expected))
    assert max(difference.mean) < 8, difference.mean
    assert server.post(f"/instances/{instance}/thumbnail", "x").status == 405


def test_qa_pattern_made_from_a_png(group_a):
    server = group_a.server
    server.wait_for_log("QA pattern written: 64 x 48 pixels")
    folder = working_folder(server)
    created = pydicom.dcmread(folder / "qa-pattern.dcm")
    assert (created.PatientID, str(created.PatientName)) == ("QA-PHANTOM", "Quality^Control")
    assert (created.SOPClassUID, created.Modality) == ("1.2.840.10008.5.1.4.1.1.7", "OT")
    assert created.SOPInstanceUID and created.StudyInstanceUID  # GENERATE_IDENTIFIERS
    assert (created.Rows, created.Columns, created.PhotometricInterpretation) == (48, 64, "RGB")
    assert created.pixel_array.tobytes() == Image.open(folder / "qa-pattern.png").tobytes()
    assert f"{(folder / 'qa-pattern.dcm').stat().st_size} bytes" in server.log()


def test_dictionary_entries_of_the_rule_tags(group_a):
    log = group_a.server.wait_for_log("dictionary: InstitutionName is ")
    for keyword in ("PatientID", "StudyDate", "Modality", "InstitutionName"):
        tag = tag_for_keyword(keyword)
        assert tag is not None and dictionary_VM(tag) == "1"
        line = (f"dictionary: {keyword} is ({tag >> 16:04X},{tag & 0xFFFF:04X}), "
                f"VR {dictionary_VR(tag)}, multiplicity 1..1")
        assert line in log, line


def test_instance_printed_by_pydicom(group_a):
    server = group_a.server
    ct = group_a.uploaded["CT_small.dcm"]
    answer = server.get(f"/instances/{ct['ID']}/pydicom")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.text == str(pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm"))
    assert "(0010,0010) Patient's Name" in answer.text
    assert server.post(f"/instances/{ct['ID']}/pydicom", "x").status == 405


def test_inventory_of_the_orthanc_module(group_a):
    server = group_a.server
    log = server.wait_for_log("API inventory: ")
    inventory = json.loads((working_folder(server) / "orthanc-api.json").read_text())
    functions, classes = inventory["functions"], inventory["classes"]
    assert re.search(rf"API inventory: {len(functions)} functions and {len(classes)} classes", log)
    assert {"RegisterRestCallback", "RestApiGet", "LookupDictionary", "CreateDicom"} <= set(functions)
    assert classes["ChangeType"]["values"]["STABLE_STUDY"] == 9
    assert classes["ErrorCode"]["values"]["UNKNOWN_RESOURCE"] == 17
    assert "GetImageWidth" in classes["Image"]["methods"]
    assert "GetInstanceSimplifiedJson" in classes["DicomInstance"]["methods"]
    assert "AnswerBuffer" in classes["RestOutput"]["methods"]
    assert not any(name.startswith("_") for name in [*functions, *classes])


def test_unknown_resource_told_from_other_errors(group_a):
    server = group_a.server
    log = server.wait_for_log("self-check: a made-up patient raised ")
    assert "code 17 (Unknown resource), UNKNOWN_RESOURCE: True" in log
    line = log[log.index("self-check: a made-up patient raised "):].split("\n")[0]
    assert "17" in line.split(": code")[0] and "Unknown resource" in line.split(": code")[0]
    patient = group_a.uploaded["CT_small.dcm"]["ParentPatient"]
    assert server.get(f"/site/patients/{patient}/exists").json() == {"exists": True}
    assert server.get("/site/patients/not-a-patient/exists").json() == {"exists": False}


def test_arrivals_register_from_stored_instances(group_a):
    server = group_a.server
    register = working_folder(server) / "arrivals.jsonl"
    count = len(STUDIES) + len(MR700)
    lines = wait_for(lambda: register.exists() and len(register.read_text().splitlines()) >= count
                     and register.read_text().splitlines(), what="a line per instance")
    arrivals = {entry["instance"]: entry for entry in map(json.loads, lines)}
    assert len(arrivals) == len(lines) == count
    ct = group_a.uploaded["CT_small.dcm"]
    assert arrivals[ct["ID"]] == {
        "instance": ct["ID"], "bytes": (PYDICOM_FILES / "CT_small.dcm").stat().st_size,
        "transfer_syntax": "1.2.840.10008.1.2.1", "sop_class": "1.2.840.10008.5.1.4.1.1.2",
        "origin": "REST API", "patient": "CompressedSamples^CT1"}
    assert {entry["origin"] for entry in arrivals.values()} == {"REST API"}


def test_journal_written_by_a_thread(group_a):
    server = group_a.server
    stored = [*(group_a.uploaded[name]["ID"] for name in STUDIES),
              *(s["ID"] for s in group_a.series)]
    files = [*(PYDICOM_FILES / name for name in STUDIES), *MR700]
    for instance, file in zip(stored, files, strict=True):
        uid = pydicom.dcmread(file).SOPInstanceUID
        server.wait_for_log(f"journal: new instance {instance}, SOP instance UID {uid}")


def test_requests_audited_and_deletions_guarded(group_a):
    server = group_a.server
    assert server.get("/system", headers={"X-Audit-Test": "1"}).status == 200
    log = server.wait_for_log("audit: method 1 /system from 127.0.0.1, headers ")
    assert re.search(r"audit: method 1 /system from 127\.0\.0\.1, headers [a-z,-]*x-audit-test", log)
    missing = "/patients/00000000-00000000-00000000-00000000-00000000"
    assert server.delete(missing).status == 403  # refused by the filter
    assert server.delete(missing, headers={"X-Confirm-Delete": "yes"}).status == 404  # Orthanc's
    assert server.wait_for_log(f"audit: method 4 {missing} from ")


def test_site_libraries_on_sys_path(group_a):
    server = group_a.server
    libraries = str(working_folder(server) / "site-libs")
    log = server.wait_for_log("site_codes 2026.12 loaded from ")
    assert f"site_codes 2026.12 loaded from {libraries}/site_codes.py" in log
    before = log[log.index("sys.path before: "):].split("\n")[0]
    after = log[log.index("sys.path after: "):].split("\n")[0]
    assert repr(libraries) not in before
    assert after.startswith(f"sys.path after: [{libraries!r}, ")


def test_benchmark_in_the_request_thread(group_a):
    answer = group_a.server.get("/site/benchmark/inline?limit=60000", timeout=120)
    assert answer.status == 200
    result = answer.json()
    assert (result["limit"], result["primes"]) == (60000, primes_below(60000))
    assert result["seconds"] > 0


def test_housekeeping_timer_between_start_and_stop(group_a):
    server = group_a.server
    server.wait_for_log("housekeeping every 1 s")
    count = len(STUDIES) + len(MR700)
    wait_for(lambda: len(re.findall(rf"housekeeping pass \d+: {count} instances", server.log())) >= 2,
             what="two housekeeping passes")
    log = stopped(server)  # the last test of group A: its Orthanc stops here
    passes = int(re.search(r"housekeeping stopped after (\d+) passes", log).group(1))
    assert passes >= 2
    assert f"housekeeping pass {passes + 1}:" not in log


# -- group B: Orthanc's storage, DICOM server and start-up taken over ---------------------

@pytest.fixture(scope="module")
def group_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("official-b")
    reference = folder / "reference-ct.dcm"
    shutil.copyfile(PYDICOM_FILES / "CT_small.dcm", reference)
    config = {"DicomServerEnabled": False, "ImportOnStartup": [str(reference)],
              "SiteStorageFolder": str(folder / "site-storage")}
    with official_orthanc(folder, GROUP_B, config) as server:
        yield server


def test_change_feed_and_import_on_startup(group_b):
    server = group_b
    server.wait_for_log("feed: Orthanc is up")
    reference = working_folder(server) / "reference-ct.dcm"
    log = server.wait_for_log(f"feed: imported {reference} as ")
    found = server.post("/tools/lookup", pydicom.dcmread(reference).SOPInstanceUID).json()
    assert len(found) == 1
    assert f"feed: imported {reference} as {found[0]['ID']}" in log
    server.wait_for_log(f"feed: new instance {found[0]['ID']}")


def test_attachments_in_our_own_file_tree(group_b):
    server = group_b
    data = (PYDICOM_FILES / "MR_small.dcm").read_bytes()
    uploaded = server.upload(data)
    uuid = server.get(f"/instances/{uploaded['ID']}/attachments/dicom/info").json()["Uuid"]
    stored = Path(server.config["SiteStorageFolder"]) / "1" / uuid[:2] / uuid
    assert stored.read_bytes() == data
    assert server.get(f"/instances/{uploaded['ID']}/file").body == data
    assert not (Path(server.config["StorageDirectory"]) / uuid[:2]).exists()
    assert server.delete(f"/instances/{uploaded['ID']}").status == 200
    assert not stored.exists()
    assert not stored.parent.exists() or any(stored.parent.iterdir())  # empty folders go


def test_benchmark_in_a_multiprocessing_pool(group_b):
    server = group_b
    answer = server.get("/site/benchmark/pool?limit=60000", timeout=120)
    assert answer.status == 200
    result = answer.json()
    assert (result["limit"], result["primes"]) == (60000, primes_below(60000))
    assert server.process.process is not None
    assert result["worker_pid"] != server.process.process.pid
    assert result["worker_pid"] in {child.pid for child in server.children()}


def test_pynetdicom_listener_instead_of_orthancs_dicom_server(group_b):
    server = group_b
    server.wait_for_log(f"pynetdicom listener on 127.0.0.1:{server.dicom_port}")
    file = PYDICOM_FILES / "examples_overlay.dcm"
    sent = subprocess.run(["storescu", "-aet", "MODALITY1", "127.0.0.1", str(server.dicom_port),
                           str(file)], capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    uid = pydicom.dcmread(file).SOPInstanceUID
    found = wait_for(lambda: server.post("/tools/lookup", uid).json(), what="the stored instance")
    assert found[0]["Type"] == "Instance"
    server.wait_for_log(f"pynetdicom listener: instance {found[0]['ID']} from MODALITY1 stored")
    stored = pydicom.dcmread(io.BytesIO(server.get(f"/instances/{found[0]['ID']}/file").body))
    assert stored.PixelData == pydicom.dcmread(file).PixelData
    log = stopped(server)  # the last test of group B: its Orthanc stops here
    assert "pynetdicom listener stopped" in log
    assert "feed: Orthanc is going down" in log


# -- access control: an outside service, and a worker with a token ------------------------

class AccessService(http.server.ThreadingHTTPServer):
    """The hospital's authorization service, on a free port: it grants every URI but those
    under /patients, answers "yes" (not true) for those under /studies, and keeps the
    questions it was asked."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                question = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.asked.append(question)
                uri = question["uri"]
                granted: Any = not uri.startswith("/patients")
                if uri.startswith("/studies"):
                    granted = "yes"
                body = json.dumps({"granted": granted}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/authorize"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, AccessService]]:
    folder = tmp_path_factory.mktemp("official-c")
    service = AccessService()
    thread = threading.Thread(target=service.serve_forever, daemon=True)
    thread.start()
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"ward": "s3cret"},
              "AccessService": {"Url": service.url}}
    try:
        with official_orthanc(folder, GUARDED, config) as server:
            yield server, service
    finally:
        service.shutdown()
        service.server_close()


def test_access_decided_by_an_outside_service(guarded):
    server, service = guarded
    user = basic("ward", "s3cret")
    assert server.get("/system", headers=user).status == 200
    assert server.get("/patients", headers=user).status == 403
    assert server.get("/studies", headers=user).status == 403  # "yes" is not true
    asked = {question["uri"]: question for question in service.asked}
    assert {"/system", "/patients", "/studies"} <= set(asked)
    assert asked["/patients"]["headers"]["authorization"] == user["Authorization"]
    assert asked["/patients"]["method"] == 1


def test_worker_process_reads_the_api_with_a_token(guarded):
    server, _ = guarded
    user = basic("ward", "s3cret")
    data = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    uploaded = server.post("/instances", data, headers=user).json()
    assert server.get("/instances").status == 401  # no credentials: refused
    answer = server.get("/site/instances-from-worker", headers=user, timeout=60)
    assert answer.status == 200
    assert answer.json() == [uploaded["ID"]]  # the worker's token let it in


# -- forwarding, and routes over the core's and the DICOMweb plugin's ---------------------

@pytest.fixture(scope="module")
def routing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Orthanc]]:
    """study_forwarding.py and route_overrides.py in one Orthanc with the DICOMweb plugin,
    a second Orthanc as the modality "archive"; CT_small.dcm sent to the first by C-STORE,
    as route_overrides.py takes POST /instances over."""
    folder = tmp_path_factory.mktemp("official-d")
    with running_orthanc(folder / "archive", None, name="archive") as archive:
        config = {"Plugins": [str(plugin_path()), DICOMWEB], "StableAge": 1,
                  "ForwardStableStudiesTo": "archive",
                  "DicomModalities": {"archive": ["ARCHIVE", "127.0.0.1", archive.dicom_port]}}
        with official_orthanc(folder, ROUTING, config) as server:
            sent = subprocess.run(["storescu", "127.0.0.1", str(server.dicom_port),
                                   str(PYDICOM_FILES / "CT_small.dcm")],
                                  capture_output=True, text=True, timeout=60)
            assert sent.returncode == 0, sent.stderr
            yield server, archive


def test_stable_study_forwarded_to_a_modality(routing):
    server, archive = routing
    instances = wait_for(lambda: server.get("/instances").json(), what="the instance")
    wait_for(lambda: archive.get("/instances").json() == instances, timeout=30,
             what="the study forwarded to the archive")
    study = server.get(f"/instances/{instances[0]}/study").json()["ID"]
    server.wait_for_log(f"forwarding: study {study} sent to archive")


def test_uploads_held_for_review(routing):
    server, _ = routing
    instances = wait_for(lambda: server.get("/instances").json(), what="the instance")
    data = (PYDICOM_FILES / "MR_small.dcm").read_bytes()
    answer = server.post("/instances", data)
    assert answer.status == 200
    held = answer.json()
    assert held["Status"] == "Held for review"
    assert (working_folder(server) / "held" / held["File"]).read_bytes() == data
    server.wait_for_log(f"upload held for review as {held['File']}")
    assert server.get("/instances").json() == instances  # GET is still Orthanc's
    assert server.put("/instances", "x").status == 405


def test_dicomweb_metadata_without_private_tags(routing):
    server, _ = routing
    wait_for(lambda: server.get("/instances").json(), what="the instance")
    uid = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm").StudyInstanceUID
    [original] = server.get(f"/dicom-web/studies/{uid}/metadata").json()
    answer = server.get(f"/site-dicomweb/studies/{uid}/metadata")
    assert answer.status == 200
    [filtered] = answer.json()
    private = [tag for tag in original if int(tag[:4], 16) % 2]
    assert private  # CT_small.dcm has private tags
    server.wait_for_log(f"site DICOMweb: study {uid} metadata without {len(private)} private tags")
    assert sorted(filtered) == sorted(tag for tag in original if tag not in private)
    # Bulk data URIs name the host the request came by: the script's came from inside.
    assert {k: v for k, v in filtered.items() if "BulkDataURI" not in v} == \
        {k: v for k, v in original.items() if k not in private and "BulkDataURI" not in v}
