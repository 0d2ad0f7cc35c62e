"""The thumbnails recipe in a real Orthanc, over every file of pydicom's test data that Orthanc stores.

The recipe is the script here (``recipes/thumbnails.py``), with its default
settings. The outcome for each file is printed (``pytest -s``), recorded as
the test's ``thumbnail_outcomes`` property, and written to
``thumbnail-outcomes.txt`` in the test's temporary folder.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from tests.harness import PYDICOM_FILES, running_orthanc

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "thumbnails.py"
UNKNOWN = "01234567-89abcdef-01234567-89abcdef-01234567"


@dataclass
class Stored:
    name: str  # the file's path under pydicom's test_files
    status: int  # Orthanc's answer to the upload
    instance: str | None = None
    first: str | None = None  # the earlier file of the same instance, if Orthanc had it already


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("thumbnails")
    with running_orthanc(folder, RECIPE, {"PythonRuntime": {"Pool": {"Workers": 2}}}) as server:
        yield server


@pytest.fixture(scope="module")
def stored(orthanc) -> list[Stored]:
    """Every file of pydicom's test data, uploaded: what Orthanc made of each."""
    result: list[Stored] = []
    seen: dict[str, str] = {}
    for path in sorted(p for p in PYDICOM_FILES.rglob("*") if p.is_file()):
        name = str(path.relative_to(PYDICOM_FILES))
        answer = orthanc.post("/instances", path.read_bytes())
        if answer.status != 200:
            result.append(Stored(name, answer.status))
            continue
        instance = answer.json()["ID"]
        result.append(Stored(name, 200, instance, seen.get(instance)))
        seen.setdefault(instance, name)
    return result


def by_name(stored: list[Stored], name: str) -> str:
    found = next(s for s in stored if s.name == name)
    assert found.instance, f"Orthanc did not store {name}"
    return found.instance


def check_thumbnail(answer, size: int, kind: str, columns: int, rows: int) -> Image.Image:
    assert answer.headers["content-type"] == f"image/{kind}"
    image = Image.open(io.BytesIO(answer.body))
    image.load()
    assert image.format == kind.upper()
    assert max(image.size) <= size
    # Aspect kept (Pillow rounds each side), never enlarged.
    scale = min(1.0, size / max(columns, rows))
    assert abs(image.size[0] - columns * scale) <= 1 and abs(image.size[1] - rows * scale) <= 1
    return image


def test_every_stored_instance_gives_a_thumbnail_or_says_why_not(
        orthanc, stored, tmp_path_factory, record_property):
    lines: list[str] = []
    outcome: dict[str, str] = {}  # instance -> "200 ..." or "415 <reason>"
    for item in stored:
        if item.instance is None:
            lines.append(f"{item.name:58} not stored by Orthanc (HTTP {item.status})")
            continue
        if item.first is not None:
            lines.append(f"{item.name:58} the same instance as {item.first}")
            continue
        answer = orthanc.get(f"/thumbnails/{item.instance}?size=64")
        assert answer.status in (200, 415), (item.name, answer.status, answer.text)
        if answer.status == 200:
            tags = orthanc.get(f"/instances/{item.instance}/simplified-tags").json()
            image = check_thumbnail(answer, 64, "jpeg", int(tags["Columns"]), int(tags["Rows"]))
            outcome[item.instance] = (f"200 {image.size[0]}x{image.size[1]} {image.mode} "
                                      f"(from {tags['Columns']}x{tags['Rows']})")
        else:
            body = answer.json()
            assert body["status"] == 415 and body["instance"] == item.instance
            assert body["error"], item.name
            outcome[item.instance] = f"415 {body['error']}"
        lines.append(f"{item.name:58} {outcome[item.instance]}")
    table = "\n".join(lines)
    report = tmp_path_factory.getbasetemp() / "thumbnail-outcomes.txt"
    report.write_text(table + "\n")
    record_property("thumbnail_outcomes", table)
    print(f"\nthumbnails of pydicom's test files ({report}):\n{table}")

    def of(name: str) -> str:
        return outcome[by_name(stored, name)]

    # What Orthanc 1.10's built-in decoders can and cannot render, file by file.
    for name in ("CT_small.dcm", "MR_small_RLE.dcm", "MR_small_bigendian.dcm", "JPEG-lossy.dcm",
                 "SC_rgb_rle.dcm", "SC_rgb_jpeg_dcmtk.dcm", "examples_palette.dcm",
                 "examples_ybr_color.dcm", "SC_rgb_small_odd.dcm", "liver_1frame.dcm"):
        assert of(name).startswith("200 "), (name, table)
    for name in ("JPEG2000.dcm", "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm"):
        assert of(name).startswith("415 Orthanc has no decoder"), (name, table)
        assert "JPEG 2000" in of(name)
    assert "no pixel data" in of("rtplan.dcm") and "RT Plan Storage" in of("rtplan.dcm")
    assert "no pixel data" in of("waveform_ecg.dcm")
    assert "cannot read the frames" in of("badVR.dcm")
    assert sum(o.startswith("200 ") for o in outcome.values()) >= 50, table


