"""runtime.registry.invoke: how a recorded handler runs is decided once, when it is bound."""

from __future__ import annotations

from typing import Any

from runtime import offload
from runtime.enums import ChangeType, ResourceType
from runtime.events import Change, StoredInstance
from runtime.http import Request, Response
from runtime.registry import Registry, invoke


def hello(request: Request) -> dict[str, str]:
    return {"hello": request.path}


@offload(timeout=7)
def heavy(request: Request) -> dict[str, str]:
    return {"heavy": request.path}


def official(output: Any, url: str, **request: Any) -> None:
    raise AssertionError("an adapter decides how an official-style callback is called")


class RecordingExecutor:
    """Stands for the session's Executor: records what would go to a worker."""

    def __init__(self) -> None:
        self.sent: list[tuple[Any, ...]] = []

    def run_route(self, *args: Any) -> Response:
        self.sent.append(args)
        return Response("w")

    def submit_event(self, handler: Any, event: Any, timeout: float | None) -> None:
        self.sent.append((handler, event, timeout))


def binder() -> invoke.Binder:
    return invoke.Binder(RecordingExecutor(), invoke.KeptBytes())  # type: ignore[arg-type]


def test_a_record_is_bound_inline_offloaded_or_through_its_adapter():
    binding = binder()
    sent = binding.executor.sent  # type: ignore[attr-defined]
    handlers = Registry()
    inline = handlers.add_route("/a", hello, ["GET"]).by_method["GET"]
    offloaded = handlers.add_route("/b", heavy, ["GET"]).by_method["GET"]
    adapted = handlers.add_route("/c", official, None, style="compat",
                                 adapter=lambda entry: lambda *args: ("adapted", entry.name))
    glue = lambda entry, run: run  # noqa: E731  (the callback's glue: here, none)
    for entry in (inline, offloaded, adapted.any_method):
        assert entry is not None
        binding.bind(entry, "route", glue)
    request = Request("GET", "/x")
    assert inline.invoke(request) == Response({"hello": "/x"}) and sent == []
    assert offloaded.invoke(request) == Response("w")
    assert sent == [(heavy, request, 7)]
    assert adapted.any_method.invoke(request) == ("adapted", adapted.any_method.name)


def test_an_inline_event_answers_a_done_future_with_the_handlers_error():
    handlers = Registry()

    def broken(change: Change) -> None:
        raise ValueError("broken")

    listener = handlers.add_change_listener(broken)
    binder().bind(listener, "event")
    future = listener.invoke(Change(ChangeType.NEW_STUDY, ResourceType.STUDY, "x"))
    assert future.done() and isinstance(future.exception(), ValueError)


def test_an_offloaded_stored_instance_handler_gets_the_bytes_kept_at_ingest():
    binding = binder()
    kept = binding.kept
    handlers = Registry()
    inline = handlers.add_stored_listener(lambda instance: None)
    offloaded = handlers.add_stored_listener(offload(lambda instance: None))
    official = handlers.add_stored_listener(lambda dicom, id: None, style="compat",
                                            adapter=lambda entry: lambda dicom, id: "ingest")
    binding.bind_stored(handlers.stored_listeners)
    assert inline.on_ingest is None and inline.invoke is not None
    assert official.invoke is None and official.on_ingest(None, "x") == "ingest"
    assert offloaded.on_ingest == kept.keep and kept.readers == 1
    kept.put("i1", b"DICM")
    offloaded.invoke(StoredInstance("i1", 3))
    offloaded.invoke(StoredInstance("i2", 4))  # not kept (a change read again after a restart)
    first, second = [event for _, event, _ in binding.executor.sent]  # type: ignore[attr-defined]
    assert (first.id, first.seq, first._cache) == ("i1", 3, {"data": b"DICM"})
    assert (second.id, second._cache) == ("i2", {})
    assert kept.size == 0


def test_kept_bytes_wait_for_every_reader_and_the_oldest_go_past_the_limit():
    kept = invoke.KeptBytes(limit=10)
    kept.readers = 2
    kept.put("a", b"aaaa")
    assert kept.take("a") == b"aaaa" and kept.size == 4  # one reader left
    assert kept.take("a") == b"aaaa" and kept.size == 0 and kept.take("a") is None
    kept.put("b", b"bbbb")
    kept.put("c", b"cccc")
    kept.put("d", b"dddd")  # 12 bytes > 10: b goes
    assert kept.take("b") is None and kept.dropped == 1 and kept.size == 8
    kept.put("e", b"e" * 11)  # larger than the limit: never kept
    assert kept.take("e") is None and kept.size == 8


def test_a_stored_instance_with_its_bytes_pickles_them_out_of_band():
    import pickle

    instance = StoredInstance("i", 5, {"data": b"x" * 100})
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(instance, protocol=5, buffer_callback=buffers.append)
    assert len(buffers) == 1 and b"x" * 100 not in data
    back = pickle.loads(data, buffers=[bytes(b.raw()) for b in buffers])
    assert (back.id, back.seq, back.data) == ("i", 5, b"x" * 100)
    assert pickle.loads(pickle.dumps(StoredInstance("j"))).id == "j"


def test_kept_bytes_wait_for_an_ingest_that_comes_a_moment_later():
    import threading
    import time

    from runtime.registry.invoke import KeptBytes

    kept = KeptBytes()
    kept.wait_for("a", 5)  # no offloaded reader: returns at once
    kept.readers = 1
    threading.Timer(0.05, kept.put, ("a", b"dicom")).start()
    started = time.monotonic()
    kept.wait_for("a", 5)
    assert time.monotonic() - started < 2 and kept.take("a") == b"dicom"
    started = time.monotonic()
    kept.wait_for("never", 0.1)  # bounded
    assert 0.09 <= time.monotonic() - started < 1
