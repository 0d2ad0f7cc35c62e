"""The Orthanc Book's Python samples that run on the official plugin 4.0 run unchanged on ours.

tests/scripts/book/ holds the 42 samples of the Book's page ``plugins/python``, byte for
byte (SOURCE.md says where from). ``SAMPLES`` below says, for each, the test that runs
it or why it does not apply to the official plugin 4.0 with Orthanc 1.10.1; the first
test checks that this list covers the folder. A test runs the sample files as the
official plugin would (``"PythonScript"``), and asserts what they do: an answer, an
image, a stored instance, the lines they print. Samples that do not get in each other's
way share one Orthanc (the others are loaded by ``"PythonRuntime": {"Scripts": [...]}``,
each as its own module), which keeps this file quick. The samples of the DICOM
network callbacks (C-FIND, worklists, C-MOVE, C-STORE filter, storage commitment) are
in test_book_samples_dicom.py.

The scripts run from copies named ``book_<name>.py``: the Book's file names are not all
importable module names (``changes-deadlock-3.0``), and two would shadow the packages
they import (``pydicom.py``, ``pynetdicom.py``); the Book does not say what to name
them. The only help a sample gets: ``pil.py`` uses ``Image.ANTIALIAS``, which Pillow 10
removed (it was an alias of ``Image.LANCZOS``; Debian 12's Pillow 9.4, which the
official plugin uses, has it), so a script of this test's own loads first and puts the
alias back.
"""

from __future__ import annotations

import base64
import http.server
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
from PIL import Image

from orthanc_native import plugin_path
from tests.harness import (
    BOOK,
    PYDICOM_FILES,
    Orthanc,
    book_orthanc,
    check_log,
    running_orthanc,
    stop_and_check,
    wait_for,
)

# Every sample: the test that runs it, or why it does not apply to 4.0 with Orthanc 1.10.1.
NEWER_SDK = "needs Orthanc 1.12 (an SDK function 1.10.1 lacks)"
NEWER_PLUGIN = "needs a newer official plugin"
SAMPLES: dict[str, str] = {
    "accessing-new-instance.py": "test_accessing_the_content_of_a_new_instance",
    "authorization-1.py": "test_authorization_filter_sees_every_request",
    "authorization-2.py": "test_authorization_by_a_web_service",
    "autorouting-1.py": "test_auto_routing_to_a_dicom_modality",
    "changes-deadlock-3.0.py": "test_changes_handled_in_a_thread",
    "create-dicom.py": "test_creating_a_dicom_instance_from_a_png",
    "dicom-find-move-scp.py": "test_book_samples_dicom.py",
    "exception.py": "test_catching_exceptions",
    "extending-rest-api.py": "test_extending_the_rest_api",
    "extending-rest-api-2.py": "test_overriding_core_and_dicomweb_routes",
    "filtering-metadata.py": "test_filtering_studies_by_metadata",
    "incoming-cstore-filter.py": "test_book_samples_dicom.py",
    "inspect-api.py": "test_inspecting_the_api",
    "listening-changes.py": "test_listening_to_changes",
    "lookup-dictionary.py": "test_lookup_dictionary",
    "mosaic.py": "test_mosaic_of_a_series",
    "multiprocessing-1.py": "test_slow_computation_in_a_route",
    "multiprocessing-2.py": "test_slow_computation_in_a_multiprocessing_pool",
    "multiprocessing-4.py": "test_worker_process_calls_the_rest_api_with_a_token",
    "paging.py": "test_paging_sorted_studies",
    "periodic-execution.py": "test_periodic_execution",
    "pil.py": "test_thumbnail_with_pillow",
    "pydicom.py": "test_calling_pydicom",
    "pynetdicom.py": "test_pynetdicom_replaces_the_dicom_server",
    "sample-python-button.py": "test_orthanc_explorer_button",
    "storage-area.py": "test_custom_storage_area",
    "venv-windows.py": "test_sys_path_insertion",
    "worklist.py": "test_book_samples_dicom.py",
    # -- not applicable
    "dicom-find-scp.py": f"{NEWER_PLUGIN}: RegisterFindCallback2 and the connection object (7.0)",
    "dicom-move-scp.py": f"{NEWER_PLUGIN}: RegisterMoveCallback3 (7.0)",
    "extend-api-with-streaming.py": f"{NEWER_SDK}: RestOutput.StartStreamAnswer (plugin 5.0)",
    "queues-and-kvs.py": f"{NEWER_SDK}: queues and key-value stores (1.12.8, plugin 7.0)",
    "set-stable-status.py": f"{NEWER_SDK}: SetStableStatus",
    "storage-area-3.py": f"{NEWER_SDK}: RegisterStorageArea3 (1.12.8)",
    "storage-commitment-default.py": f"{NEWER_PLUGIN}: RegisterStorageCommitmentScpCallback "
                                     "(4.1), which ours has: run by test_book_samples_dicom.py",
    "couchdb.py": "an outside service: a CouchDB server (not in Debian, not reachable)",
    "pil-conversions.py": "an outside service: downloads from hg.orthanc-server.com",
    "excel.py": "does not run on Python 3 (import StringIO), nor on the official plugin",
    "received-instance-callback.py": "does not run on the official plugin as printed: "
                                     "it lacks `import orthanc` (NameError at load)",
    "autorouting-2.py": "does not run as printed: the DICOMweb plugin has no route "
                        "/dicom-web/servers/{name}/store (it is .../stow, with a JSON body)",
    "venv-linux.py": "a given machine: sets sys.path to Python 3.8 folders, then imports",
    "multiprocessing-3.py": "a fragment, not a script: uses POOL and orthanc without "
                            "defining them, registers nothing, reads a fixed instance id",
}
APPLIES = {name for name, where in SAMPLES.items() if where.startswith("test_")}


