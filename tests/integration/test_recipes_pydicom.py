"""The pydicom dump recipe in a real Orthanc, enabled by configuration alone (no script of its own)."""

from __future__ import annotations

import json

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.harness import PYDICOM_FILES, running_orthanc

UNKNOWN = "01234567-89abcdef-01234567-89abcdef-01234567"


def recipe_config(**settings) -> dict:
    return {"PythonRuntime": {"Pool": {"Workers": 2},
                              "Recipes": {"PydicomDump": {"Enabled": True, **settings}}}}


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("pydicom"), None, recipe_config()) as server:
        yield server


def test_text_dump_of_a_ct(orthanc):
    instance = orthanc.upload("CT_small.dcm")["ID"]
    answer = orthanc.get(f"/pydicom/{instance}")
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    assert answer.headers["x-pydicom-warnings"] == "0"
    text = answer.text
    assert "(0010,0010) Patient's Name" in text and "CompressedSamples^CT1" in text
    assert "(0002,0010) Transfer Syntax UID" in text  # the file meta information too
    pixel_line = next(line for line in text.splitlines() if "(7FE0,0010)" in line)
    assert "Array of 32768 elements" in pixel_line  # elided, not dumped
    assert len(answer.body) < (PYDICOM_FILES / "CT_small.dcm").stat().st_size
    assert text == str(pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm"))


def test_json_dump_is_the_dicom_json_model_with_bulk_data_uris(orthanc):
    instance = orthanc.upload("MR_small.dcm")["ID"]
    answer = orthanc.get(f"/pydicom/{instance}?format=json")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/dicom+json"
    model = answer.json()
    assert model["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": "CompressedSamples^MR1"}]}
    assert model["00280010"] == {"vr": "US", "Value": [64]}
    pixels = model["7FE00010"]
    assert pixels == {"vr": "OW", "BulkDataURI": f"/instances/{instance}/content/7fe0-0010"}
    # Orthanc lists the frames of the pixel data there, and gives each one's bytes below.
    assert orthanc.get(pixels["BulkDataURI"]).json() == ["0"]
    raw = orthanc.get(pixels["BulkDataURI"] + "/0")
    assert raw.status == 200
    assert raw.body == pydicom.dcmread(PYDICOM_FILES / "MR_small.dcm").PixelData

    # Everything else as pydicom gives it, the bulk data aside.
    expected = pydicom.dcmread(PYDICOM_FILES / "MR_small.dcm").to_json_dict(
        bulk_data_threshold=1024, bulk_data_element_handler=lambda e: "uri")
    del expected["7FE00010"], model["7FE00010"]
    assert model == expected


def with_icon(tmp_path) -> tuple[bytes, bytes]:
    """CT_small with an icon image (a nested bulk value); its file and the icon's pixels."""
    ds = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm")
    icon = Dataset()
    icon.Rows = icon.Columns = 48
    icon.SamplesPerPixel, icon.PhotometricInterpretation = 1, "MONOCHROME2"
    icon.BitsAllocated = icon.BitsStored = 8
    icon.HighBit, icon.PixelRepresentation = 7, 0
    icon.PixelData = bytes(range(256)) * 9
    icon["PixelData"].VR = "OB"
    ds.IconImageSequence = [icon]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    path = tmp_path / "icon.dcm"
    ds.save_as(path)
    return path.read_bytes(), icon.PixelData


def test_nested_bulk_data_points_at_its_path(orthanc, tmp_path):
    data, icon_pixels = with_icon(tmp_path)
    instance = orthanc.post("/instances", data).json()["ID"]
    model = orthanc.get(f"/pydicom/{instance}?format=json").json()
    nested = model["00880200"]["Value"][0]["7FE00010"]
    uri = f"/instances/{instance}/content/0088-0200/0/7fe0-0010"
    assert nested == {"vr": "OB", "BulkDataURI": uri}
    assert orthanc.get(uri).body == icon_pixels
    assert model["00880200"]["Value"][0]["00280010"] == {"vr": "US", "Value": [48]}


