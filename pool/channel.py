"""One end of a worker's channel: the pipe, plus shared memory for large buffers.

``send`` pickles a message and writes it to the pipe; ``recv`` reads and
unpickles one. On the way, large buffers leave the pickle::

    send(Task(7, fn, (big, 3), {"x": big2}))
      |  big buffers at payload positions -> written to our OutSegment
      |  message with ShmBuffer(offset, size, kind) in their place -> pickled
      |  pickle > SHM_THRESHOLD -> written to the OutSegment too
      v
    pipe: ShmFrame(segment name, small pickle or None, offset, size)
      |
    recv: map the peer's segment (InSegment), unpickle, copy each buffer out
      v
    Task(7, fn, (big, 3), {"x": big2})

Payload positions are where user data sits at the top of a message: each task
or call argument and keyword value, and a result or reply value together with
the items of a tuple or list that is the value. There a ``bytes``,
``bytearray`` or ``memoryview`` of ``SHM_THRESHOLD`` bytes or more travels out
of band (a memoryview arrives as ``bytes``; a small one is converted too,
since memoryviews do not pickle). Anything else large travels in the pickle,
and a pickle over the threshold travels in the segment.

Any object may also hand its large buffers over out of band, as pickle
protocol 5 allows: its ``__reduce_ex__`` returns a ``pickle.PickleBuffer``
(runtime.http.Response does so with its body, wherever it sits in the
message). A PickleBuffer of ``SHM_THRESHOLD`` bytes or more is written to the
segment instead of the pickle; ``ShmFrame.buffers`` lists where, in order, and
the receiver hands them back to ``pickle.loads`` as ``bytes``. A smaller one
stays in the pickle. The pool knows nothing of the objects that do this.

A small message costs a look at its payload positions, one ``pickle.dumps`` and
one write; reading it, two reads and one ``pickle.loads``. If /dev/shm is full, the message falls
back to the pipe. A message that needed a large segment leaves none behind:
the sender unmaps it once sent, the receiver unlinks and unmaps it once read
(``ShmFrame.single_use``, see ``pool.shm``).
"""

from __future__ import annotations

import os
import pickle
import struct
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from pool.messages import (
    BYTEARRAY,
    BYTES,
    Call,
    Failure,
    Message,
    Ready,
    Reply,
    ReplyError,
    Result,
    ShmBuffer,
    ShmFrame,
    StartFailed,
    Stop,
    Task,
)
from pool.shm import SHM_THRESHOLD, InSegment, OutSegment, is_out_of_space

# The frame of multiprocessing.Connection, whose pipes these are: a signed big-endian
# length, then the bytes. Written and read here directly: a message crosses in one
# write and two reads, without Connection's layers of Python.
_HEADER = struct.Struct("!i")
_RAW_HEADER = struct.Struct("!I")
RAW_FLAG = 0x80000000
"""The top bit of a frame's length word: the frame is raw bytes, not a pickle."""


class RawFrame(NamedTuple):
    """Bytes that are not a pickle: a request or an answer in a format of the pool's user
    (orthanc-runtime's fast path writes them from C++), which a worker hands to its raw
    handler (:func:`pool.worker.set_raw_handler`)."""

    data: bytes


_BUFFER_TYPES = frozenset((bytes, bytearray, memoryview))
_ALIGN = 64

# On the pipe a message is a plain tuple, its kind's number first: pickle writes and
# reads a tuple several times faster than a NamedTuple, which it rebuilds by its class.
_KINDS: tuple[type[Any], ...] = (Task, Result, Failure, Call, Reply, ReplyError, Stop,
                                 ShmFrame, Ready, StartFailed)
_NUMBERS = {kind: number for number, kind in enumerate(_KINDS)}


def _dumps(msg: Any, pending: _Pending | None = None) -> bytes:
    """The pickle of ``msg``; with ``pending``, its large out-of-band buffers go there."""
    return pickle.dumps((_NUMBERS[type(msg)], *msg), protocol=pickle.HIGHEST_PROTOCOL,
                        buffer_callback=None if pending is None else pending.out_of_band)


def _loads(data: Any, buffers: list[bytes] | None = None) -> Any:
    number, *fields = pickle.loads(data, buffers=buffers)
    return _KINDS[number]._make(fields)