def test_png_and_another_size(orthanc, stored):
    instance = by_name(stored, "examples_rgb_color.dcm")
    answer = orthanc.get(f"/thumbnails/{instance}?size=100&format=png")
    assert answer.status == 200, answer.text
    image = check_thumbnail(answer, 100, "png", 320, 240)
    assert image.size == (100, 75) and image.mode == "RGB"


def test_small_images_are_not_enlarged(orthanc, stored):
    answer = orthanc.get(f"/thumbnails/{by_name(stored, 'SC_rgb_small_odd.dcm')}?size=256")
    assert answer.status == 200
    assert Image.open(io.BytesIO(answer.body)).size == (3, 3)


def test_etag_and_304(orthanc, stored):
    uri = f"/thumbnails/{by_name(stored, 'CT_small.dcm')}?size=32"
    first = orthanc.get(uri)
    tag = first.headers["etag"]
    assert first.status == 200 and tag.startswith('"') and tag.endswith('"')
    assert "max-age=" in first.headers["cache-control"]
    assert orthanc.get(uri).headers["etag"] == tag  # the same request, the same validator

    again = orthanc.get(uri, headers={"If-None-Match": tag})
    assert again.status == 304 and again.body == b""
    assert again.headers["etag"] == tag
    assert orthanc.get(uri, headers={"If-None-Match": f'"other", W/{tag}'}).status == 304
    assert orthanc.get(uri, headers={"If-None-Match": '"other"'}).status == 200

    for other in (uri.replace("size=32", "size=33"), uri + "&format=png", uri + "&frame=0"):
        answer = orthanc.get(other, headers={"If-None-Match": tag})
        if other.endswith("frame=0"):  # frame 0 is the default: the same thumbnail
            assert answer.status == 304
        else:
            assert answer.status == 200 and answer.headers["etag"] != tag


def test_frames_of_a_multiframe_instance(orthanc, stored):
    instance = by_name(stored, "examples_ybr_color.dcm")
    frames = len(orthanc.get(f"/instances/{instance}/frames").json())
    assert frames > 2
    tags = set()
    for frame in (0, 1, frames - 1):
        answer = orthanc.get(f"/thumbnails/{instance}?frame={frame}")
        assert answer.status == 200, answer.text
        tags.add(answer.headers["etag"])
    assert len(tags) == 3
    answer = orthanc.get(f"/thumbnails/{instance}?frame={frames}")
    assert answer.status == 400
    assert answer.json()["frames"] == frames and "out of range" in answer.json()["error"]