def test_bad_value_dumps_as_text_with_warnings_but_answers_422_as_json(orthanc):
    instance = orthanc.upload("badVR.dcm")["ID"]  # an IS value '1A', which DCMTK stores
    text = orthanc.get(f"/pydicom/{instance}")
    assert text.status == 200
    assert int(text.headers["x-pydicom-warnings"]) >= 1
    assert "1A" in text.text

    answer = orthanc.get(f"/pydicom/{instance}?format=json")
    assert answer.status == 422
    body = answer.json()
    assert body["parser_error"] == "ValueError"
    assert "invalid literal for int() with base 10: '1A'" in body["error"]
    assert body["error"].startswith(f"pydicom {pydicom.__version__} cannot parse this instance")


def test_files_orthanc_refuses_never_reach_the_recipe(orthanc):
    # pydicom's truncated and malformed samples: DCMTK rejects them at the door.
    for name in ("MR_truncated.dcm", "rtplan_truncated.dcm", "no_meta.dcm"):
        assert orthanc.post("/instances", (PYDICOM_FILES / name).read_bytes()).status in (400, 404)


def test_every_stored_instance_dumps_as_text(orthanc):
    """No 500, whatever the file: text for all, JSON or 422 with the parser's message."""
    seen = set()
    for path in sorted(PYDICOM_FILES.glob("*.dcm")):
        answer = orthanc.post("/instances", path.read_bytes())
        if answer.status != 200 or answer.json()["ID"] in seen:
            continue
        instance = answer.json()["ID"]
        seen.add(instance)
        text = orthanc.get(f"/pydicom/{instance}")
        assert text.status == 200, (path.name, text.text)
        as_json = orthanc.get(f"/pydicom/{instance}?format=json")
        assert as_json.status in (200, 422), (path.name, as_json.text)
        if as_json.status == 200:
            json.loads(as_json.body)
        else:
            assert "cannot parse" in as_json.json()["error"]
    assert len(seen) > 30


def test_unknown_instance_404_and_bad_format_400(orthanc):
    answer = orthanc.get(f"/pydicom/{UNKNOWN}")
    assert answer.status == 404 and UNKNOWN in answer.json()["error"]
    instance = orthanc.upload("CT_small.dcm")["ID"]
    answer = orthanc.get(f"/pydicom/{instance}?format=xml")
    assert answer.status == 400 and answer.json()["parameter"] == "format"
    assert orthanc.post(f"/pydicom/{instance}", "x").status == 405


@pytest.mark.parametrize("suffix", ["%3Fformat=json", "%3F", "%23x", "%20", "0"])
def test_an_identifier_not_of_orthancs_form_answers_400(orthanc, suffix):
    instance = orthanc.upload("CT_small.dcm")["ID"]
    for wrong in (f"{instance}{suffix}", instance.upper()):
        answer = orthanc.get(f"/pydicom/{wrong}")
        assert answer.status == 400, (wrong, answer.text)
        assert answer.json()["parameter"] == "instance_id" and "format=json" not in answer.text


def test_the_dump_is_offloaded_and_the_recipe_came_from_the_configuration(orthanc):
    status = orthanc.get("/runtime/status").json()
    routes = {r["pattern"]: r for r in status["routes"]}
    assert routes["/pydicom/{instance_id}"]["offloaded"] is True
    assert routes["/pydicom/{instance_id}"]["handlers"] == ["recipes.pydicom_dump.dump"]


def test_strict_reading_answers_422_for_an_invalid_value(tmp_path):
    config = recipe_config(Strict=True, DefaultFormat="json")
    with running_orthanc(tmp_path, None, config) as orthanc:
        bad = orthanc.upload("badVR.dcm")["ID"]
        answer = orthanc.get(f"/pydicom/{bad}?format=text")
        assert answer.status == 422
        assert "Invalid value for VR IS: '1A'" in answer.json()["error"]
        good = orthanc.upload("CT_small.dcm")["ID"]
        answer = orthanc.get(f"/pydicom/{good}")  # DefaultFormat
        assert answer.status == 200 and answer.headers["content-type"] == "application/dicom+json"