class _Pending:
    """Big buffers of one outgoing message, with their offsets in the segment.

    ``oob`` lists (offset, size) of the out-of-band buffers, in the order the
    pickle refers to them."""

    __slots__ = ("buffers", "end", "oob")

    def __init__(self) -> None:
        self.buffers: list[tuple[int, Any]] = []
        self.end = 0
        self.oob: list[tuple[int, int]] = []

    def _place(self, data: Any, size: int) -> int:
        offset = self.end
        self.buffers.append((offset, data))
        self.end = (offset + size + _ALIGN - 1) // _ALIGN * _ALIGN
        return offset

    def add(self, data: Any, size: int, kind: int) -> ShmBuffer:
        return ShmBuffer(self._place(data, size), size, kind)

    def out_of_band(self, buffer: pickle.PickleBuffer) -> bool:
        """pickle's buffer_callback: False takes a large buffer out of the pickle (to the
        segment); True leaves a small one in it."""
        try:
            raw = buffer.raw()
        except BufferError:  # not contiguous: pickle copies it in band
            return True
        if raw.nbytes < SHM_THRESHOLD:
            return True
        self.oob.append((self._place(raw, raw.nbytes), raw.nbytes))
        return False


def _pack_one(value: Any, pending: _Pending | None) -> Any:
    """Replace a big buffer by a ShmBuffer (or a memoryview by bytes); else return it as is."""
    kind = type(value)
    if kind not in _BUFFER_TYPES:
        return value
    if kind is memoryview:
        if not value.c_contiguous:
            value = value.tobytes()
        size = value.nbytes if type(value) is memoryview else len(value)
        if pending is None or size < SHM_THRESHOLD:
            return value.tobytes() if type(value) is memoryview else value
        return pending.add(value, size, BYTES)
    if pending is None or len(value) < SHM_THRESHOLD:
        return value
    return pending.add(value, len(value), BYTEARRAY if kind is bytearray else BYTES)


def _map_items(items: Any, fn: Any, arg: Any) -> Any:
    """``items`` with ``fn(item, arg)`` applied, or ``items`` itself if nothing changed."""
    changed = None
    for index, item in enumerate(items):
        new = fn(item, arg)
        if new is not item:
            if changed is None:
                changed = list(items)
            changed[index] = new
    if changed is None:
        return items
    return changed if type(items) is list else tuple(changed)


def _map_values(mapping: dict[str, Any], fn: Any, arg: Any) -> dict[str, Any]:
    changed = None
    for key, item in mapping.items():
        new = fn(item, arg)
        if new is not item:
            if changed is None:
                changed = dict(mapping)
            changed[key] = new
    return mapping if changed is None else changed


def _map_value(value: Any, fn: Any, arg: Any) -> Any:
    kind = type(value)
    if kind is tuple or kind is list:
        return _map_items(value, fn, arg)
    return fn(value, arg)


def _needs_care(msg: Message) -> bool:
    """Whether a payload position of ``msg`` holds a memoryview or a large buffer."""
    kind = type(msg)
    if kind is Task or kind is Call:
        values: Any = msg.args  # type: ignore[union-attr]
        kwargs = msg.kwargs  # type: ignore[union-attr]
        if kwargs:
            values = (*values, *kwargs.values())
    elif kind is Result or kind is Reply:
        value = msg.value  # type: ignore[union-attr]
        values = value if type(value) is tuple or type(value) is list else (value,)
    else:
        return False
    for value in values:
        kind = type(value)
        if kind is memoryview or ((kind is bytes or kind is bytearray)
                                  and len(value) >= SHM_THRESHOLD):
            return True
    return False


def _map_payload(msg: Message, fn: Any, arg: Any) -> Message:
    """Apply ``fn(item, arg)`` at every payload position of ``msg``."""
    if isinstance(msg, (Task, Call)):
        args = _map_items(msg.args, fn, arg)
        kwargs = _map_values(msg.kwargs, fn, arg) if msg.kwargs else msg.kwargs
        if args is msg.args and kwargs is msg.kwargs:
            return msg
        return msg._replace(args=args, kwargs=kwargs)
    if isinstance(msg, (Result, Reply)):
        value = _map_value(msg.value, fn, arg)
        return msg if value is msg.value else msg._replace(value=value)
    return msg