def middle_by_instance_number(orthanc, series_id: str) -> str:
    instances = orthanc.get(f"/series/{series_id}/instances").json()
    instances.sort(key=lambda i: int(i["MainDicomTags"]["InstanceNumber"]))
    return instances[len(instances) // 2]["ID"]


def test_series_and_study_thumbnails_show_the_middle_instance(orthanc, stored):
    # Doe^Peter's Brain-MRA study: three MR series of 1, 3 and 7 instances
    instance = by_name(stored, "dicomdirtests/98892003/MR700/4467")
    parents = orthanc.get(f"/instances/{instance}").json()
    series_id = parents["ParentSeries"]
    study_id = orthanc.get(f"/series/{series_id}").json()["ParentStudy"]
    assert len(orthanc.get(f"/series/{series_id}").json()["Instances"]) == 7
    middle = middle_by_instance_number(orthanc, series_id)

    series = orthanc.get(f"/thumbnails/series/{series_id}?size=16")
    assert series.status == 200, series.text
    assert series.headers["x-thumbnail-instance"] == middle
    study = orthanc.get(f"/thumbnails/studies/{study_id}?size=16")
    assert study.status == 200
    assert study.headers["x-thumbnail-instance"] == middle  # its largest series
    assert Image.open(io.BytesIO(study.body)).size == (16, 16)


def test_a_multiframe_series_thumbnail_shows_the_middle_frame(orthanc, stored):
    instance = by_name(stored, "examples_ybr_color.dcm")
    series_id = orthanc.get(f"/instances/{instance}").json()["ParentSeries"]
    frames = len(orthanc.get(f"/instances/{instance}/frames").json())
    series = orthanc.get(f"/thumbnails/series/{series_id}")
    direct = orthanc.get(f"/thumbnails/{instance}?frame={frames // 2}")
    assert series.status == direct.status == 200
    assert series.headers["etag"] == direct.headers["etag"]


@pytest.mark.parametrize(("query", "parameter"), [
    ("size=0", "size"), ("size=abc", "size"), ("size=100000", "size"), ("size=-3", "size"),
    ("format=gif", "format"), ("frame=-1", "frame"), ("frame=x", "frame"),
])
def test_bad_arguments_answer_400(orthanc, stored, query, parameter):
    answer = orthanc.get(f"/thumbnails/{by_name(stored, 'CT_small.dcm')}?{query}")
    assert answer.status == 400
    body = answer.json()
    assert body["parameter"] == parameter and parameter in body["error"]


@pytest.mark.parametrize("uri", [
    f"/thumbnails/{UNKNOWN}", f"/thumbnails/series/{UNKNOWN}", f"/thumbnails/studies/{UNKNOWN}",
])
def test_unknown_resources_answer_404(orthanc, uri):
    answer = orthanc.get(uri)
    assert answer.status == 404
    assert answer.json()["status"] == 404 and answer.json()["error"]


@pytest.mark.parametrize("suffix", ["%3Fsize=5", "%3Fsize=5%26frame=0", "%3F", "%23x", "%20", "0"])
def test_an_identifier_not_of_orthancs_form_answers_400_never_500(orthanc, stored, suffix):
    # The recipe once called GET /instances/<id>?size=5/frames/0/rendered with
    # what the client sent, and answered 500: a client chose part of an internal URI.
    instance = by_name(stored, "CT_small.dcm")
    resource = orthanc.get(f"/instances/{instance}").json()
    series, study = resource["ParentSeries"], orthanc.get(f"/series/{resource['ParentSeries']}").json()["ParentStudy"]
    for prefix, identifier, name in (("/thumbnails/", instance, "instance_id"),
                                     ("/thumbnails/series/", series, "series_id"),
                                     ("/thumbnails/studies/", study, "study_id")):
        for wrong in (f"{identifier}{suffix}", identifier.upper(), "not-an-id"):
            answer = orthanc.get(f"{prefix}{wrong}")
            assert answer.status == 400, (prefix, wrong, answer.text)
            body = answer.json()
            assert body["parameter"] == name and "Orthanc identifier" in body["error"]
            assert "size=5" not in answer.text
        assert orthanc.get(f"{prefix}{identifier}").status == 200


def test_the_thumbnail_routes_are_offloaded(orthanc):
    routes = {r["pattern"]: r["offloaded"] for r in orthanc.get("/runtime/status").json()["routes"]}
    assert routes["/thumbnails/{instance_id}"] is True
    assert routes["/thumbnails/series/{series_id}"] is True
    assert routes["/thumbnails/studies/{study_id}"] is True
