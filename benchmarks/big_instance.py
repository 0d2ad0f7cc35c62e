"""A synthetic DICOM instance of 30+ MB (multi-frame, 16-bit), written with pydicom."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"


def write(path: Path, megabytes: int = 32, side: int = 2048) -> Path:
    """Writes an instance whose pixel data is at least ``megabytes`` MB; returns ``path``."""
    frame_bytes = side * side * 2
    frames = -(-(megabytes << 20) // frame_bytes)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(SECONDARY_CAPTURE)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = UID(SECONDARY_CAPTURE)
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.PatientID = "BENCH"
    dataset.PatientName = "Benchmark^Large"
    dataset.Modality = "OT"
    dataset.Rows = dataset.Columns = side
    dataset.NumberOfFrames = frames
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    # A ramp, not zeros: nothing on the way can shortcut an empty buffer.
    dataset.PixelData = bytes(range(256)) * (frame_bytes * frames // 256)
    dataset.save_as(path, enforce_file_format=True)
    return path