def test_every_book_sample_is_tested_or_explained():
    assert sorted(p.name for p in BOOK.glob("*.py")) == sorted(SAMPLES)
    here = Path(__file__).read_text()
    dicom = Path(__file__).with_name("test_book_samples_dicom.py").read_text()
    for name, where in sorted(SAMPLES.items()):
        if where.endswith("test_book_samples_dicom.py"):
            assert f'"{name}"' in dicom, f"{name} is not run by test_book_samples_dicom.py"
        elif name in APPLIES:
            assert f"def {where}(" in here, f"{name}: no {where}"
    assert len(APPLIES) == 28


# -- running samples ----------------------------------------------------------------------

PILLOW9_ALIAS = '''"""Test setup, not a Book sample: Pillow 9's Image.ANTIALIAS, which pil.py uses."""
from PIL import Image

Image.ANTIALIAS = Image.LANCZOS
'''


def stopped(server: Orthanc) -> str:
    """Stops the server (SIGTERM, clean exit checked): its whole log."""
    stop_and_check(server)
    check_log(server)
    return server.log()


def printed(log: str, line: str) -> bool:
    """Whether a script printed ``line``: print() writes the text and the newline apart, so a
    line of Orthanc's own log may come between them."""
    return re.search(rf"(^|\n){re.escape(line)}(\n|[IWE]\d{{4}} )", log) is not None


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


MR700 = sorted((PYDICOM_FILES / "dicomdirtests" / "98892003" / "MR700").iterdir())
STUDIES = ["CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm", "examples_overlay.dcm"]


# -- one Orthanc for the REST, change and introspection samples ---------------------------

GROUP_A = ["extending-rest-api.py", "paging.py", "mosaic.py", "sample-python-button.py",
           "pydicom.py", "lookup-dictionary.py", "inspect-api.py", "exception.py",
           "accessing-new-instance.py", "changes-deadlock-3.0.py", "authorization-1.py",
           "filtering-metadata.py", "periodic-execution.py", "create-dicom.py",
           "venv-windows.py", "multiprocessing-1.py"]


class Stored:
    """What group A's Orthanc holds: the upload answers by file name, the MR700 series."""

    def __init__(self, server: Orthanc) -> None:
        self.server = server
        self.uploaded = {name: server.upload(name) for name in STUDIES}
        self.series = [server.upload(path) for path in MR700]


