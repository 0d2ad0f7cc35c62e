"""Every sample of the seed document (the official plugin's documentation) runs unchanged.

The scripts in tests/scripts/seed/ are the samples as printed, extracted from
tests/scripts/seed/python-plugin.rst (a copy of shared/seed/python-plugin.rst); only the thumbnail sample has
Image.LANCZOS in place of Image.ANTIALIAS, which Pillow 10 removed. The
document's last block (``OffloadedDicomParsing``) is a fragment, not a script:
it uses the ``POOL`` of the block before, a fixed instance id, and registers no
route; what it shows, parsing in a worker, is the pydicom recipe's job.
"""

from __future__ import annotations

import io
import shutil
import threading
import time

from PIL import Image

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir

SEED = scripts_dir() / "seed"


def test_seed_scripts_are_the_documented_samples():
    # A copy of the seed document (shared/seed/python-plugin.rst, the official plugin's
    # documentation), kept in the repository: a test reads nothing outside the clone.
    document = (SEED / "python-plugin.rst").read_text()
    for script in SEED.glob("*.py"):
        body = script.read_text().replace("Image.LANCZOS", "Image.ANTIALIAS")
        indented = "\n".join(("  " + line) if line else "" for line in body.rstrip("\n").split("\n"))
        assert indented in document, f"{script.name} differs from the seed document"


def test_extending_the_rest_api(tmp_path):
    with running_orthanc(tmp_path, SEED / "rest.py", script_key="PythonScript") as orthanc:
        for uri in ("/toto", "/tata"):
            answer = orthanc.get(uri)
            assert answer.status == 200
            assert answer.text == "ok\n"
        log = orthanc.wait_for_log("Accessing uri: /tata")
        assert "Accessing uri: /toto" in log
        assert "'groups': ('to', 't')" in log  # pprint of the request dict


def test_listening_to_changes(tmp_path):
    shutil.copy(PYDICOM_FILES / "CT_small.dcm", "/tmp/sample.dcm")
    with running_orthanc(tmp_path, SEED / "changes.py", script_key="PythonScript") as orthanc:
        orthanc.wait_for_log("Started")
        log = orthanc.wait_for_log("A new instance was uploaded: ")
        instances = orthanc.get("/instances").json()
        assert len(instances) == 1
        assert f"A new instance was uploaded: {instances[0]}" in log
    assert "Stopped" in orthanc.log()


def test_accessing_the_content_of_a_new_instance(tmp_path):
    with running_orthanc(tmp_path, SEED / "stored_instance.py", script_key="PythonScript") as orthanc:
        uploaded = orthanc.upload("CT_small.dcm")
        size = (PYDICOM_FILES / "CT_small.dcm").stat().st_size
        log = orthanc.wait_for_log(f"Received instance {uploaded['ID']} of size {size}")
        assert "SOP class UID 1.2.840.10008.5.1.4.1.1.2)" in log
        orthanc.wait_for_log("This instance was received through the REST API")
        orthanc.wait_for_log("'PatientName': 'CompressedSamples^CT1'")


def test_calling_pydicom(tmp_path):
    with running_orthanc(tmp_path, SEED / "pydicom_dump.py", script_key="PythonScript") as orthanc:
        uploaded = orthanc.upload("MR_small.dcm")
        answer = orthanc.get(f"/pydicom/{uploaded['ID']}")
        assert answer.status == 200
        assert "(0010,0010) Patient's Name" in answer.text
        assert "CompressedSamples^MR1" in answer.text
        assert orthanc.post(f"/pydicom/{uploaded['ID']}", "x").status == 405


def test_auto_routing_studies(tmp_path):
    with running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        modality = {"DicomModalities": {"sample": ["PEER", "127.0.0.1", peer.dicom_port]},
                    "StableAge": 1}
        with running_orthanc(tmp_path / "main", SEED / "autorouting.py", modality,
                             script_key="PythonScript") as orthanc:
            uploaded = orthanc.upload("CT_small.dcm")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not peer.get("/studies").json():
                time.sleep(0.2)
            assert peer.get("/studies").json() == [uploaded["ParentStudy"]]
            assert peer.get("/instances").json() == [uploaded["ID"]]
            assert f"Stable study: {uploaded['ParentStudy']}" in orthanc.log()


def test_rendering_a_thumbnail(tmp_path):
    with running_orthanc(tmp_path, SEED / "thumbnail.py", script_key="PythonScript") as orthanc:
        uploaded = orthanc.upload("CT_small.dcm")
        answer = orthanc.get(f"/pydicom/{uploaded['ID']}")
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("text/plain")  # as the sample sends it
        image = Image.open(io.BytesIO(answer.body))
        assert image.format == "JPEG"
        assert max(image.size) <= 64


def _concurrently(orthanc, uri: str, count: int) -> list[str]:
    answers: list[str] = [""] * count

    def call(i: int) -> None:
        answers[i] = orthanc.get(uri, timeout=120).text

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def test_performance_sample_inline(tmp_path):
    with running_orthanc(tmp_path, SEED / "computation.py", script_key="PythonScript") as orthanc:
        answers = _concurrently(orthanc, "/computation", 2)
        assert all(a.startswith("computation done in ") for a in answers), answers


def test_performance_sample_with_multiprocessing_pool(tmp_path):
    with running_orthanc(tmp_path, SEED / "computation_pool.py", script_key="PythonScript") as orthanc:
        answers = _concurrently(orthanc, "/computation", 2)
        assert all(a.startswith("computation done in ") for a in answers), answers
