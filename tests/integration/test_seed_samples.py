"""The seed document's samples (the official plugin's documentation) run on ours as printed.

The samples are not kept in the repository: each test reads them from the seed document,
``../shared/seed/python-plugin.rst`` beside the clone, when it runs. Where the document is
not there (a clone elsewhere), every test here skips, saying so.

A sample is a literal block (the lines indented under a paragraph that ends with ``::``)
that imports ``orthanc`` or, for the last one, that is Python; it is known by the title of
its section. Each runs as the official plugin would run it (``"PythonScript"``), with two
helps that the tests say: Pillow 10 removed ``Image.ANTIALIAS`` (an alias of
``Image.LANCZOS``), which the thumbnail sample uses, so a script of this test puts the alias
back before it loads; and the last block, which the document gives as a fragment (it uses
the ``POOL`` of the block before it, registers no route, and reads an instance of a fixed
id), runs before that block (the pool's processes must find its function in the module they
start from), its route registered by two lines of this test, with the id of an instance the test
uploaded in place of the fixed one.
"""

from __future__ import annotations

import io
import re
import shutil
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from PIL import Image

from tests.harness import PYDICOM_FILES, Orthanc, running_orthanc, wait_for

DOCUMENT = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "python-plugin.rst"

pytestmark = pytest.mark.skipif(not DOCUMENT.is_file(),
                                reason="seed document not beside the clone")

UNDERLINE = re.compile(r"^([-=.~^])\1{3,}$")
FIXED_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{8}){4}")


def literal_blocks(text: str) -> Iterator[tuple[str, str]]:
    """Each literal block of a reStructuredText document with the title of its section."""
    lines = text.split("\n")
    title = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if i + 1 < len(lines) and UNDERLINE.match(lines[i + 1]) and line.strip():
            title = line.strip()
        if line.rstrip().endswith("::") and not line.startswith(".."):
            j = i + 1
            body: list[str] = []
            while j < len(lines) and (not lines[j].strip() or lines[j][:1].isspace()):
                body.append(lines[j])
                j += 1
            yield title, textwrap.dedent("\n".join(body)).strip("\n") + "\n"
            i = j
        else:
            i += 1


def seed_samples() -> dict[str, str]:
    """The document's Python samples by section title; a section with two (performance) gets
    "#2" and "#3" after the second and third."""
    samples: dict[str, str] = {}
    for title, code in literal_blocks(DOCUMENT.read_text()):
        if not re.search(r"^(import|from) \w+", code, re.MULTILINE) or code.startswith("$"):
            continue
        name, n = title, 1
        while name in samples:
            n += 1
            name = f"{title} #{n}"
        samples[name] = code
    return samples


@pytest.fixture(scope="module")
def samples() -> dict[str, str]:
    return seed_samples()