@pytest.fixture(scope="module")
def group_a(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    folder = tmp_path_factory.mktemp("book-a")
    # create-dicom.py reads Lena.png in Orthanc's working folder.
    pixels = bytes(b for y in range(48) for x in range(64) for b in (x * 4, y * 5, x * y % 256))
    Image.frombytes("RGB", (64, 48), pixels).save(folder / "Lena.png")
    with book_orthanc(folder, GROUP_A) as server:
        yield Stored(server)


def test_extending_the_rest_api(group_a):
    server = group_a.server
    for uri in ("/toto", "/tata"):
        answer = server.get(uri)
        assert (answer.status, answer.text) == (200, "ok\n")
    log = server.wait_for_log("Accessing uri: /tata")
    assert "Accessing uri: /toto" in log
    assert "'groups': ('to', 't')" in log  # the pprint of the request


def test_paging_sorted_studies(group_a):
    server = group_a.server
    dates = sorted(pydicom.dcmread(PYDICOM_FILES / name).StudyDate for name in STUDIES)
    dates.insert(0, pydicom.dcmread(MR700[0]).StudyDate)
    assert dates == sorted(dates)
    every = server.get("/sort-studies").json()
    assert [s["MainDicomTags"]["StudyDate"] for s in every] == dates
    page = server.get("/sort-studies?offset=1&limit=2").json()
    assert [s["ID"] for s in page] == [s["ID"] for s in every[1:3]]
    assert [s["ID"] for s in server.get("/sort-studies?offset=3").json()] == \
        [s["ID"] for s in every[3:]]
    assert server.post("/sort-studies", "{}").status == 405


def test_mosaic_of_a_series(group_a):
    server = group_a.server
    series = group_a.series[0]["ParentSeries"]
    slices = server.get(f"/series/{series}/ordered-slices").json()["Slices"]
    assert len(slices) == len(MR700) == 7
    answer = server.get(f"/series/{series}/mosaic")
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    mosaic = Image.open(io.BytesIO(answer.body))
    first = Image.open(io.BytesIO(server.get(slices[0] + "/preview").body))
    side = math.ceil(math.sqrt(len(slices)))
    assert mosaic.mode == "L"
    assert mosaic.size == (side * first.size[0], side * first.size[1])
    # Slice i sits at column i % side, row i // side.
    for i in (0, len(slices) - 1):
        tile = Image.open(io.BytesIO(server.get(slices[i] + "/preview").body)).convert("L")
        x, y = (i % side) * first.size[0], (i // side) * first.size[1]
        assert mosaic.crop((x, y, x + first.size[0], y + first.size[1])).tobytes() == tile.tobytes()
    x, y = (side - 1) * first.size[0], (side - 1) * first.size[1]  # no slice there: black
    assert mosaic.crop((x, y, x + first.size[0], y + first.size[1])).getextrema() == (0, 0)


def test_orthanc_explorer_button(group_a):
    server = group_a.server
    answer = server.get("/execute-python")
    assert (answer.status, answer.text) == (200, f"Python version: {platform.python_version()}")
    explorer = server.get("/plugins/explorer.js")  # what Orthanc Explorer loads from plugins
    assert explorer.status == 200
    assert "$('#sample-python-button').remove();" in explorer.text


def test_calling_pydicom(group_a):
    server = group_a.server
    ct = group_a.uploaded["CT_small.dcm"]
    answer = server.get(f"/pydicom/{ct['ID']}")
    assert answer.status == 200
    assert "(0010,0010) Patient's Name" in answer.text
    assert "CompressedSamples^CT1" in answer.text
    assert server.post(f"/pydicom/{ct['ID']}", "x").status == 405


def test_lookup_dictionary(group_a):
    log = group_a.server.wait_for_log("Name of the value representation: LO")
    entry = log[log.index("Entry in the dictionary: {"):]
    entry = json.loads(entry[entry.index("{"):entry.index("}") + 1])
    assert entry == {"Element": 32, "Group": 16, "MaxMultiplicity": 1, "MinMultiplicity": 1,
                     "ValueRepresentation": entry["ValueRepresentation"]}


def test_inspecting_the_api(group_a):
    log = group_a.server.wait_for_log("Function RegisterRestCallback():")
    for line in ("Class ChangeType:", "  - Enumeration value STABLE_STUDY: 9",
                 "Class ErrorCode:", "  - Enumeration value UNKNOWN_RESOURCE: 17",
                 "Function RestApiGet():", "Class Image:", "  - Method GetImageWidth(): ",
                 "Class DicomInstance:", "  - Method GetInstanceSimplifiedJson(): ",
                 "Class RestOutput:", "  - Method AnswerBuffer(): "):
        assert line in log, line


def test_catching_exceptions(group_a):
    log = group_a.server.wait_for_log("Unknown resource")
    # print(e), e.args[0], e.args[1], then the comparison: what the official plugin 4.0 prints.
    for line in ("(17, 'Unknown resource')", "17", "Unknown resource", "True"):
        assert printed(log, line), line


def test_accessing_the_content_of_a_new_instance(group_a):
    server = group_a.server
    ct = group_a.uploaded["CT_small.dcm"]
    size = (PYDICOM_FILES / "CT_small.dcm").stat().st_size
    log = server.wait_for_log(f"Received instance {ct['ID']} of size {size} (transfer syntax "
                              "1.2.840.10008.1.2.1, SOP class UID 1.2.840.10008.5.1.4.1.1.2)")
    assert log.count("This instance was received through the REST API") == \
        len(STUDIES) + len(MR700)
    assert "'PatientName': 'CompressedSamples^CT1'" in log


def test_changes_handled_in_a_thread(group_a):
    server = group_a.server
    # One "Hello world", from a timer thread, for each change: at least one per instance.
    wait_for(lambda: server.log().count("Hello world") >= len(STUDIES) + len(MR700),
             what="a Hello world for each change")


def test_authorization_filter_sees_every_request(group_a):
    server = group_a.server
    assert server.get("/system", headers={"X-Book": "sample"}).status == 200
    log = server.wait_for_log("User trying to access URI: /system")
    request = log[log.rindex("User trying to access URI: /system"):]  # not the harness's
    assert "'method': 1}" in request[:2000]  # a plain int, as the official plugin passes it
    assert "'x-book': 'sample'" in request[:2000]


def test_filtering_studies_by_metadata(group_a):
    server = group_a.server
    studies = sorted(s["ParentStudy"] for s in group_a.uploaded.values())
    studies = sorted([*studies, group_a.series[0]["ParentStudy"]])
    year = time.strftime("%Y")
    none = server.post("/tools/find", json.dumps(
        {"Level": "Study", "Query": {}, "Expand": True, "Metadata": {"LastUpdate": "^1999.*$"}}))
    assert none.json() == []
    every = server.post("/tools/find", json.dumps(
        {"Level": "Study", "Query": {}, "Expand": True, "Metadata": {"LastUpdate": f"^{year}"}}))
    assert sorted(s["ID"] for s in every.json()) == studies
    assert all(s["Metadata"]["LastUpdate"].startswith(year) for s in every.json())
    ids = server.post("/tools/find", json.dumps(
        {"Level": "Study", "Query": {"StudyDate": "20040119"}, "Metadata": {}}))
    assert ids.json() == [group_a.uploaded["CT_small.dcm"]["ParentStudy"]]
    assert server.get("/tools/find").status == 405


def test_creating_a_dicom_instance_from_a_png(group_a):
    group_a.server.wait_for_log("Size of the frame: 64x48")
    created = pydicom.dcmread("/tmp/sample.dcm")
    assert (created.PatientID, str(created.PatientName)) == ("HELLO", "WORLD")
    assert created.SOPClassUID == "1.2.840.10008.5.1.4.1.1.1"
    assert created.SOPInstanceUID  # GENERATE_IDENTIFIERS
    assert (created.Rows, created.Columns, created.PhotometricInterpretation) == (48, 64, "RGB")
    lena = Image.open(group_a.server.folder.parent / "Lena.png")
    assert created.pixel_array.tobytes() == lena.tobytes()


def test_sys_path_insertion(group_a):
    log = group_a.server.wait_for_log("sys.path after modification: ")
    assert "sys.path after modification: C:/tmp/.venv/Lib/site-packages, " in log
    assert "sys.path before modification: " in log


def test_slow_computation_in_a_route(group_a):
    answer = group_a.server.get("/computation", timeout=120)
    assert answer.status == 200
    assert re.fullmatch(r"computation done in \d+\.\d{3} seconds\n", answer.text)


def test_periodic_execution(group_a):
    server = group_a.server
    server.wait_for_log("Starting the scheduler")
    wait_for(lambda: server.log().count("In Hello()") >= 2, what="Hello() twice")
    log = stopped(server)  # the last test of group A: its Orthanc stops here
    assert "Stopping the scheduler" in log


# -- one Orthanc whose own storage, DICOM server and start-up the samples change -----------

GROUP_B = ["listening-changes.py", "storage-area.py", "pil.py", "multiprocessing-2.py",
           "pynetdicom.py"]


@pytest.fixture(scope="module")
def group_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    folder = tmp_path_factory.mktemp("book-b")
    shutil.copyfile(PYDICOM_FILES / "CT_small.dcm", "/tmp/sample.dcm")  # listening-changes.py
    alias = folder / "pillow9_alias.py"
    alias.write_text(PILLOW9_ALIAS)
    with book_orthanc(folder, GROUP_B, {"DicomServerEnabled": False}, before=[alias]) as server:
        yield server


def test_listening_to_changes(group_b):
    server = group_b
    server.wait_for_log("Started")
    log = server.wait_for_log("A new instance was uploaded: ")
    ct = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    found = server.post("/tools/lookup", ct.SOPInstanceUID).json()
    assert len(found) == 1
    assert f"A new instance was uploaded: {found[0]['ID']}" in log


def test_custom_storage_area(group_b):
    server = group_b
    folder = server.folder.parent
    data = (PYDICOM_FILES / "MR_small.dcm").read_bytes()
    uploaded = server.upload(data)
    stored = [p for p in folder.glob("attachment-1-*") if p.read_bytes() == data]
    assert len(stored) == 1  # contentType 1: the DICOM file, under the sample's name
    uuid = stored[0].name.removeprefix("attachment-1-")
    attachment = server.get(f"/instances/{uploaded['ID']}/attachments/dicom/info").json()
    assert attachment["Uuid"] == uuid
    assert server.get(f"/instances/{uploaded['ID']}/file").body == data
    assert server.delete(f"/instances/{uploaded['ID']}").status == 200
    assert not stored[0].exists()
    assert not (Path(server.config["StorageDirectory"]) / uuid[:2]).exists()


def test_thumbnail_with_pillow(group_b):
    server = group_b
    uploaded = server.upload("SC_rgb_rle.dcm")
    answer = server.get(f"/pydicom/{uploaded['ID']}")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain")  # as the sample sends it
    thumbnail = Image.open(io.BytesIO(answer.body))
    assert thumbnail.format == "JPEG"
    assert max(thumbnail.size) == 64
    assert server.post(f"/pydicom/{uploaded['ID']}", "x").status == 405


def test_slow_computation_in_a_multiprocessing_pool(group_b):
    answer = group_b.get("/computation", timeout=120)
    assert answer.status == 200
    assert re.fullmatch(r"computation done in \d+\.\d{3} seconds\n", answer.text)


def test_pynetdicom_replaces_the_dicom_server(group_b):
    server = group_b
    server.wait_for_log("DICOM server using pynetdicom has started")
    file = PYDICOM_FILES / "examples_overlay.dcm"
    sent = subprocess.run(["storescu", "127.0.0.1", str(server.dicom_port), str(file)],
                          capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    server.wait_for_log("Handling C-STORE using pynetdicom")
    uid = pydicom.dcmread(file).SOPInstanceUID
    found = wait_for(lambda: server.post("/tools/lookup", uid).json(), what="the stored instance")
    assert found[0]["Type"] == "Instance"
    log = stopped(server)  # the last test of group B: its Orthanc stops here
    assert "Stopping pynetdicom" in log
    assert "Stopped" in log  # listening-changes.py, on ORTHANC_STOPPED


# -- samples that call Orthanc or a web service at fixed ports ----------------------------

class AuthorizationService(http.server.ThreadingHTTPServer):
    """Stands in for the Book's Node.js service on localhost:8000 (authorization-2.py calls
    ``POST /authorize``): it grants every URI but those under /patients, and keeps the
    bodies it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                service.received.append(body)
                answer = json.dumps({"granted": not body["uri"].startswith("/patients")})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 8000), Handler)


@pytest.fixture(scope="module")
def fixed_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, AuthorizationService]]:
    folder = tmp_path_factory.mktemp("book-c")
    service = AuthorizationService()
    thread = threading.Thread(target=service.serve_forever, daemon=True)
    thread.start()
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"book": "book"}}
    try:
        # multiprocessing-4.py calls http://localhost:8042, Orthanc's default port.
        with book_orthanc(folder, ["multiprocessing-4.py", "authorization-2.py"], config,
                          http_port=8042) as server:
            yield server, service
    finally:
        service.shutdown()
        service.server_close()


def test_authorization_by_a_web_service(fixed_ports):
    server, service = fixed_ports
    user = basic("book", "book")
    assert server.get("/system", headers=user).status == 200
    assert server.get("/patients", headers=user).status == 403
    assert {"/system", "/patients"} <= {body["uri"] for body in service.received}
    asked = next(body for body in service.received if body["uri"] == "/patients")
    assert asked["headers"]["authorization"] == user["Authorization"]


def test_worker_process_calls_the_rest_api_with_a_token(fixed_ports):
    server, _ = fixed_ports
    user = basic("book", "book")
    data = (PYDICOM_FILES / "CT_small.dcm").read_bytes()
    uploaded = server.post("/instances", data, headers=user).json()
    assert server.get("/instances").status == 401  # no credentials: refused
    answer = server.get("/computation", headers=user, timeout=60)
    assert answer.status == 200
    assert json.loads(answer.text) == [uploaded["ID"]]  # the worker's token let it in


# -- auto-routing, and a plugin's routes over the core's and DICOMweb's --------------------

DICOMWEB = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


@pytest.fixture(scope="module")
def routing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Orthanc, Orthanc]]:
    """autorouting-1.py and extending-rest-api-2.py in one Orthanc with the DICOMweb plugin,
    a second Orthanc as the DICOM modality "sample"; CT_small.dcm sent to the first by
    C-STORE, as the second sample takes POST /instances over."""
    folder = tmp_path_factory.mktemp("book-d")
    with running_orthanc(folder / "modality", None, name="modality") as modality:
        config = {"Plugins": [str(plugin_path()), DICOMWEB], "StableAge": 1,
                  "DicomModalities": {"sample": ["MODALITY", "127.0.0.1", modality.dicom_port]}}
        with book_orthanc(folder, ["autorouting-1.py", "extending-rest-api-2.py"],
                          config) as server:
            sent = subprocess.run(["storescu", "127.0.0.1", str(server.dicom_port),
                                   str(PYDICOM_FILES / "CT_small.dcm")],
                                  capture_output=True, text=True, timeout=60)
            assert sent.returncode == 0, sent.stderr
            yield server, modality


def test_auto_routing_to_a_dicom_modality(routing):
    server, modality = routing
    instances = wait_for(lambda: server.get("/instances").json(), what="the instance")
    wait_for(lambda: modality.get("/instances").json() == instances, timeout=30,
             what="the study routed to the modality")
    study = server.get(f"/instances/{instances[0]}/study").json()["ID"]
    assert f"Stable study: {study}" in server.log()


def test_overriding_core_and_dicomweb_routes(routing):
    server, _ = routing
    instances = wait_for(lambda: server.get("/instances").json(), what="the instance")
    # POST /instances is the sample's, GET /instances the core's.
    answer = server.post("/instances", (PYDICOM_FILES / "MR_small.dcm").read_bytes())
    assert answer.json() == {"MyAnswer": "Instance Ignored"}
    server.wait_for_log("I have received an instance")
    assert server.get("/instances").json() == instances
    # The DICOMweb metadata of the study, without the tags of group 0009.
    uid = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm").StudyInstanceUID
    [original] = server.get(f"/dicom-web/studies/{uid}/metadata").json()
    [filtered] = server.get(f"/my-dicom-web/studies/{uid}/metadata").json()
    server.wait_for_log("My DICOMWEB /studies/../metadata")
    assert any(tag.startswith("0009") for tag in original)
    assert sorted(filtered) == sorted(tag for tag in original if not tag.startswith("0009"))
    # Bulk data URIs name the host the request came by: the sample's came from inside.
    assert {k: v for k, v in filtered.items() if "BulkDataURI" not in v} == \
        {k: v for k, v in original.items() if not k.startswith("0009") and "BulkDataURI" not in v}
