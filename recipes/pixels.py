"""A DICOM frame's raw pixels made into the 8-bit image Orthanc's ``/rendered`` route gives.

The thumbnails recipe hands a frame's raw bytes to a worker (a single-frame
instance's whole file, parsed by pydicom with ``from_file``; one frame of a
multi-frame instance, ``/frames/N/raw``, with its ``/tags?short``) and makes
the image here, so that the master does no pixel work. This module knows
only what it needs for that: the frame's geometry and grey-level transform
from its tags (``FrameLayout``), and the same arithmetic as Orthanc 1.10's
rendering, so that a thumbnail made here is the one Orthanc's full-size
rendering would give, resized with the same filter:

- grey levels: the rescale (``RescaleSlope``/``RescaleIntercept``), then the
  first window (``WindowCenter``/``WindowWidth``), or without one the range
  ``BitsStored`` can hold (center 2^(bits-1), width 2^bits), mapped as
  ``floor((v - center + width / 2) * 255 / width)`` clipped to 0..255;
  ``MONOCHROME1`` inverted;
- colour: 8-bit RGB, interleaved or planar, as it is.

Frames it does not handle (compressed transfer syntaxes, big endian, YBR,
palettes, LUT sequences, 1-bit or 32-bit pixels) are ``None`` from
``FrameLayout.parse``: the recipe then asks Orthanc to render them.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

# Uncompressed little-endian transfer syntaxes: /frames/N/raw is the pixels as stored.
RAW_SYNTAXES = frozenset({"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"})

# Tags that change the grey levels in ways this module does not reproduce.
_LUT_TAGS = ("0028,3000", "0028,3010", "0028,1201", "0028,1221")


def _first_number(tags: dict[str, Any], tag: str) -> float | None:
    """The first value of a decimal string tag ("40\\400" gives 40.0); None if absent or bad."""
    value = tags.get(tag)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        number = float(value.split("\\")[0])
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _int(tags: dict[str, Any], tag: str) -> int | None:
    try:
        return int(str(tags.get(tag, "")).strip())
    except ValueError:
        return None


# The tags FrameLayout.parse reads, as /tags?short names them.
_READ = ("0028,0002", "0028,0004", "0028,0006", "0028,0010", "0028,0011", "0028,0100",
         "0028,0101", "0028,0103", "0028,1050", "0028,1051", "0028,1052", "0028,1053", *_LUT_TAGS)


def short_tags(dataset: Dataset) -> dict[str, str]:
    """The tags FrameLayout reads from a pydicom data set, as ``/tags?short`` would give them."""
    tags = {}
    for key in _READ:
        element = dataset.get(Tag(int(key[:4], 16), int(key[5:], 16)))
        if element is None or element.value is None:
            continue
        value = element.value
        if element.VR == "SQ" or isinstance(value, bytes):
            tags[key] = "present"  # only whether it is there matters
        elif isinstance(value, MultiValue | list):
            tags[key] = "\\".join(str(item) for item in value)
        else:
            tags[key] = str(value)
    return tags


def from_file(data: bytes, transfer_syntax: str, frame: int) -> tuple[FrameLayout, memoryview] | None:
    """The layout and the raw bytes of ``frame`` of a DICOM file; None if not rendered here.

    Reading the whole file costs Orthanc less than extracting the frame
    (``/frames/N/raw`` parses the file with DCMTK): for a single-frame image,
    the file is the frame and a few hundred bytes of tags.
    """
    if transfer_syntax not in RAW_SYNTAXES:
        return None
    dataset = dcmread(io.BytesIO(data))
    layout = FrameLayout.parse(short_tags(dataset), transfer_syntax)
    pixel_data = dataset.get("PixelData")  # by keyword: the value
    if layout is None or not isinstance(pixel_data, bytes):
        return None
    start = frame * layout.frame_bytes
    if len(pixel_data) < start + layout.frame_bytes:
        return None
    return layout, memoryview(pixel_data)[start:start + layout.frame_bytes]


def dimensions(tags: dict[str, Any]) -> tuple[int, int]:
    """Rows and columns from the tags (0 when absent)."""
    return _int(tags, "0028,0010") or 0, _int(tags, "0028,0011") or 0


@dataclass(frozen=True)
class FrameLayout:
    """How a frame's raw bytes are laid out, and how its grey levels become 0..255."""

    rows: int
    columns: int
    samples: int          # 1 (grey) or 3 (RGB)
    bits_allocated: int   # 8 or 16
    bits_stored: int
    signed: bool
    planar: bool          # RGB stored as three planes
    inverted: bool        # MONOCHROME1
    slope: float
    intercept: float
    center: float | None  # None: the frame's range
    width: float | None

    @classmethod
    def parse(cls, tags: dict[str, Any], transfer_syntax: str) -> FrameLayout | None:
        """The layout from ``/instances/{id}/tags?short``; None if this module cannot render it."""
        if transfer_syntax not in RAW_SYNTAXES or any(tag in tags for tag in _LUT_TAGS):
            return None
        photometric = str(tags.get("0028,0004", "")).strip()
        rows, columns = _int(tags, "0028,0010"), _int(tags, "0028,0011")
        samples = _int(tags, "0028,0002") or 1
        allocated, stored = _int(tags, "0028,0100"), _int(tags, "0028,0101")
        if not rows or not columns or allocated is None or stored is None:
            return None
        if photometric in ("MONOCHROME1", "MONOCHROME2") and samples == 1:
            if allocated not in (8, 16) or not 1 <= stored <= allocated:
                return None
        elif photometric == "RGB" and samples == 3:
            if allocated != 8 or stored != 8:
                return None
        else:
            return None
        width = _first_number(tags, "0028,1051")
        center = _first_number(tags, "0028,1050")
        if width is None or center is None or width <= 0:
            center = width = None
        return cls(rows=rows, columns=columns, samples=samples, bits_allocated=allocated,
                   bits_stored=stored, signed=_int(tags, "0028,0103") == 1,
                   planar=samples == 3 and _int(tags, "0028,0006") == 1,
                   inverted=photometric == "MONOCHROME1",
                   slope=_first_number(tags, "0028,1053") or 1.0,
                   intercept=_first_number(tags, "0028,1052") or 0.0,
                   center=center, width=width)

    @property
    def frame_bytes(self) -> int:
        return self.rows * self.columns * self.samples * self.bits_allocated // 8


