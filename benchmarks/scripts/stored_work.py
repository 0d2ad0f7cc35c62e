"""P12's work on each stored instance, the same in every configuration (written by this project).

What a researcher's quality check does with each instance as it arrives: parse the whole
file with pydicom, walk every element (sequences included) so that each value is decoded,
decode the pixel data to a numpy array and take its statistics (mean, standard deviation,
the 2nd and 98th percentiles, a window a viewer would pick), then record the outcome as a
JSON file named after the instance in the folder the configuration's ``BenchStoredFolder``
names. The benchmark counts those files to know when every instance has been handled.

The official plugin's script (``official_stored.py``) and ours (``ours_stored_offload.py``,
``ours_stored_inline.py``) import this module from their folder; it imports neither plugin.
"""

import io
import json
import os

import numpy
import pydicom


def analyse(data: bytes) -> dict:
    dataset = pydicom.dcmread(io.BytesIO(data))
    elements = 0
    for element in dataset.iterall():
        element.value  # noqa: B018 (decodes a raw element's value)
        elements += 1
    pixels = dataset.pixel_array.astype(numpy.float64)
    low, high = numpy.percentile(pixels, [2, 98])
    return {"elements": elements, "shape": list(pixels.shape), "mean": float(pixels.mean()),
            "std": float(pixels.std()), "p2": float(low), "p98": float(high),
            "modality": str(dataset.get("Modality", ""))}


def record(folder: str, instance_id: str, data: bytes, work: bool = True) -> None:
    """Analyses ``data`` and writes ``<folder>/<instance_id>.json`` (whole, by a rename);
    with ``work`` false, only the size (P12's measure of the event path alone)."""
    outcome = analyse(data) if work else {}
    outcome["size"] = len(data)
    partial = os.path.join(folder, f".{instance_id}.{os.getpid()}")
    with open(partial, "w") as stream:
        json.dump(outcome, stream)
    os.replace(partial, os.path.join(folder, f"{instance_id}.json"))