def _unpack_one(value: Any, view: memoryview) -> Any:
    if type(value) is not ShmBuffer:
        return value
    part = view[value.offset : value.offset + value.size]
    try:
        return bytearray(part) if value.kind == BYTEARRAY else bytes(part)
    finally:
        part.release()


def _copied(view: memoryview, offset: int, size: int) -> bytes:
    with view[offset : offset + size] as part:
        return bytes(part)


class Channel:
    """A worker's pipe seen from one side, with that side's outgoing segment."""

    def __init__(self, conn: Connection, out_prefix: str) -> None:
        self.conn = conn
        self._fd = conn.fileno()
        self._out = OutSegment(out_prefix)
        self._in = InSegment()

    def fileno(self) -> int:
        return self.conn.fileno()

    def send(self, msg: Message) -> None:
        pending = _Pending()
        packed = _map_payload(msg, _pack_one, pending) if _needs_care(msg) else msg
        data = _dumps(packed, pending)
        if not pending.buffers and len(data) <= SHM_THRESHOLD:
            self._write(data)
            return
        try:
            frame = self._write_segment(pending, data)
        except OSError as error:
            if not is_out_of_space(error):
                raise
            self._write(_dumps(_map_payload(msg, _pack_one, None)))  # every buffer in band
            return
        self._write(_dumps(frame))
        self._out.hand_over()

    def _write(self, data: bytes) -> None:
        fd = self._fd
        framed = _HEADER.pack(len(data)) + data
        written = os.write(fd, framed)
        while written < len(framed):  # a pipe takes a large message in parts
            written += os.write(fd, memoryview(framed)[written:])

    def _read(self, size: int) -> bytes:
        data = os.read(self._fd, size)
        if len(data) == size:
            return data
        parts = [data]
        left = size - len(data)
        while left:
            if not data:
                raise EOFError("the other end of the pipe is closed")
            data = os.read(self._fd, left)
            parts.append(data)
            left -= len(data)
        return b"".join(parts)

    def _write_segment(self, pending: _Pending, data: bytes) -> ShmFrame:
        inline = len(data) <= SHM_THRESHOLD
        self._out.reserve(pending.end + (0 if inline else len(data)))
        for offset, buffer in pending.buffers:
            self._out.write(offset, buffer)
        if not inline:
            self._out.write(pending.end, data)
        assert self._out.name is not None
        return ShmFrame(self._out.name, data if inline else None, pending.end, len(data),
                        self._out.single_use, tuple(pending.oob))

    def send_raw(self, data: bytes) -> None:
        """A frame that is not a pickle (:class:`RawFrame`): its length word has the top bit."""
        fd = self._fd
        framed = _RAW_HEADER.pack(RAW_FLAG | len(data)) + data
        written = os.write(fd, framed)
        while written < len(framed):
            written += os.write(fd, memoryview(framed)[written:])

    def recv(self) -> Message | RawFrame:
        size = _HEADER.unpack(self._read(4))[0]
        if size < 0:  # the top bit: a raw frame
            return RawFrame(self._read(size + RAW_FLAG))
        return self.decode(self._read(size))

    def decode(self, data: bytes) -> Message:
        """A message from the bytes of its frame (after the length word), read elsewhere."""
        msg = _loads(data)
        if type(msg) is ShmFrame:
            msg = self._read_segment(msg)
        return msg  # type: ignore[no-any-return]

    def _read_segment(self, frame: ShmFrame) -> Message:
        view = self._in.view(frame.segment)
        try:
            # Copied out before loading: the segment is reused by the next message.
            buffers = [_copied(view, offset, size) for offset, size in frame.buffers]
            if frame.pickled is not None:
                msg = _loads(frame.pickled, buffers)
            else:
                with view[frame.offset : frame.offset + frame.size] as part:
                    msg = _loads(part, buffers)
            return _map_payload(msg, _unpack_one, view)
        finally:
            view.release()
            if frame.single_use:
                self._in.close(unlink_it=True)

    def close(self) -> None:
        """Close the pipe, unlink our segment, unmap the peer's."""
        self.conn.close()
        self._out.close()
        self._in.close()
