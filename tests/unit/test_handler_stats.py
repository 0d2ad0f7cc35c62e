"""runtime.handler_stats, and the counting runtime.registry.invoke wraps around each bound run."""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from typing import Any

from runtime import answers
from runtime.enums import ChangeType, ResourceType
from runtime.events import Change
from runtime.handler_stats import BOUNDS, HandlerStats, RecentErrors, quantile_ms
from runtime.http import HTTPError, Request, Response
from runtime.registry import Registry, invoke


def test_latency_goes_into_its_bucket_and_quantiles_read_the_buckets():
    stats = HandlerStats()
    counter = stats.counter("m.h", "route")
    for _ in range(90):
        counter.record(0.0009, False)  # bucket <= 1 ms
    for _ in range(9):
        counter.record(0.02, False)  # <= 25 ms
    counter.record(100.0, True)  # past the last bound
    found = stats.snapshot()["m.h"]
    assert found["requests"] == 100 and found["errors"] == 1
    assert found["buckets"][BOUNDS.index(0.001)] == 90
    assert found["buckets"][BOUNDS.index(0.025)] == 9
    assert found["buckets"][-1] == 1
    assert found["latency_ms"] == {"p50": 1.0, "p90": 1.0, "p99": 25.0}
    assert quantile_ms([0] * (len(BOUNDS) + 1), 0.5) is None


def test_one_counter_per_handler_name_with_a_stable_key():
    stats = HandlerStats()
    first = stats.counter("m.a", "route")
    assert stats.counter("m.a", "route") is first
    assert stats.counter("m.b", "event").key == first.key + 1


def test_batches_from_a_source_add_to_the_counter_of_their_key():
    stats = HandlerStats()
    counter = stats.counter("m.fast", "route")
    buckets = [0] * (len(BOUNDS) + 1)
    buckets[3] = 4

    class Source:
        def __init__(self) -> None:
            self.batches = [[(counter.key, 4, 1, 0.004, buckets)], []]

        def take_handler_stats(self) -> list[Any]:
            return self.batches.pop(0) if self.batches else []

    stats.add_source(Source())
    counter.record(0.5, False)
    assert stats.snapshot()["m.fast"]["requests"] == 5
    assert stats.snapshot()["m.fast"]["errors"] == 1  # a batch is taken once


def test_concurrent_records_are_not_lost():
    counter = HandlerStats().counter("m.h", "route")

    def hammer() -> None:
        for _ in range(20000):
            counter.record(0.001, False)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.snapshot()["requests"] == 80000 == sum(counter.snapshot()["buckets"])


def ok(request: Request) -> dict[str, str]:
    return {"ok": "yes"}


def broken(request: Request) -> None:
    raise RuntimeError("broken")


def refused(request: Request) -> None:
    raise HTTPError(404, "nothing here")


def answers_503(request: Request) -> Response:
    return Response("busy", status=503)


def seen(change: Change) -> None:
    if change.resource_id == "bad":
        raise ValueError("bad change")


def test_bound_runs_count_requests_and_errors():
    stats = HandlerStats()
    binder = invoke.Binder(None, invoke.KeptBytes(), stats)  # type: ignore[arg-type]
    handlers = Registry()
    entries = {f.__name__: handlers.add_route(f"/{f.__name__}", f, ["GET"]).by_method["GET"]
               for f in (ok, broken, refused, answers_503)}
    for entry in entries.values():
        binder.bind(entry, "route", lambda entry, run: run)
    request = Request("GET", "/x")
    for entry in entries.values():
        try:
            entry.invoke(request)
        except Exception:
            pass
    listener = handlers.add_change_listener(seen, None, None)
    binder.bind(listener, "event")
    for resource in ("good", "bad"):
        future: Future[Any] = listener.invoke(Change(ChangeType.NEW_INSTANCE,
                                                     ResourceType.INSTANCE, resource, 1))
        assert future.done()
    found = stats.snapshot()
    name = __name__
    assert found[f"{name}.ok"]["requests"] == 1 and found[f"{name}.ok"]["errors"] == 0
    assert found[f"{name}.broken"]["errors"] == 1
    assert found[f"{name}.refused"]["errors"] == 1  # raised: an error of the handler
    assert found[f"{name}.answers_503"]["errors"] == 1
    assert found[f"{name}.seen"] == {**found[f"{name}.seen"], "kind": "on_change", "requests": 2,
                                     "errors": 1}


def test_handler_errors_are_noted_with_their_id_while_a_ring_is_kept():
    recent = RecentErrors(size=3)
    answers.keep_errors_in(recent)
    try:
        answer = answers.error_to_response(RuntimeError("boom"), "m.h (GET /x)", "/x")
        error_id = json.loads(answer.body)["error_id"]
        (first,) = recent.list()
        assert first["error_id"] == error_id and first["handler"] == "m.h"
        assert first["type"] == "RuntimeError" and first["message"] == "boom"
        for index in range(3):
            answers.log_exception(f"m.other (GET /{index})", KeyError(index), f"id{index}")
    finally:
        answers.keep_errors_in(None)
    answers.log_exception("m.after (GET /)", KeyError(9), "id9")  # no ring kept: not noted
    listed = recent.list()
    assert recent.total == 4 and len(listed) == 3  # the oldest went
    assert [e["error_id"] for e in listed] == ["id2", "id1", "id0"]
    assert listed[0]["handler"] == "m.other" and listed[0]["type"] == "KeyError"


def allow(request: Any) -> bool:
    return True


def refuse_all(request: Any) -> bool:
    raise PermissionError("no")


def find(request: Any) -> list[Any]:
    return []


def test_each_kind_of_handler_is_counted_under_its_name_and_kind():
    stats = HandlerStats()
    binder = invoke.Binder(None, invoke.KeptBytes(), stats)  # type: ignore[arg-type]
    handlers = Registry()
    gates = [handlers.add_http_filter(allow), handlers.add_http_filter(refuse_all)]
    service = handlers.set_dicom_service("find", find)
    cstore = handlers.add_cstore_filter(allow)
    for gate in gates:
        binder.bind(gate, "checked", lambda entry, run: run)
    binder.bind(service, "checked", lambda entry, run: run)
    binder.bind(cstore, "checked", lambda entry, run: run)
    shape = lambda answer, request: answer  # noqa: E731  (the kind's check: here, none)
    assert gates[0].invoke(shape, "r") is True
    try:
        gates[1].invoke(shape, "r")
    except PermissionError:
        pass
    assert service.invoke(shape, "r") == []
    found = stats.snapshot()
    assert found[f"{__name__}.allow"]["kind"] == "http_filter"  # the first record of the name
    assert found[f"{__name__}.allow"]["requests"] == 1
    assert found[f"{__name__}.refuse_all"] == {**found[f"{__name__}.refuse_all"],
                                               "kind": "http_filter", "errors": 1}
    assert found[f"{__name__}.find"]["kind"] == "dicom_find"
