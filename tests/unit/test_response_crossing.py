"""A route's Response crosses the pool whole, its large body in shared memory, out of band."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from typing import Any

import pool_tasks as tasks
import pytest
from pool_tasks import MB, PoolFactory, assert_healthy, pool_factory

from pool.channel import Channel
from pool.messages import ShmFrame
from runtime.backends.tasks import HandlerRef, run_route
from runtime.http import OUT_OF_BAND_BODY, Request, Response

pytestmark = pytest.mark.slow

BODY = 32 * MB


@pytest.fixture
def make_pool() -> Iterator[PoolFactory]:
    with pool_factory() as factory:
        yield factory


def test_a_32_mb_response_crosses_whole_with_its_body_in_shared_memory(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames: list[ShmFrame] = []
    read_segment = Channel._read_segment

    def recorded(self: Channel, frame: ShmFrame) -> Any:
        frames.append(frame)
        return read_segment(self, frame)

    monkeypatch.setattr(Channel, "_read_segment", recorded)  # the master reads the answers
    pool = make_pool(workers=1)
    request = Request("GET", f"/big/{BODY}", params={"size": BODY})
    answer = pool.run(run_route, (HandlerRef.of(tasks.big_response), request))
    assert type(answer) is Response
    assert answer == Response(tasks.pattern(BODY, 9), 201, "application/dicom",
                              {"X-Size": str(BODY)})
    # One frame: the small pickle of the Response on the pipe, its body alone in the segment.
    (frame,) = frames
    assert frame.pickled is not None and len(frame.pickled) < 1024
    assert frame.buffers == ((0, BODY),)
    assert_healthy(pool)


def test_a_response_pickles_its_large_body_out_of_band_and_a_small_one_in_band() -> None:
    large = Response(b"x" * OUT_OF_BAND_BODY, headers={"X-A": "1"})
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(large, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1 and len(data) < 1024
    assert pickle.loads(data, buffers=[bytes(b.raw()) for b in buffers]) == large
    assert pickle.loads(data, buffers=[memoryview(bytes(b.raw())) for b in buffers]) == large
    assert pickle.loads(pickle.dumps(large, protocol=5)) == large  # no callback: in band
    assert pickle.loads(pickle.dumps(large, protocol=4)) == large
    small = Response({"a": 1}, status=404)
    buffers.clear()
    assert pickle.loads(pickle.dumps(small, protocol=5, buffer_callback=buffers.append)) == small
    assert buffers == []
