"""Thumbnails of instances, series and studies, made from the frame's pixels in a worker.

    curl -o t.jpg 'http://localhost:8042/thumbnails/<instance-id>?size=128'
    curl -o t.png 'http://localhost:8042/thumbnails/<instance-id>?size=64&format=png&frame=2'
    curl -o s.jpg  http://localhost:8042/thumbnails/series/<series-id>     # its middle instance
    curl -o s.jpg  http://localhost:8042/thumbnails/studies/<study-id>     # middle of its largest series

Arguments: ``size`` (the longest side, in pixels; default ``DefaultSize``, at
most ``MaxSize``), ``format`` (``jpeg`` or ``png``; default ``DefaultFormat``)
and ``frame`` (default 0 for an instance, the middle frame for a series or a
study). Pillow shrinks the frame with LANCZOS, keeping its aspect: the image
is never larger than ``size`` on either side, and never enlarged.

All the pixel work is in the worker; the master only copies bytes out of
Orthanc. With ``"Pixels": "raw"`` (the default) the worker reads the frame's
raw bytes (a single-frame instance's file, which pydicom parses here; of a
multi-frame instance, ``/frames/{frame}/raw``: a copy, no decoding) and
windows them as Orthanc's ``/rendered`` would (``recipes/pixels.py``); frames
it does not handle (compressed, big endian, YBR, palette...) are rendered by
Orthanc at four times the thumbnail's size (``/rendered?width=``), as with
``"Pixels": "scaled"``, where Orthanc's decoders take any transfer syntax they
know. ``"Pixels": "full"``, and ``"Rendering": "preview"`` (``/preview``
stretches the whole range), have Orthanc render the whole frame at full size:
on a 2048 x 2048 radiograph that is about 300 ms of the master's CPU, where
handing the file over costs it about 16 ms (benchmark P8).
``X-Thumbnail-Pixels`` says which way an answer's pixels were made.

Each answer carries an ``ETag`` made of the instance, the frame and the
parameters (a DICOM instance never changes), and ``Cache-Control``; a request
whose ``If-None-Match`` holds that ETag answers 304 without rendering anything.
Bad arguments answer 400 (an identifier must have Orthanc's form: the recipe
builds its calls to Orthanc from checked values only), an unknown instance,
series or study 404, and an instance Orthanc cannot render (no pixel data, a
transfer syntax it has no decoder for) 415, saying why.

Run it alone with ``orthanc-runtime run recipes/thumbnails.py``, or enable it
with ``"PythonRuntime": {"Recipes": {"Thumbnails": {"Enabled": true}}}``.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image
from pydicom.uid import UID

from recipes import path_id, pixels, query_choice, query_int, settings
from runtime import HTTPError, NotFound, OrthancError, Request, Response, offload, route, sdk
from runtime.registry.routing import ORTHANC_ID

CONFIG_KEY = "Thumbnails"

CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}
# Orthanc renders a frame it must render at this many times the thumbnail's
# size, and Pillow shrinks it: by four, the thumbnail differs from one made
# from the full-size rendering by at most 2 of 255 a pixel on average, over
# the files of tests/integration/test_recipes_thumbnails_pixels.py.
SCALED_MARGIN = 4
_FORMATS = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png"}


@dataclass(frozen=True)
class Thumbnail:
    """What a request asks for: the longest side, the format, the frame (None: the default)."""

    size: int
    format: str
    frame: int | None


class Unrenderable(HTTPError):
    """415: the instance exists, but Orthanc cannot render this frame of it."""

    def __init__(self, instance_id: str, reason: str) -> None:
        super().__init__(415, reason, instance=instance_id)


def requested(request: Request, section: dict[str, Any]) -> Thumbnail:
    """The request's arguments, checked (400 when one is wrong)."""
    size = query_int(request, "size", section["DefaultSize"], 1, section["MaxSize"])
    name = query_choice(request, "format", _FORMATS, section["DefaultFormat"])
    frame = None
    if request.query.get("frame", "") != "":
        frame = query_int(request, "frame", 0, 0, 1 << 31)
    return Thumbnail(size, _FORMATS[name], frame)