def write(folder: Path, name: str, code: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(code)
    return path


def seed_orthanc(folder: Path, code: str, config: dict | None = None,
                 before: list[Path] | None = None, **kw):
    """An Orthanc running ``code`` as the official plugin would: as ``PythonScript``
    (``before``, scripts of the test, load first)."""
    script = write(folder, "sample.py", code)
    if before:
        config = {**(config or {}), "PythonRuntime": {"Scripts": [str(script)]}}
        return running_orthanc(folder / "orthanc", before[0], config,
                               script_key="PythonScript", **kw)
    return running_orthanc(folder / "orthanc", script, config, script_key="PythonScript", **kw)


def test_the_document_has_its_nine_samples(samples):
    assert list(samples) == [
        "Extending the REST API", "Listening to changes", "Accessing the content of a new instance",
        "Calling pydicom", "Auto-routing studies", "Rendering a thumbnail using PIL/Pillow",
        "Performance and concurrency", "Performance and concurrency #2",
        "Performance and concurrency #3"]
    assert all("import orthanc" in code for code in list(samples.values())[:-1])


def test_extending_the_rest_api(samples, tmp_path):
    with seed_orthanc(tmp_path, samples["Extending the REST API"]) as orthanc:
        for uri in ("/toto", "/tata"):
            answer = orthanc.get(uri)
            assert (answer.status, answer.text) == (200, "ok\n")
        log = orthanc.wait_for_log("Accessing uri: /tata")
        assert "Accessing uri: /toto" in log
        assert "'groups': ('to', 't')" in log  # the pprint of the request


def test_listening_to_changes(samples, tmp_path):
    shutil.copy(PYDICOM_FILES / "CT_small.dcm", "/tmp/sample.dcm")  # the path it reads
    with seed_orthanc(tmp_path, samples["Listening to changes"]) as orthanc:
        orthanc.wait_for_log("Started")
        log = orthanc.wait_for_log("A new instance was uploaded: ")
        instances = orthanc.get("/instances").json()
        assert len(instances) == 1
        assert f"A new instance was uploaded: {instances[0]}" in log
    assert "Stopped" in orthanc.log()


def test_accessing_the_content_of_a_new_instance(samples, tmp_path):
    with seed_orthanc(tmp_path, samples["Accessing the content of a new instance"]) as orthanc:
        uploaded = orthanc.upload("CT_small.dcm")
        size = (PYDICOM_FILES / "CT_small.dcm").stat().st_size
        log = orthanc.wait_for_log(f"Received instance {uploaded['ID']} of size {size}")
        assert "SOP class UID 1.2.840.10008.5.1.4.1.1.2)" in log
        orthanc.wait_for_log("This instance was received through the REST API")
        orthanc.wait_for_log("'PatientName': 'CompressedSamples^CT1'")


def test_calling_pydicom(samples, tmp_path):
    with seed_orthanc(tmp_path, samples["Calling pydicom"]) as orthanc:
        uploaded = orthanc.upload("MR_small.dcm")
        answer = orthanc.get(f"/pydicom/{uploaded['ID']}")
        assert answer.status == 200
        assert "(0010,0010) Patient's Name" in answer.text
        assert "CompressedSamples^MR1" in answer.text
        assert orthanc.post(f"/pydicom/{uploaded['ID']}", "x").status == 405


def test_auto_routing_studies(samples, tmp_path):
    with running_orthanc(tmp_path / "peer", None, name="peer") as peer:
        modality = {"DicomModalities": {"sample": ["PEER", "127.0.0.1", peer.dicom_port]},
                    "StableAge": 1}
        with seed_orthanc(tmp_path / "main", samples["Auto-routing studies"], modality) as orthanc:
            uploaded = orthanc.upload("CT_small.dcm")
            wait_for(lambda: peer.get("/studies").json(), timeout=30, what="the routed study")
            assert peer.get("/studies").json() == [uploaded["ParentStudy"]]
            assert peer.get("/instances").json() == [uploaded["ID"]]
            assert f"Stable study: {uploaded['ParentStudy']}" in orthanc.log()


PILLOW9_ALIAS = '''"""Test setup: Pillow 9's Image.ANTIALIAS (an alias of LANCZOS), which Pillow 10 removed."""
from PIL import Image

Image.ANTIALIAS = Image.LANCZOS
'''


def test_rendering_a_thumbnail(samples, tmp_path):
    alias = write(tmp_path, "pillow9_alias.py", PILLOW9_ALIAS)
    code = samples["Rendering a thumbnail using PIL/Pillow"]
    assert "Image.ANTIALIAS" in code  # the alias is what it needs
    with seed_orthanc(tmp_path, code, before=[alias]) as orthanc:
        uploaded = orthanc.upload("CT_small.dcm")
        answer = orthanc.get(f"/pydicom/{uploaded['ID']}")
        assert answer.status == 200
        assert answer.headers["content-type"].startswith("text/plain")  # as the sample sends it
        image = Image.open(io.BytesIO(answer.body))
        assert image.format == "JPEG"
        assert max(image.size) <= 64


def concurrently(orthanc: Orthanc, uri: str, count: int) -> list[str]:
    answers: list[str] = [""] * count

    def call(i: int) -> None:
        answers[i] = orthanc.get(uri, timeout=120).text

    threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


DONE = re.compile(r"computation done in \d+\.\d{3} seconds\n")


def test_performance_sample_inline(samples, tmp_path):
    with seed_orthanc(tmp_path, samples["Performance and concurrency"]) as orthanc:
        answers = concurrently(orthanc, "/computation", 2)
        assert all(DONE.fullmatch(a) for a in answers), answers


def test_performance_sample_with_a_multiprocessing_pool(samples, tmp_path):
    with seed_orthanc(tmp_path, samples["Performance and concurrency #2"]) as orthanc:
        answers = concurrently(orthanc, "/computation", 2)
        assert all(DONE.fullmatch(a) for a in answers), answers


def test_parsing_dicom_in_a_pool_process(samples, tmp_path):
    """The fragment, in the context the document gives it: after the pool sample."""
    fragment = samples["Performance and concurrency #3"]
    [fixed] = FIXED_ID.findall(fragment)
    with running_orthanc(tmp_path / "ids", None, name="ids") as plain:
        uploaded = plain.upload("MR_small.dcm")  # only for the id Orthanc gives it
    # Its functions first, since the pool's processes must find them in the module they
    # start from; its OnRest registered before the pool sample defines another.
    code = (fragment.replace(fixed, uploaded["ID"])
            + "\nimport orthanc  # the test's two lines\n"
            + "orthanc.RegisterRestCallback('/parse', OnRest)\n\n"
            + samples["Performance and concurrency #2"])
    with seed_orthanc(tmp_path / "main", code) as orthanc:
        assert orthanc.upload("MR_small.dcm")["ID"] == uploaded["ID"]
        answer = orthanc.get("/parse", timeout=60)
        assert answer.status == 200
        assert answer.text == str(pydicom.dcmread(PYDICOM_FILES / "MR_small.dcm"))
