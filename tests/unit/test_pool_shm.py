"""Large buffers cross in shared memory, both ways, and no segment outlives its worker."""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pool_tasks as tasks
import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pool_tasks import MB, PoolFactory, assert_healthy, pool_factory

from pool import SHM_THRESHOLD
from pool.channel import Channel
from pool.messages import Call, Result, Task
from pool.shm import (
    LARGE_SEGMENT,
    SHM_DIR,
    OutSegment,
    create_segment,
    remove_stale_segments,
    segment_prefix,
)

BIG = 4 * MB  # large enough for shared memory, small enough for a reused segment
HUGE = 200 * MB


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    with pool_factory() as factory:
        yield factory


def segments(direction: str) -> list[str]:
    return [name for name in tasks.our_segments() if f"-{direction}-" in name]


def size_of(name: str) -> int:
    return os.path.getsize(os.path.join(SHM_DIR, name))


def test_large_arguments_go_through_shared_memory(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    data = tasks.pattern(BIG, 1)
    other = bytearray(tasks.pattern(BIG, 2))
    view = memoryview(tasks.pattern(SHM_THRESHOLD, 3))
    described = pool.run(tasks.describe, (data, view), {"other": other})
    assert described == [
        ("bytes", BIG, tasks.digest(data)),
        ("bytes", SHM_THRESHOLD, tasks.digest(view)),  # a memoryview arrives as bytes
        ("bytearray", BIG, tasks.digest(other)),
    ]
    (m2w,) = segments("m2w")
    assert size_of(m2w) >= 2 * BIG + SHM_THRESHOLD
    assert segments("w2m") == []  # the answer was small: it took the pipe
    assert_healthy(pool)


def test_large_results_go_through_shared_memory(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    data = pool.run(tasks.make, (BIG,))
    assert type(data) is bytes and data == tasks.pattern(BIG, 7)
    array = pool.run(tasks.make, (BIG, "bytearray"))
    assert type(array) is bytearray and array == data
    first, second, small = pool.run(tasks.make_tuple, (BIG,))
    assert (first, second, small) == (tasks.pattern(BIG, 1), tasks.pattern(BIG, 2), 3)
    (w2m,) = segments("w2m")
    assert size_of(w2m) >= 2 * BIG
    assert segments("m2w") == []
    assert_healthy(pool)


def test_large_calls_back_go_through_shared_memory(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, master_functions={"describe": tasks.describe, "make": tasks.make})
    (described,) = pool.run(tasks.send_big_to_master, (BIG,))
    assert described == ("bytes", BIG, tasks.digest(tasks.pattern(BIG, 5)))
    size, digest, _ = pool.run(tasks.fetch_big_from_master, (BIG,))
    assert (size, digest) == (BIG, tasks.digest(tasks.pattern(BIG, 7)))
    assert len(segments("m2w")) == 1 and len(segments("w2m")) == 1
    assert_healthy(pool)


def test_a_large_pickle_goes_through_shared_memory(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    count = 400_000  # pickles to more than SHM_THRESHOLD
    assert pool.run(tasks.sum_list, (list(range(count)),)) == sum(range(count))
    assert len(segments("m2w")) == 1 and segments("w2m") == []
    assert pool.run(tasks.make_list_of_ints, (count,)) == list(range(count))
    assert len(segments("w2m")) == 1
    assert_healthy(pool)


def test_an_objects_out_of_band_buffers_cross_in_shared_memory(make_pool: PoolFactory) -> None:
    # The pool knows nothing of the object: it carries whatever pickle hands out of band.
    pool = make_pool(workers=1)
    big, small = pool.run(tasks.make_blobs, (BIG,))
    assert big == tasks.Blob(tasks.pattern(BIG, 4)) and small == tasks.Blob(b"small")
    (w2m,) = segments("w2m")
    assert size_of(w2m) >= BIG
    assert_healthy(pool)


def test_messages_under_the_threshold_take_the_pipe(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    data = tasks.pattern(SHM_THRESHOLD // 2)
    assert pool.run(tasks.describe, (data,)) == [("bytes", len(data), tasks.digest(data))]
    assert tasks.our_segments() == []
    assert_healthy(pool)


def test_grown_segments_are_reused_and_the_old_one_unlinked(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    pool.run(tasks.describe, (tasks.pattern(2 * MB),))
    (first,) = segments("m2w")
    pool.run(tasks.describe, (tasks.pattern(9 * MB),))
    (grown,) = segments("m2w")
    assert grown != first and size_of(grown) >= 9 * MB
    pool.run(tasks.describe, (tasks.pattern(3 * MB),))
    assert segments("m2w") == [grown]
    assert_healthy(pool)


def test_segment_names_are_random_exclusive_and_private() -> None:
    prefix = segment_prefix(os.getpid(), 999_998, "m2w")
    names = []
    try:
        for _ in range(2):
            name, fd = create_segment(prefix, SHM_THRESHOLD)
            os.close(fd)
            names.append(name)
            stat = os.stat(os.path.join(SHM_DIR, name))
            assert stat.st_mode & 0o777 == 0o600 and stat.st_size == SHM_THRESHOLD
            suffix = name.removeprefix(prefix + "-")
            assert len(suffix) == 32 and int(suffix, 16) >= 0
        assert names[0] != names[1]
    finally:
        for name in names:
            os.unlink(os.path.join(SHM_DIR, name))


def test_a_taken_name_is_retried_under_another(monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = segment_prefix(os.getpid(), 999_997, "w2m")
    taken = os.path.join(SHM_DIR, f"{prefix}-{'a' * 32}")
    with open(taken, "wb") as file:
        file.write(b"someone else's")
    tokens = iter(["a" * 32, "b" * 32])
    monkeypatch.setattr("pool.shm.secrets.token_hex", lambda n: next(tokens))
    try:
        name, fd = create_segment(prefix, SHM_THRESHOLD)
        os.close(fd)
        assert name == f"{prefix}-{'b' * 32}"
        with open(taken, "rb") as file:
            assert file.read() == b"someone else's"  # not truncated, not reused
        os.unlink(os.path.join(SHM_DIR, name))
    finally:
        os.unlink(taken)


def rss_mb(pid: int | None = None) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


def test_a_huge_transfer_leaves_no_large_segment_nor_memory_behind(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, master_functions={"make": tasks.make})
    worker = pool.run(tasks.getpid)
    pool.run(tasks.make, (2 * MB,))  # a small segment each way, kept
    pool.run(tasks.describe, (tasks.pattern(2 * MB),))
    master_before, worker_before = rss_mb(), rss_mb(worker)
    data = pool.run(tasks.make, (HUGE,))
    assert len(data) == HUGE and data[:4] == tasks.pattern(4, 7)
    master_peak = rss_mb()
    assert pool.run(tasks.describe, (data,))[0][1] == HUGE  # and the other way
    del data
    (size, _, _) = pool.run(tasks.fetch_big_from_master, (HUGE,))  # a call back, both ways
    assert size == HUGE
    footprint = sum(size_of(name) for name in tasks.our_segments()) / MB
    master_after, worker_after = rss_mb(), rss_mb(worker)
    print(f"\nafter 200 MB each way: /dev/shm {footprint:.0f} MB in "
          f"{len(tasks.our_segments())} segments; master RSS {master_before:.0f} -> "
          f"{master_peak:.0f} (holding the answer) -> {master_after:.0f} MB; worker RSS "
          f"{worker_before:.0f} -> {worker_after:.0f} MB")
    assert footprint < 32
    assert all(size_of(name) <= LARGE_SEGMENT for name in tasks.our_segments())
    assert master_after < master_before + 32
    assert worker_after < worker_before + 32
    assert pool.run(tasks.worker_mappings) == []  # nothing of /dev/shm left mapped but unlinked
    assert_healthy(pool)


def test_names_taken_in_advance_by_another_user_do_not_stop_transfers(
    make_pool: PoolFactory,
) -> None:
    # The old scheme's next names (pid, serial, direction, generation), and a few
    # random-looking ones, created first by another user (nobody), as an attacker would.
    master = os.getpid()
    squatted = [f"ortpool-{master}-{serial}-{direction}-{generation}"
                for serial in range(1, 9) for direction in ("m2w", "w2m")
                for generation in range(1, 9)]
    squatted += [f"ortpool-{master}-{serial}-m2w-{os.urandom(16).hex()}" for serial in range(1, 9)]
    script = ("import os, sys\nos.setgid(65534); os.setuid(65534)\n"
              "for name in sys.argv[1:]:\n"
              "    os.close(os.open('/dev/shm/' + name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))")
    subprocess.run([sys.executable, "-c", script, *squatted], check=True)
    try:
        pool = make_pool(workers=2, master_functions={"make": tasks.make})
        for size in (2 * MB, 40 * MB, 2 * MB):
            for _ in range(3):
                assert pool.run(tasks.describe, (tasks.pattern(size),))[0][1] == size
                assert len(pool.run(tasks.make, (size,))) == size
                assert pool.run(tasks.fetch_big_from_master, (size,))[0] == size
        assert pool.status()["tasks"]["crashed"] == 0 and pool.status()["tasks"]["failed"] == 0
        assert_healthy(pool)
        left = [name for name in squatted if os.path.exists(os.path.join(SHM_DIR, name))]
        assert left == squatted  # another user's files are not ours to remove
    finally:
        for name in squatted:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(SHM_DIR, name))


def test_segments_of_a_crashed_worker_are_removed(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, master_functions={"make": tasks.make})
    pool.run(tasks.fetch_big_from_master, (2 * MB,))
    pool.run(tasks.make, (2 * MB,))
    assert len(tasks.our_segments()) == 2
    with pytest.raises(Exception, match="SIGKILL"):
        pool.run(tasks.die, ("sigkill",))
    assert_healthy(pool)
    assert tasks.our_segments() == []


def test_stale_segments_of_dead_masters_are_removed_if_they_are_ours() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = os.path.join(SHM_DIR, f"ortpool-{dead.pid}-1-w2m-{'c' * 32}")
    old_format = os.path.join(SHM_DIR, f"ortpool-{dead.pid}-1-w2m-3")
    others = os.path.join(SHM_DIR, f"ortpool-{dead.pid}-2-w2m-{'d' * 32}")
    live = os.path.join(SHM_DIR, f"ortpool-{os.getpid()}-999999-w2m-{'e' * 32}")
    paths = (stale, old_format, others, live)
    for path in paths:
        with open(path, "wb") as file:
            file.write(b"x")
    os.chown(others, 65534, 65534)  # another user's (nobody)
    try:
        removed = remove_stale_segments()
        assert sorted(removed) == sorted([os.path.basename(stale), os.path.basename(old_format)])
        assert not os.path.exists(stale) and not os.path.exists(old_format)
        assert os.path.exists(others) and os.path.exists(live)
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)


# -- the channel alone, both ends in this process --


class ChannelPair:
    def __init__(self) -> None:
        left, right = multiprocessing.Pipe(duplex=True)
        self.sender = Channel(left, segment_prefix(os.getpid(), 999_999, "m2w"))
        self.receiver = Channel(right, segment_prefix(os.getpid(), 999_999, "w2m"))

    def roundtrip(self, msg: Any) -> Any:
        received: list[Any] = []
        reader = threading.Thread(target=lambda: received.append(self.receiver.recv()))
        reader.start()  # a message that takes the pipe may not fit its buffer
        self.sender.send(msg)
        reader.join(60)
        return received[0]

    def close(self) -> None:
        self.sender.close()
        self.receiver.close()


@pytest.fixture
def pair() -> Iterator[ChannelPair]:
    channels = ChannelPair()
    yield channels
    channels.close()
    assert tasks.our_segments() == []


sizes = st.sampled_from([0, 10, SHM_THRESHOLD - 1, SHM_THRESHOLD, SHM_THRESHOLD + 1, 3 * MB])
buffers = st.builds(
    lambda size, kind: kind(tasks.pattern(size, size % 7)),
    sizes,
    st.sampled_from([bytes, bytearray, memoryview]),
)
items = st.one_of(buffers, st.integers(), st.text(max_size=5), st.none())


def expected(value: Any) -> Any:
    return value.tobytes() if type(value) is memoryview else value


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(args=st.lists(items, max_size=3), kwargs=st.dictionaries(st.sampled_from("abc"), items))
def test_channel_carries_arguments_exactly(
    pair: ChannelPair, args: list[Any], kwargs: dict[str, Any]
) -> None:
    for message in (Task(1, tasks.add, tuple(args), kwargs), Call(2, "f", tuple(args), kwargs)):
        got = pair.roundtrip(message)
        assert type(got) is type(message)
        assert [(type(v), v) for v in got.args] == [(type(expected(v)), expected(v)) for v in args]
        assert {k: (type(v), v) for k, v in got.kwargs.items()} == {
            k: (type(expected(v)), expected(v)) for k, v in kwargs.items()
        }


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.one_of(items, st.lists(items, max_size=3), st.lists(items, max_size=3).map(tuple)))
def test_channel_carries_results_exactly(pair: ChannelPair, value: Any) -> None:
    got = pair.roundtrip(Result(3, value, 0)).value
    if isinstance(value, (list, tuple)):
        assert type(got) is type(value)
        assert [(type(v), v) for v in got] == [(type(expected(v)), expected(v)) for v in value]
    else:
        assert type(got) is type(expected(value)) and got == expected(value)


def test_channel_moves_large_out_of_band_buffers_to_the_segment_and_leaves_small_ones(
    pair: ChannelPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    write = Channel._write

    def counted(self: Channel, data: bytes) -> None:
        written.append(len(data))
        write(self, data)

    monkeypatch.setattr(Channel, "_write", counted)
    value = [tasks.Blob(tasks.pattern(3 * MB, 1)), tasks.Blob(tasks.pattern(SHM_THRESHOLD // 2)),
             tasks.Blob(tasks.pattern(SHM_THRESHOLD, 2))]
    got = pair.roundtrip(Result(5, {"nested": (value,)}, 0))
    assert got.value == {"nested": (value,)}
    # The two large buffers went to the segment; the small one, in the pickle, took the pipe.
    (frame_size,) = written
    assert SHM_THRESHOLD // 2 < frame_size < SHM_THRESHOLD // 2 + 4096
    written.clear()
    assert pair.roundtrip(Result(6, tasks.Blob(b"x"), 0)).value == tasks.Blob(b"x")
    assert written[0] < 200 and tasks.our_segments() == [pair.sender._out.name]


def test_channel_falls_back_to_the_pipe_when_shm_is_full(
    pair: ChannelPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: OutSegment, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(OutSegment, "reserve", full)
    data = tasks.pattern(3 * MB)
    got = pair.roundtrip(Result(4, (data, memoryview(data), tasks.Blob(data)), 0))
    assert got.value == (data, data, tasks.Blob(data))
    assert tasks.our_segments() == []
