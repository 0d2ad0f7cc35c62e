"""Large buffers cross in shared memory, both ways, and no segment outlives its worker."""

from __future__ import annotations

import errno
import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pool_tasks as tasks
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pool_tasks import MB, PoolFactory, assert_healthy, pool_factory

from pool import SHM_THRESHOLD
from pool.channel import Channel
from pool.messages import Call, Result, Task
from pool.shm import SHM_DIR, OutSegment, remove_stale_segments, segment_prefix

BIG = 30 * MB


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


def test_messages_under_the_threshold_take_the_pipe(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    data = tasks.pattern(SHM_THRESHOLD // 2)
    assert pool.run(tasks.describe, (data,)) == [("bytes", len(data), tasks.digest(data))]
    assert tasks.our_segments() == []
    assert_healthy(pool)


def test_grown_segments_are_reused_and_the_old_generation_unlinked(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1)
    pool.run(tasks.describe, (tasks.pattern(2 * MB),))
    assert [name.rsplit("-", 1)[1] for name in segments("m2w")] == ["1"]
    pool.run(tasks.describe, (tasks.pattern(9 * MB),))
    pool.run(tasks.describe, (tasks.pattern(3 * MB),))
    (m2w,) = segments("m2w")
    assert m2w.endswith("-2") and size_of(m2w) >= 9 * MB
    assert_healthy(pool)


def test_segments_of_a_crashed_worker_are_removed(make_pool: PoolFactory) -> None:
    pool = make_pool(workers=1, master_functions={"make": tasks.make})
    pool.run(tasks.fetch_big_from_master, (2 * MB,))
    pool.run(tasks.make, (2 * MB,))
    assert len(tasks.our_segments()) == 2
    with pytest.raises(Exception, match="SIGKILL"):
        pool.run(tasks.die, ("sigkill",))
    assert_healthy(pool)
    assert tasks.our_segments() == []


def test_stale_segments_of_dead_masters_are_removed() -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = os.path.join(SHM_DIR, f"ortpool-{dead.pid}-1-w2m-3")
    live = os.path.join(SHM_DIR, f"ortpool-{os.getpid()}-999999-w2m-1")
    for path in (stale, live):
        with open(path, "wb") as file:
            file.write(b"x")
    try:
        removed = remove_stale_segments()
        assert os.path.basename(stale) in removed
        assert not os.path.exists(stale) and os.path.exists(live)
    finally:
        for path in (stale, live):
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


def test_channel_falls_back_to_the_pipe_when_shm_is_full(
    pair: ChannelPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: OutSegment, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(OutSegment, "reserve", full)
    data = tasks.pattern(3 * MB)
    got = pair.roundtrip(Result(4, (data, memoryview(data)), 0))
    assert got.value == (data, data)
    assert tasks.our_segments() == []
