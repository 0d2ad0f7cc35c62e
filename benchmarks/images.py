"""The images users make thumbnails of, written with pydicom: no download, the same every run.

    radiograph   2048 x 2048, 16 bits (12 stored), MONOCHROME2, a window    (DX, 8 MB)
    ct           512 x 512, signed 16 bits, rescale -1024, a window          (CT, 0.5 MB)
    ultrasound   640 x 480, RGB 8 bits                                       (US, 0.9 MB)
    multiframe   256 x 256 x 40 frames, 16 bits, no window                   (MR, 5 MB)

and ``study(n)``, a CT study of n small slices, for auto-routing; ``from_test_files(n)``, n
instances made from five of pydicom's test files with fresh UIDs, for P12 (stored instances).

Pixels are smooth shapes with noise, not a ramp: an encoder cannot shrink
them to nothing, and a wrong window shows. The integration tests of the
thumbnails recipe use them too (``tests/integration/test_recipes_thumbnails_pixels.py``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

SOP_CLASSES = {
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",    # Digital X-Ray Image Storage - For Presentation
    "CT": "1.2.840.10008.5.1.4.1.1.2",      # CT Image Storage
    "US": "1.2.840.10008.5.1.4.1.1.6.1",    # Ultrasound Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",      # MR Image Storage
}


def _dataset(modality: str, rows: int, columns: int, study: str | None = None) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SOP_CLASSES[modality])
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = study or generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientID = "BENCH"
    dataset.PatientName = "Benchmark^Thumbnails"
    dataset.Modality = modality
    dataset.SeriesNumber = 1
    dataset.InstanceNumber = 1
    dataset.Rows, dataset.Columns = rows, columns
    return dataset


def _anatomy(rows: int, columns: int, seed: int) -> np.ndarray:
    """Values in 0..1: a few soft discs and stripes, with noise."""
    generator = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    y /= rows
    x /= columns
    image = 0.25 + 0.1 * np.sin(x * 9.0) * np.cos(y * 7.0)
    for _ in range(6):
        cy, cx, radius = generator.uniform(0.2, 0.8), generator.uniform(0.2, 0.8), \
            generator.uniform(0.05, 0.25)
        image += 0.3 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius * radius))
    image += generator.normal(0.0, 0.03, image.shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0)


def _grey(dataset: Dataset, values: np.ndarray, stored: int, signed: bool) -> None:
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = 16
    dataset.BitsStored = stored
    dataset.HighBit = stored - 1
    dataset.PixelRepresentation = int(signed)
    dataset.PixelData = values.astype("<i2" if signed else "<u2").tobytes()


def radiograph(path: Path) -> Path:
    dataset = _dataset("DX", 2048, 2048)
    _grey(dataset, _anatomy(2048, 2048, 1) * 4095, 12, signed=False)
    dataset.WindowCenter, dataset.WindowWidth = 1800, 3000
    dataset.save_as(path, enforce_file_format=True)
    return path


def ct(path: Path) -> Path:
    dataset = _dataset("CT", 512, 512)
    _grey(dataset, _anatomy(512, 512, 2) * 2400, 16, signed=True)
    dataset.RescaleSlope, dataset.RescaleIntercept = 1, -1024
    dataset.WindowCenter, dataset.WindowWidth = 40, 400
    dataset.save_as(path, enforce_file_format=True)
    return path


def ultrasound(path: Path) -> Path:
    dataset = _dataset("US", 480, 640)
    base = _anatomy(480, 640, 3)
    rgb = np.stack([base, base ** 1.5, np.clip(base * 1.2 - 0.1, 0, 1)], axis=-1) * 255
    dataset.SamplesPerPixel = 3
    dataset.PhotometricInterpretation = "RGB"
    dataset.PlanarConfiguration = 0
    dataset.BitsAllocated = dataset.BitsStored = 8
    dataset.HighBit = 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = rgb.astype(np.uint8).tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path


def multiframe(path: Path, frames: int = 40) -> Path:
    dataset = _dataset("MR", 256, 256)
    stack = np.stack([_anatomy(256, 256, 10 + f) * (1000 + 10 * f) for f in range(frames)])
    _grey(dataset, stack, 16, signed=False)
    dataset.NumberOfFrames = frames
    dataset.save_as(path, enforce_file_format=True)
    return path


def study(instances: int, side: int = 128) -> list[bytes]:
    """A new CT study of ``instances`` small slices, one series, as DICOM files in memory."""
    uid, series = generate_uid(), generate_uid()
    files = []
    for number in range(instances):
        dataset = _dataset("CT", side, side, study=uid)
        dataset.SeriesInstanceUID = series
        dataset.InstanceNumber = number + 1
        _grey(dataset, _anatomy(side, side, number) * 2400, 16, signed=True)
        dataset.RescaleSlope, dataset.RescaleIntercept = 1, -1024
        out = io.BytesIO()
        dataset.save_as(out, enforce_file_format=True)
        files.append(out.getvalue())
    return files


# pydicom's uncompressed little-endian test files that P12 cycles through (bytes, modality):
# a small CT, a small MR, a larger MR, an RGB ultrasound and a multi-frame 32-bit dose.
TEST_FILES = (
    "CT_small.dcm",          # CT 128 x 128, 16 bits, 39 kB
    "MR_small.dcm",          # MR 64 x 64, 16 bits, 10 kB
    "examples_overlay.dcm",  # MR 484 x 300, 16 bits, 322 kB
    "examples_rgb_color.dcm",  # US 320 x 240, RGB 8 bits, 232 kB
    "rtdose.dcm",            # RTDOSE 10 x 10 x 15 frames, 32 bits, 8 kB
)


def from_test_files(count: int, per_series: int = 10) -> list[bytes]:
    """``count`` new instances, pydicom's ``TEST_FILES`` in turn, each with fresh UIDs.

    Every ``per_series`` instances share a new study and series (one patient each), as a
    modality's series would arrive; the files are otherwise pydicom's, byte for byte.
    """
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    sources = [Path(str(get_testdata_file(name))).read_bytes() for name in TEST_FILES]
    files = []
    study = series = ""
    for number in range(count):
        if number % per_series == 0:
            study, series = generate_uid(), generate_uid()
        dataset = dcmread(io.BytesIO(sources[number % len(sources)]))
        dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study, series
        dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        dataset.PatientID = f"BENCH-{study[-8:]}"
        dataset.InstanceNumber = number % per_series + 1
        out = io.BytesIO()
        dataset.save_as(out)
        files.append(out.getvalue())
    return files


IMAGES: dict[str, Callable[[Path], Path]] = {
    "radiograph": radiograph, "ct": ct, "ultrasound": ultrasound, "multiframe": multiframe,
}


def write_all(folder: Path) -> dict[str, Path]:
    """Every image above, written into ``folder`` (``<name>.dcm``)."""
    folder.mkdir(parents=True, exist_ok=True)
    return {name: make(folder / f"{name}.dcm") for name, make in IMAGES.items()}
