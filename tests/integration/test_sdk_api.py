"""The generated `orthanc` API against a real Orthanc and real DICOM files, group by group,
from the master and from an offloaded handler in a worker; and what bad input does."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy
import pydicom
import pytest
from PIL import Image

from tests.harness import PYDICOM_FILES, running_orthanc, scripts_dir

SCRIPT = scripts_dir() / "sdk_api.py"
WHERE = ["/sdk", "/sdk-offloaded"]  # the master (official style), a worker (@offload)


@pytest.fixture(scope="module")
def peer(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("peer"), None, name="sdk-peer") as server:
        yield server


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory, peer):
    config = {"OrthancPeers": {"second": {"Url": peer.url + "/", "Custom": "a user property"}},
              "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path_factory.mktemp("sdk"), SCRIPT, config) as server:
        server.ids = {name: server.upload(name)["ID"]
                      for name in ("CT_small.dcm", "examples_rgb_color.dcm")}
        yield server


def call(orthanc, where: str, group: str, instance: str = "", query: str = "") -> dict[str, Any]:
    answer = orthanc.get(f"{where}/{group}/{instance or 'none'}{query}")
    assert answer.status == 200, answer.text
    result = answer.json()
    assert "error" not in result, result
    return result  # type: ignore[no-any-return]


def pixels(image: dict[str, Any], dtype: str, channels: int = 1) -> numpy.ndarray:
    raw = numpy.frombuffer(base64.b64decode(image["buffer"]), dtype=numpy.uint8)
    rows = raw.reshape(image["height"], image["pitch"])
    item = numpy.dtype(dtype).itemsize
    row_bytes = image["width"] * channels * item
    data = numpy.ascontiguousarray(rows[:, :row_bytes]).view(dtype)
    return data.reshape(image["height"], image["width"], channels).squeeze()


@pytest.mark.parametrize("where", WHERE)
def test_a_ct_frame_decodes_to_pydicoms_pixels(orthanc, where):
    result = call(orthanc, where, "images", orthanc.ids["CT_small.dcm"])
    decoded = result["decoded"]
    expected = pydicom.dcmread(PYDICOM_FILES / "CT_small.dcm").pixel_array
    assert (decoded["width"], decoded["height"]) == (128, 128)
    assert decoded["format"] == 3  # PixelFormat.SIGNED_GRAYSCALE16
    assert numpy.array_equal(pixels(decoded, "<i2"), expected)
    assert result["copy_equal"] is True


@pytest.mark.parametrize("where", WHERE)
def test_a_color_frame_decodes_compresses_to_png_and_jpeg_that_pillow_reads(orthanc, where):
    result = call(orthanc, where, "images", orthanc.ids["examples_rgb_color.dcm"])
    expected = pydicom.dcmread(PYDICOM_FILES / "examples_rgb_color.dcm").pixel_array
    decoded = result["decoded"]
    assert decoded["format"] == 4  # PixelFormat.RGB24
    assert numpy.array_equal(pixels(decoded, "u1", 3), expected)
    png = Image.open(io.BytesIO(base64.b64decode(result["png"])))
    assert png.format == "PNG" and png.size == (320, 240)
    assert numpy.array_equal(numpy.asarray(png.convert("RGB")), expected)
    jpeg = Image.open(io.BytesIO(base64.b64decode(result["jpeg"])))
    assert jpeg.format == "JPEG" and jpeg.size == (320, 240)
    difference = numpy.abs(numpy.asarray(jpeg.convert("RGB"), dtype=int) - expected.astype(int))
    assert difference.mean() < 8  # lossy, quality 90
    assert result["png_round_trip"] is True
    assert result["copy_equal"] is True


@pytest.mark.parametrize("where", WHERE)
def test_draw_text_writes_red_pixels_and_converting_to_grayscale_keeps_them(orthanc, where):
    result = call(orthanc, where, "images", orthanc.ids["examples_rgb_color.dcm"])
    drawn = pixels(result["drawn"], "u1", 3)
    assert drawn.shape == (40, 120, 3)
    red = (drawn[:, :, 0] > 0) & (drawn[:, :, 1] == 0) & (drawn[:, :, 2] == 0)
    assert red.sum() > 20  # the glyphs of "Hello"
    assert (drawn[:, :, 1:] == 0).all()  # nothing but red was drawn on black
    gray = pixels(result["converted"], "u1")
    assert gray.shape == (40, 120)
    assert gray[~red].max() == 0 and (gray > 0).sum() >= 0.9 * red.sum()  # faint edges may round to 0
    name, size, count = result["fonts"]
    assert name and size > 0 and count >= 1


@pytest.mark.parametrize("where", WHERE)
def test_create_dicom_makes_a_file_pydicom_reads(orthanc, where):
    result = call(orthanc, where, "creation", orthanc.ids["CT_small.dcm"])
    dataset = pydicom.dcmread(io.BytesIO(base64.b64decode(result["dicom"])))
    assert dataset.PatientID == "GEN-1"
    assert str(dataset.PatientName) == "Generated^Patient"
    assert dataset.StudyDescription == "made by CreateDicom"
    assert dataset.StudyInstanceUID  # GENERATE_IDENTIFIERS
    assert result["size"] == len(base64.b64decode(result["dicom"]))
    assert result["simplified"]["PatientID"] == "GEN-1"
    assert result["serialized_equal"] is True
    assert result["short_json_patient_id"] == "GEN-1"
    assert result["stored_modality"] == "CT"
    assert result["dicomweb_json"]["00100020"] == {"vr": "LO", "Value": ["GEN-1"]}
    assert '<DicomAttribute tag="00100020" vr="LO" keyword="PatientID">' in result["dicomweb_xml"]
    assert result["instance_dicomweb"]["00100020"] == {"vr": "LO", "Value": ["GEN-1"]}
    assert 'keyword="PatientID"' in result["instance_dicomweb_xml"]


@pytest.mark.parametrize("where", WHERE)
def test_lookups_find_the_resources_of_a_stored_instance(orthanc, where):
    instance = orthanc.ids["CT_small.dcm"]
    result = call(orthanc, where, "lookups", instance)
    info = orthanc.get(f"/instances/{instance}").json()
    series = orthanc.get(f"/series/{info['ParentSeries']}").json()
    study = orthanc.get(f"/studies/{series['ParentStudy']}").json()
    assert result["instance"] == instance
    assert result["series"] == info["ParentSeries"]
    assert result["study"] == series["ParentStudy"]
    assert result["patient"] == study["ParentPatient"]
    assert result["dictionary"]["Group"] == 0x0010 and result["dictionary"]["Element"] == 0x0010
    assert result["tag_name"] == "PatientID"


@pytest.mark.parametrize("where", WHERE)
def test_global_properties_are_written_and_read(orthanc, where):
    result = call(orthanc, where, "properties", query=f"?value={where.strip('/')}")
    assert result == {"read": where.strip("/"), "missing": "default"}


@pytest.mark.parametrize("where", WHERE)
def test_hashes_compression_and_uuids(orthanc, where):
    result = call(orthanc, where, "hashes")
    assert result["md5"] == result["expected"]["md5"]
    assert result["sha1"].replace("-", "") == result["expected"]["sha1"]  # Orthanc's dashed form
    assert result["round_trip"] == "orthanc-runtime"
    assert len(result["uuid"]) == 36 and result["mime"] == "image/png"


@pytest.mark.parametrize("where", WHERE)
def test_peers_are_listed_and_reached(orthanc, peer, where):
    result = call(orthanc, where, "peers")
    assert result["peers"] == [{"name": "second", "url": peer.url + "/",
                                "custom": "a user property", "remote_name": "sdk-peer",
                                "peer_api": [200, "sdk-peer", "application/json; charset=utf-8"],
                                "client_status": 404}]


@pytest.mark.parametrize(("where", "value"), [("/sdk", 42), ("/sdk-offloaded", 43)])
def test_metrics_reach_prometheus(orthanc, where, value):
    call(orthanc, where, "metrics", query=f"?value={value}")
    metrics = orthanc.get("/tools/metrics-prometheus").text
    assert f"sdk_api_test_metric {value}" in metrics


# -- bad input -------------------------------------------------------------------------------

def bad(orthanc, case: str) -> dict[str, Any]:
    answer = orthanc.get(f"/sdk-bad/{case}")
    assert answer.status == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_an_image_buffer_shorter_than_pitch_times_height_raises_orthanc_exception(orthanc):
    result = bad(orthanc, "short-buffer")
    assert result["error"] == "OrthancException" and result["code"] == 5  # BAD_PARAMETER_TYPE
    assert "50 bytes" in result["message"] and "100" in result["message"]


def test_a_file_that_is_not_dicom_raises_orthanc_exception(orthanc):
    result = bad(orthanc, "not-dicom")
    assert result["error"] == "OrthancException"


def test_wrong_argument_types_raise_type_error_naming_them(orthanc):
    result = bad(orthanc, "md5-of-int")
    assert result["error"] == "TypeError"
    assert "ComputeMd5" in result["message"] and "buffer" in result["message"]
    result = bad(orthanc, "width-of-str")
    assert result["error"] == "TypeError" and "width" in result["message"]


def test_an_instance_kept_after_its_callback_raises_a_clear_error(orthanc):
    orthanc.upload("CT_small.dcm")  # the callback keeps its DicomInstance
    result = bad(orthanc, "kept-instance")
    assert result["error"] == "ValueError" and "no longer valid" in result["message"]


def test_an_output_kept_after_its_request_raises_a_clear_error(orthanc):
    assert orthanc.get("/sdk-keep-output").body == b"kept"
    result = bad(orthanc, "kept-output")
    assert result["error"] == "ValueError" and "no longer valid" in result["message"]


def test_an_unknown_lookup_raises_orthanc_exception(orthanc):
    assert bad(orthanc, "lookup-unknown")["error"] == "OrthancException"



# -- runtime.sdk's layer over the same calls -------------------------------------------------

@pytest.mark.parametrize("where", ["/runtime-sdk", "/runtime-sdk-offloaded"])
def test_runtime_decode_image_gives_pillow_the_pixels_pydicom_reads(orthanc, where):
    for name, mode in (("CT_small.dcm", "I"), ("examples_rgb_color.dcm", "RGB")):
        answer = orthanc.get(f"{where}/{orthanc.ids[name]}")
        assert answer.status == 200, answer.text
        result = answer.json()
        expected = pydicom.dcmread(PYDICOM_FILES / name).pixel_array
        assert result["mode"] == mode
        assert result["size"] == [expected.shape[1], expected.shape[0]]
        dtype = "<i4" if mode == "I" else "u1"  # Pillow keeps mode I as 32-bit integers
        decoded = numpy.frombuffer(base64.b64decode(result["pixels"]), dtype=dtype)
        assert numpy.array_equal(decoded.reshape(expected.shape), expected)


@pytest.mark.parametrize("where", ["/runtime-sdk", "/runtime-sdk-offloaded"])
def test_runtime_create_dicom_and_lookups(orthanc, where):
    instance = orthanc.ids["CT_small.dcm"]
    result = orthanc.get(f"{where}/{instance}").json()
    dataset = pydicom.dcmread(io.BytesIO(base64.b64decode(result["dicom"])))
    assert dataset.PatientID == "RT-1" and (dataset.Columns, dataset.Rows) == (16, 8)
    assert (dataset.pixel_array == [10, 200, 30]).all()
    series = orthanc.get(f"/instances/{instance}").json()["ParentSeries"]
    assert result["study"] == orthanc.get(f"/series/{series}").json()["ParentStudy"]
    assert result["unknown_study"] is None


@pytest.mark.parametrize(("case", "name"), [("describe", "SetDescription"),
                                            ("error-code", "RegisterErrorCode")])
def test_a_call_only_the_master_may_make_raises_not_in_orthanc_in_a_worker(orthanc, case, name):
    result = orthanc.get(f"/sdk-worker-refuses/{case}").json()
    assert result["error"] == "NotInOrthanc" and name in result["message"]


def test_compress_and_answer_png_and_jpeg_send_images_pillow_reads(orthanc):
    answer = orthanc.get("/sdk-answer/png")
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    png = Image.open(io.BytesIO(answer.body))
    assert png.size == (32, 32) and png.tobytes()[:256] == bytes(range(256))
    answer = orthanc.get("/sdk-answer/jpeg")
    assert answer.headers["content-type"] == "image/jpeg"
    jpeg = Image.open(io.BytesIO(answer.body))
    assert jpeg.size == (16, 8)
    pixel = jpeg.convert("RGB").getpixel((4, 4))
    assert all(abs(a - b) <= 8 for a, b in zip(pixel, (10, 200, 30), strict=True))


def test_a_multipart_answer_carries_each_item(orthanc):
    answer = orthanc.get("/sdk-answer/multipart")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("multipart/mixed")
    assert b"first part" in answer.body and b"second part" in answer.body
    assert answer.body.count(b"Content-Type: text/plain") == 2
