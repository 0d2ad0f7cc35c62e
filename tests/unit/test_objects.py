"""SDK objects crossing to a worker by value (runtime.sdk.objects), with a stand-in for the binding."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from runtime.sdk import objects


class ImageHandle:
    def __init__(self, fmt: int, width: int, height: int, pitch: int, buffer: bytes) -> None:
        self.fmt, self.width, self.height, self.pitch = fmt, width, height, pitch
        self.buffer = bytearray(buffer)


class FakeNative:
    """The few calls of _orthanc_native that runtime.sdk.objects makes, on plain objects."""

    def __init__(self) -> None:
        self.created = 0

    def CreateImageFromBuffer(self, fmt: int, width: int, height: int, pitch: int,
                              buffer: bytes) -> ImageHandle:
        self.created += 1
        return ImageHandle(fmt, width, height, pitch, buffer)

    def GetImagePixelFormat(self, image: ImageHandle) -> int:
        return image.fmt

    def GetImageWidth(self, image: ImageHandle) -> int:
        return image.width

    def GetImageHeight(self, image: ImageHandle) -> int:
        return image.height

    def GetImagePitch(self, image: ImageHandle) -> int:
        return image.pitch

    def GetImageBuffer(self, image: ImageHandle) -> bytes:
        return bytes(image.buffer)

    def DecodeDicomImage(self, dicom: bytes, frame: int) -> ImageHandle:
        return ImageHandle(1, 2, 2, 2, dicom[:4])

    def DrawText(self, image: ImageHandle, font: int, text: str, *rest: Any) -> None:
        image.buffer[0] = 255  # draws in place, as Orthanc does


def test_an_image_returned_to_a_worker_is_a_picklable_value():
    native = FakeNative()
    value = objects.serve(native, "DecodeDicomImage")(b"\x01\x02\x03\x04rest", 0)
    assert value == objects.ImageValue(1, 2, 2, 2, b"\x01\x02\x03\x04")
    assert pickle.loads(pickle.dumps(value)) == value


def test_a_value_passed_back_is_rebuilt_into_an_sdk_object_for_the_call():
    native = FakeNative()
    value = objects.ImageValue(1, 2, 2, 2, b"\x00\x00\x00\x00")
    assert objects.serve(native, "GetImageWidth")(value) == 2
    assert native.created == 1


def test_drawing_sends_back_the_new_pixels_which_replace_the_workers_copy():
    native = FakeNative()
    value = objects.ImageValue(1, 2, 2, 2, b"\x00\x00\x00\x00")
    result, changed = objects.serve(native, "DrawText")(value, 0, "x", 0, 0, 255, 0, 0)
    assert result is None and changed.buffer == b"\xff\x00\x00\x00"
    objects.update_from(value, changed)
    assert value.buffer == b"\xff\x00\x00\x00"


def test_image_getters_answer_in_the_worker_without_the_master():
    value = objects.ImageValue(7, 3, 2, 9, b"x" * 18)
    assert objects.answer_locally("GetImageWidth", (value,)) == (True, 3)
    assert objects.answer_locally("GetImagePitch", (value,)) == (True, 9)
    assert objects.answer_locally("GetImageBuffer", (value,)) == (True, b"x" * 18)
    assert objects.answer_locally("DrawText", (value,)) == (False, None)
    instance = objects.DicomInstanceValue(b"DICM")
    assert objects.answer_locally("GetInstanceSize", (instance,)) == (True, 4)


def test_a_keys_values_iterator_walks_its_copy_in_the_worker_as_orthancs_does():
    from runtime.errors import OrthancException
    from runtime.sdk.objects import KeysValuesIteratorValue, answer_locally

    iterator = KeysValuesIteratorValue([("a", b"1"), ("b", b"2")])
    assert answer_locally("KeysValuesIteratorGetKey", (iterator,)) == (True, None)  # before Next()
    walked = []
    while answer_locally("KeysValuesIteratorNext", (iterator,))[1]:
        walked.append((answer_locally("KeysValuesIteratorGetKey", (iterator,))[1],
                       answer_locally("KeysValuesIteratorGetValue", (iterator,))[1]))
    assert walked == [("a", b"1"), ("b", b"2")]
    assert answer_locally("KeysValuesIteratorNext", (iterator,)) == (True, False)  # stays at the end
    with pytest.raises(OrthancException) as raised:
        answer_locally("KeysValuesIteratorGetValue", (iterator,))
    assert raised.value.args[0] == 6  # BAD_SEQUENCE_OF_CALLS, as Orthanc 1.13.0 answers
