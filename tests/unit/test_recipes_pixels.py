"""recipes.pixels and the thumbnail's size, without Orthanc.

The comparison with Orthanc's own rendering is in
tests/integration/test_recipes_thumbnails_pixels.py; here, the arithmetic
against the formula it follows, the frames it refuses, and the thumbnail's
size against Pillow's own ``thumbnail``.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from recipes import pixels
from recipes.thumbnails import fitted

LITTLE = "1.2.840.10008.1.2.1"
GREY = {"0028,0002": "1", "0028,0004": "MONOCHROME2", "0028,0010": "3", "0028,0011": "4",
        "0028,0100": "16", "0028,0101": "12", "0028,0103": "0"}


def orthanc_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """Orthanc 1.10's mapping, written plainly: floor((v - c + w/2) * 255 / w), clipped."""
    return np.clip(np.floor((values - center + width / 2) * 255 / width), 0, 255).astype(np.uint8)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(1, 1024))
def test_the_size_is_the_one_pillows_thumbnail_gives(width, height, longest):
    image = Image.new("1", (width, height))
    image.thumbnail((longest, longest))
    assert fitted((width, height), longest) == image.size


def test_grey_levels_follow_rescale_window_and_inversion():
    tags = {**GREY, "0028,0103": "1", "0028,0101": "16", "0028,1052": "-1024",
            "0028,1053": "0.5", "0028,1050": "40\\400", "0028,1051": "400\\1500",
            "0028,0004": "MONOCHROME1"}
    layout = pixels.FrameLayout.parse(tags, LITTLE)
    assert layout is not None and (layout.center, layout.width) == (40.0, 400.0)  # the first
    words = np.array([-32768, -1000, 0, 1500, 2100, 2200, 3000, 32767, 5, 7, 9, 11], "<i2")
    image = pixels.render(words.tobytes(), layout)
    expected = 255 - orthanc_window(words.astype(np.float64) * 0.5 - 1024, 40, 400)
    assert image.mode == "L" and image.size == (4, 3)
    assert np.array_equal(np.asarray(image).ravel(), expected)


def test_without_a_window_the_range_of_bits_stored_and_high_bits_dropped():
    layout = pixels.FrameLayout.parse(GREY, LITTLE)  # 12 of 16 bits, no window
    assert layout is not None and layout.center is None
    words = np.array([0, 1, 2047, 2048, 4095, 4096 + 5, 0xF000 | 4000, 100, 200, 300, 400, 500],
                     "<u2")
    image = np.asarray(pixels.render(words.tobytes(), layout)).ravel()
    assert np.array_equal(image, orthanc_window((words & 0x0FFF).astype(np.float64), 2048, 4096))


def test_rgb_interleaved_and_planar_give_the_same_image():
    rgb = np.arange(3 * 4 * 3, dtype=np.uint8).reshape(3, 4, 3)
    tags = {**GREY, "0028,0002": "3", "0028,0004": "RGB", "0028,0100": "8", "0028,0101": "8"}
    interleaved = pixels.FrameLayout.parse(tags, LITTLE)
    planar = pixels.FrameLayout.parse({**tags, "0028,0006": "1"}, LITTLE)
    assert interleaved is not None and planar is not None and planar.planar
    one = pixels.render(rgb.tobytes(), interleaved)
    other = pixels.render(rgb.transpose(2, 0, 1).tobytes(), planar)
    assert one.mode == "RGB" and np.array_equal(np.asarray(one), rgb)
    assert np.array_equal(np.asarray(other), rgb)


@pytest.mark.parametrize(("change", "syntax"), [
    ({}, "1.2.840.10008.1.2.4.50"),                      # JPEG baseline
    ({}, "1.2.840.10008.1.2.2"),                         # big endian
    ({}, "1.2.840.10008.1.2.1.99"),                      # deflated
    ({"0028,0004": "PALETTE COLOR"}, LITTLE),
    ({"0028,0004": "YBR_FULL", "0028,0002": "3"}, LITTLE),
    ({"0028,0100": "1", "0028,0101": "1"}, LITTLE),      # a segmentation's bits
    ({"0028,0100": "32", "0028,0101": "32"}, LITTLE),
    ({"0028,3010": "present"}, LITTLE),                  # VOI LUT sequence
    ({"0028,3000": "present"}, LITTLE),                  # modality LUT sequence
    ({"0028,0010": ""}, LITTLE),
])
def test_frames_it_does_not_render_are_left_to_orthanc(change, syntax):
    assert pixels.FrameLayout.parse({**GREY, **change}, syntax) is None


def test_a_frame_shorter_than_its_tags_say_is_refused():
    layout = pixels.FrameLayout.parse(GREY, LITTLE)
    assert layout is not None
    with pytest.raises(ValueError, match="23 bytes"):
        pixels.render(bytes(23), layout)


def multiframe_file(frames: int) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID, dataset.SOPInstanceUID = meta.MediaStorageSOPClassUID, generate_uid()
    dataset.Rows, dataset.Columns, dataset.NumberOfFrames = 2, 3, frames
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 1, "MONOCHROME2"
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation = 0
    dataset.WindowCenter, dataset.WindowWidth = [100, 7], [200, 9]
    dataset.PixelData = np.arange(frames * 6, dtype="<u2").tobytes()
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_a_frame_from_the_file_with_its_tags():
    data = multiframe_file(4)
    layout, raw = pixels.from_file(data, LITTLE, 2) or (None, b"")
    assert layout is not None and (layout.rows, layout.columns) == (2, 3)
    assert (layout.center, layout.width) == (100.0, 200.0)
    assert np.array_equal(np.frombuffer(raw, "<u2"), np.arange(12, 18))
    centers = pixels.short_tags(pydicom.dcmread(io.BytesIO(data)))["0028,1050"]
    assert [float(value) for value in centers.split("\\")] == [100, 7]
    assert pixels.from_file(data, LITTLE, 4) is None  # past the last frame
    assert pixels.from_file(data, "1.2.840.10008.1.2.4.50", 0) is None