def _get(uri: str, what: str) -> Any:
    """GET ``uri``; 404 naming ``what`` when Orthanc does not know it."""
    try:
        return sdk.rest_get(uri)
    except OrthancError as error:
        if error.status == 404:
            raise NotFound(f"no {what}") from None
        raise


def _instance_number(instance: dict[str, Any]) -> tuple[int, str]:
    try:
        number = int(instance.get("MainDicomTags", {}).get("InstanceNumber", ""))
    except ValueError:
        number = 1 << 31
    return number, instance["ID"]


def _checked(identifier: Any) -> str:
    """An identifier from Orthanc's own answer, checked before it goes into a URI."""
    if not isinstance(identifier, str) or not ORTHANC_ID.fullmatch(identifier):
        raise ValueError(f"Orthanc answered an identifier of an unknown form: {identifier!r}")
    return identifier


def middle_instance(series_id: str) -> str:
    """The instance in the middle of a series, by InstanceNumber."""
    instances = _get(f"/series/{series_id}/instances", f"series {series_id}")
    if not instances:
        raise NotFound(f"the series {series_id} has no instance")
    ordered = sorted(instances, key=_instance_number)
    return _checked(ordered[len(ordered) // 2]["ID"])


def largest_series(study_id: str) -> str:
    """The series of a study with the most instances (the lowest SeriesNumber on a tie)."""
    series = _get(f"/studies/{study_id}/series", f"study {study_id}")
    if not series:
        raise NotFound(f"the study {study_id} has no series")

    def rank(item: dict[str, Any]) -> tuple[int, int, str]:
        try:
            number = int(item.get("MainDicomTags", {}).get("SeriesNumber", ""))
        except ValueError:
            number = 1 << 31
        return -len(item.get("Instances", [])), number, item["ID"]

    return _checked(min(series, key=rank)["ID"])


def frame_count(instance_id: str) -> int | None:
    """How many frames the instance has, from Orthanc's index (None if it cannot say)."""
    instance = _get(f"/instances/{instance_id}", f"instance {instance_id}")
    raw = instance.get("MainDicomTags", {}).get("NumberOfFrames", "1")
    try:
        count = int(raw)
    except ValueError:
        return None
    return max(count, 1)


def why_unrenderable(instance_id: str) -> str:
    """Why Orthanc cannot render an instance.

    Orthanc gives its plugins no reason when rendering fails (the REST API
    answers a bare 415, an internal call "unknown resource"), so ask it what it
    knows: whether it can read the frames, whether there are pixel data, and
    in which transfer syntax.
    """
    try:
        sdk.rest_get(f"/instances/{instance_id}/frames")
    except OrthancError as error:
        return f"Orthanc cannot read the frames of this instance ({error.message})"
    tags = sdk.rest_get(f"/instances/{instance_id}/content")
    if "7fe0-0010" not in tags:
        return f"this instance has no pixel data ({_uid_name(instance_id, 'SopClassUid')})"
    syntax = _uid_name(instance_id, "TransferSyntax")
    return f"Orthanc has no decoder for the pixel data of this instance (transfer syntax {syntax})"


def _uid_name(instance_id: str, metadata: str) -> str:
    try:
        raw = sdk.rest_get(f"/instances/{instance_id}/metadata/{metadata}")
    except OrthancError:
        return f"unknown {metadata}"
    uid = UID(raw.decode() if isinstance(raw, bytes) else str(raw))
    return f"{uid}, {uid.name}" if uid.name != str(uid) else str(uid)


def etag(instance_id: str, frame: int, wanted: Thumbnail, section: dict[str, Any]) -> str:
    """A strong validator: the same instance, frame and parameters always give the same image."""
    key = "/".join(
        str(part)
        for part in (instance_id, frame, wanted.size, wanted.format, section["Rendering"],
                     section["JpegQuality"], section["Pixels"])
    )
    return '"' + hashlib.sha1(key.encode()).hexdigest() + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [part.strip().removeprefix("W/") for part in if_none_match.split(",")]
    return "*" in candidates or tag in candidates


@dataclass
class Frame:
    """A frame as 8-bit pixels in the worker, its size in the file, and where it was made."""

    image: Image.Image
    size: tuple[int, int]  # columns, rows: what the thumbnail's aspect comes from
    pixels: str            # "raw" (here), "scaled" or "full" (by Orthanc)


def fitted(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """The size Pillow's ``thumbnail`` gives an image of ``size`` to fit ``longest``.

    Computed from the frame's size in the file, not from the image at hand,
    which Orthanc may have scaled: every way of making pixels gives the same size.
    """
    width, height = size
    if longest >= width and longest >= height:
        return size

    def closest(number: float, error: Callable[[int], float]) -> int:
        return max(min(math.floor(number), math.ceil(number), key=error), 1)

    aspect = width / height
    if aspect <= 1:
        return closest(longest * aspect, lambda n: abs(aspect - n / longest)), longest
    return longest, closest(longest / aspect, lambda n: abs(aspect - longest / n) if n else 0)


def encoded(frame: Frame, wanted: Thumbnail, quality: int) -> bytes:
    """The frame shrunk to fit ``wanted.size`` (aspect kept, never enlarged), encoded."""
    image = frame.image
    target = fitted(frame.size, wanted.size)
    if image.size != target:
        # What Image.thumbnail does: a box reduction by an integer factor, then LANCZOS.
        image = image.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)
    out = io.BytesIO()
    if wanted.format == "jpeg":
        if image.mode not in ("L", "RGB"):
            image = image.convert("RGB")
        image.save(out, format="JPEG", quality=quality)
    else:
        image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _rendered(instance_id: str, uri: str) -> Image.Image:
    """Orthanc's rendering at ``uri``, opened; 415 saying why if Orthanc cannot render it."""
    try:
        answer: bytes = sdk.rest_get(uri)
    except OrthancError:
        raise Unrenderable(instance_id, why_unrenderable(instance_id)) from None
    return Image.open(io.BytesIO(answer))


def frame_image(instance_id: str, frame: int, count: int | None, size: int,
                section: dict[str, Any]) -> Frame:
    """The frame as 8-bit pixels, made where ``Pixels`` says, at least ``size`` on its longest side.

    Every way ends in a worker holding the image; what differs is how much of
    the work the master (Orthanc's process) does to hand it over.
    """
    base = f"/instances/{instance_id}/frames/{frame}"
    if section["Rendering"] == "preview" or section["Pixels"] == "full":
        image = _rendered(instance_id, f"{base}/{section['Rendering']}")
        return Frame(image, image.size, "full")
    if section["Pixels"] == "raw":
        made = _from_raw_bytes(instance_id, frame, count)
        if made is not None:
            return made
    tags = _tags(instance_id)
    # Orthanc scales the frame itself (its decoders read every transfer syntax
    # it knows); it would also enlarge a small one, so that one is asked as it is.
    rows, columns = pixels.dimensions(tags)
    target = size * SCALED_MARGIN
    query = ""
    if max(rows, columns) > target:
        query = f"?width={target}" if columns >= rows else f"?height={target}"
    image = _rendered(instance_id, f"{base}/rendered{query}")
    return Frame(image, (columns, rows) if rows and columns else image.size,
                 "scaled" if query else "full")


def _from_raw_bytes(instance_id: str, frame: int, count: int | None) -> Frame | None:
    """The frame windowed here from its raw bytes; None if ``recipes.pixels`` cannot.

    A single-frame instance is read whole (GetDicomForInstance: the master
    only copies the file) and parsed here; of a multi-frame one, only the
    frame is read (``/frames/N/raw``), with the tags.
    """
    syntax = _transfer_syntax(instance_id)
    if syntax not in pixels.RAW_SYNTAXES:
        return None  # compressed or big endian: Orthanc's decoders
    try:
        if count == 1:
            found = pixels.from_file(sdk.get_dicom(instance_id), syntax, frame)
        else:
            layout = pixels.FrameLayout.parse(_tags(instance_id), syntax)
            found = None if layout is None else (layout, sdk.rest_get(
                f"/instances/{instance_id}/frames/{frame}/raw"))
        if found is None:
            return None
        layout, raw = found
        image = pixels.render(raw, layout)
    except Exception:
        # A shortcut only: whatever pydicom or the tags cannot make of the file
        # (a malformed file, a frame shorter than its tags say...) is left to
        # Orthanc's renderer, which renders it or says why not. The tests check
        # which way each kind of file takes (X-Thumbnail-Pixels), so a bug here
        # shows there, not as a silent fallback.
        return None
    return Frame(image, image.size, "raw")


def _tags(instance_id: str) -> dict[str, Any]:
    """The instance's tags (``/tags?short``); empty if Orthanc cannot parse its file."""
    try:
        tags: dict[str, Any] = sdk.rest_get(f"/instances/{instance_id}/tags?short")
    except OrthancError as error:
        if error.status == 404:
            raise NotFound(f"no instance {instance_id}") from None
        return {}  # Orthanc's rendering will fail too, and say why
    return tags


def _transfer_syntax(instance_id: str) -> str:
    try:
        raw = sdk.rest_get(f"/instances/{instance_id}/metadata/TransferSyntax")
    except OrthancError:
        return ""  # unknown: the frame is left to Orthanc's decoders
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def render(request: Request, instance_id: str, wanted: Thumbnail, middle: bool = False) -> Response:
    """The thumbnail of one frame of an instance, or 304 if the client has it already.

    Without a ``frame`` argument, that is the first frame, or with ``middle`` the middle one.
    """
    section = settings(CONFIG_KEY)
    count = frame_count(instance_id)
    frame = wanted.frame
    if frame is None:
        frame = (count or 1) // 2 if middle else 0
    if count is not None and frame >= count:
        raise HTTPError(400, f"frame {frame} is out of range: the instance has {count} frame(s)",
                        parameter="frame", frames=count)
    validator = etag(instance_id, frame, wanted, section)
    headers = {"ETag": validator, "Cache-Control": f"private, max-age={section['CacheMaxAge']}"}
    if _matches(request.headers.get("If-None-Match"), validator):
        return Response(b"", status=304, headers=headers)
    made = frame_image(instance_id, frame, count, wanted.size, section)
    body = encoded(made, wanted, section["JpegQuality"])
    headers["X-Thumbnail-Instance"] = instance_id
    headers["X-Thumbnail-Pixels"] = made.pixels
    return Response(body, content_type=CONTENT_TYPES[wanted.format], headers=headers)


@route("/thumbnails/{instance_id}")
@offload
def instance_thumbnail(request: Request) -> Response:
    """``GET /thumbnails/{instance_id}[?size=&format=&frame=]``."""
    wanted = requested(request, settings(CONFIG_KEY))
    return render(request, path_id(request, "instance_id"), wanted)


@route("/thumbnails/series/{series_id}")
@offload
def series_thumbnail(request: Request) -> Response:
    """``GET /thumbnails/series/{series_id}``: the middle frame of the middle instance."""
    wanted = requested(request, settings(CONFIG_KEY))
    instance_id = middle_instance(path_id(request, "series_id"))
    return render(request, instance_id, wanted, middle=True)


@route("/thumbnails/studies/{study_id}")
@offload
def study_thumbnail(request: Request) -> Response:
    """``GET /thumbnails/studies/{study_id}``: the series thumbnail of its largest series."""
    wanted = requested(request, settings(CONFIG_KEY))
    instance_id = middle_instance(largest_series(path_id(request, "study_id")))
    return render(request, instance_id, wanted, middle=True)
