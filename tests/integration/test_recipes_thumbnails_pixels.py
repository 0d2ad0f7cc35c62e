"""The thumbnails recipe's pixels: each thumbnail is the one Orthanc's full-size rendering gives.

For a set of pydicom's files (MONOCHROME1 and 2, signed and unsigned, with and
without rescale and windows, RGB, YBR, palette, JPEG, RLE, big endian, 1 and
32 bits, multi-frame; pydicom's files that share an instance UID are stored
once by Orthanc, so one of each) and the benchmark's images (a 2048 x 2048 radiograph, a CT, an
RGB ultrasound, a multi-frame MR), the recipe's PNG thumbnail is compared with
Orthanc's full-size ``/rendered`` frame shrunk by Pillow with the same filter:
the same size and mode, and a mean absolute difference of at most 3 of 255.
A frame made from its raw bytes in the worker must match almost exactly.
One Orthanc for the module, with the recipe's default settings.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks import images
from tests.harness import PYDICOM_FILES, running_orthanc

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "thumbnails.py"
TOLERANCE = 3.0  # mean absolute difference, of 255, for frames Orthanc scales first
RAW_TOLERANCE = 0.1  # for frames the worker windows itself: the same arithmetic as Orthanc's

# (file, what it covers, where its pixels are made at size 64)
PYDICOM_CASES = [
    ("dicomdirtests/77654033/CR1/6154", "MONOCHROME1, 12 of 16 bits, rescale 0.684, window", "raw"),
    ("dicomdirtests/77654033/CT2/17106", "signed, rescale -1024, window", "raw"),
    ("CT_small.dcm", "signed, rescale -1024, no window", "raw"),
    ("MR_small.dcm", "signed, window, no rescale", "raw"),
    ("MR_small_implicit.dcm", "implicit VR little endian", "raw"),
    ("examples_overlay.dcm", "unsigned 12 of 16 bits, two windows, overlay", "raw"),
    ("examples_rgb_color.dcm", "RGB, interleaved", "raw"),
    ("SC_rgb_small_odd.dcm", "RGB, 3 x 3 (never enlarged)", "raw"),
    ("examples_palette.dcm", "PALETTE COLOR", "scaled"),
    ("examples_ybr_color.dcm", "JPEG baseline, YBR_FULL_422, multi-frame", "scaled"),
    ("SC_rgb_jpeg_dcmtk.dcm", "JPEG baseline, YBR_FULL", "full"),
    ("JPEG-lossy.dcm", "JPEG extended, 12 bits grey", "scaled"),
    ("SC_rgb_jpeg_gdcm.dcm", "JPEG lossless, RGB", "full"),
    ("rtdose_rle.dcm", "RLE lossless, 32 bits, multi-frame", "full"),
    ("ExplVR_BigEnd.dcm", "explicit VR big endian, RGB", "full"),
    ("liver_1frame.dcm", "1 bit (a segmentation)", "scaled"),
]
BENCHMARK_CASES = [
    ("radiograph", "2048 x 2048, 12 of 16 bits, window", "raw"),
    ("ct", "512 x 512 CT, signed, rescale, window", "raw"),
    ("ultrasound", "640 x 480 RGB", "raw"),
    ("multiframe", "40 frames of 256 x 256, no window", "raw"),
]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("thumbnail-pixels")
    with running_orthanc(folder, RECIPE, {"PythonRuntime": {"Pool": {"Workers": 2}}}) as server:
        yield server


@pytest.fixture(scope="module")
def instances(orthanc, tmp_path_factory) -> dict[str, str]:
    """Each case's name (a pydicom file or a benchmark image) -> its instance in Orthanc."""
    paths = {name: PYDICOM_FILES / name for name, _, _ in PYDICOM_CASES}
    paths.update(images.write_all(tmp_path_factory.mktemp("images")))
    return {name: orthanc.upload(path)["ID"] for name, path in paths.items()}


def reference(orthanc, instance: str, frame: int, size: int) -> Image.Image:
    """Orthanc's full-size rendering of the frame, shrunk as Image.thumbnail shrinks."""
    answer = orthanc.get(f"/instances/{instance}/frames/{frame}/rendered")
    assert answer.status == 200, answer.text
    image = Image.open(io.BytesIO(answer.body))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return image


def compare(orthanc, instance: str, frame: int, size: int, pixels: str) -> float:
    """Asserts the thumbnail's size, mode and where it was made; its mean absolute difference."""
    answer = orthanc.get(f"/thumbnails/{instance}?size={size}&format=png&frame={frame}")
    assert answer.status == 200, answer.text
    assert answer.headers["x-thumbnail-pixels"] == pixels
    thumbnail = Image.open(io.BytesIO(answer.body))
    expected = reference(orthanc, instance, frame, size)
    assert (thumbnail.size, thumbnail.mode) == (expected.size, expected.mode)
    difference = float(np.abs(np.asarray(thumbnail, np.int16)
                              - np.asarray(expected, np.int16)).mean())
    print(f"{instance} frame {frame} size {size}: {pixels}, mean difference {difference:.3f}")
    return difference


@pytest.mark.parametrize(("name", "covers", "pixels"), PYDICOM_CASES + BENCHMARK_CASES,
                         ids=[case[0].rsplit("/", 1)[-1] for case in PYDICOM_CASES + BENCHMARK_CASES])
def test_the_thumbnail_matches_orthancs_full_rendering_shrunk(orthanc, instances, name, covers,
                                                              pixels):
    difference = compare(orthanc, instances[name], 0, 64, pixels)
    assert difference <= (RAW_TOLERANCE if pixels == "raw" else TOLERANCE), (covers, difference)


@pytest.mark.parametrize(("name", "frames"), [("examples_ybr_color.dcm", "scaled"),
                                              ("multiframe", "raw")])
def test_other_frames_of_a_multiframe_instance_match_too(orthanc, instances, name, frames):
    count = len(orthanc.get(f"/instances/{instances[name]}/frames").json())
    for frame in (1, count // 2, count - 1):
        difference = compare(orthanc, instances[name], frame, 64, frames)
        assert difference <= (RAW_TOLERANCE if frames == "raw" else TOLERANCE), (frame, difference)


@pytest.mark.parametrize("size", [1, 100, 300, 1024])
def test_other_sizes_of_the_radiograph_match(orthanc, instances, size):
    # At 1024 Orthanc's scaled rendering would be no smaller than the frame: the raw path only.
    assert compare(orthanc, instances["radiograph"], 0, size, "raw") <= RAW_TOLERANCE


def test_a_large_frame_orthanc_decodes_is_scaled_near_the_size(orthanc, instances):
    # The palette image is 800 x 600: Orthanc renders it at 4 x 100 = 400 on its longest side.
    difference = compare(orthanc, instances["examples_palette.dcm"], 0, 100, "scaled")
    assert difference <= TOLERANCE
    small = compare(orthanc, instances["examples_palette.dcm"], 0, 300, "full")
    assert small <= TOLERANCE  # 4 x 300 is more than 800: Orthanc renders it as it is