def render(raw: bytes | memoryview, layout: FrameLayout) -> Image.Image:
    """The frame as Orthanc renders it: mode ``L`` (grey) or ``RGB``, full size."""
    if len(raw) < layout.frame_bytes:
        raise ValueError(f"the frame has {len(raw)} bytes, its tags say {layout.frame_bytes}")
    if layout.samples == 3:
        pixels = np.frombuffer(raw, np.uint8, layout.frame_bytes)
        if layout.planar:
            pixels = pixels.reshape(3, layout.rows, layout.columns).transpose(1, 2, 0)
        return Image.fromarray(np.ascontiguousarray(
            pixels.reshape(layout.rows, layout.columns, 3)), "RGB")
    count = layout.rows * layout.columns
    words = (np.frombuffer(raw, np.dtype("<u2"), count) if layout.bits_allocated == 16
             else np.frombuffer(raw, np.uint8, count))
    # np.take, not table[words]: a third of the time on a 2048 x 2048 frame.
    grey = np.take(grey_levels(layout), words).reshape(layout.rows, layout.columns)
    return Image.fromarray(grey, "L")


def stored_values(layout: FrameLayout) -> np.ndarray:
    """The value each possible word of the frame stands for, indexed by the word (as unsigned).

    Unsigned: the bits above BitsStored dropped. Signed: the whole word, two's
    complement; Orthanc 1.10 does not extend the sign from BitsStored, and
    neither does this, to render what it renders.
    """
    bits = layout.bits_allocated
    words = np.arange(1 << bits, dtype=np.int64)
    if layout.signed:
        return np.where(words >= 1 << (bits - 1), words - (1 << bits), words)
    return words & ((1 << layout.bits_stored) - 1)


def grey_levels(layout: FrameLayout) -> np.ndarray:
    """The 0..255 grey level of each possible word: a table of at most 65,536 entries.

    Computing it is cheap; indexing it is one pass over the frame, instead of
    float arithmetic on every pixel of a 2,000-pixel-a-side image.
    """
    levels = stored_values(layout).astype(np.float64) * layout.slope + layout.intercept
    if layout.center is None or layout.width is None:
        # No window: Orthanc 1.10 takes the whole range BitsStored can hold.
        center, width = float(1 << (layout.bits_stored - 1)), float(1 << layout.bits_stored)
    else:
        center, width = layout.center, layout.width
    table = np.clip(np.floor((levels - center + width / 2) * 255 / width), 0, 255)
    grey = table.astype(np.uint8)
    return 255 - grey if layout.inverted else grey
