"""The durable property store (runtime.sdk.properties) over a fake of Orthanc's global properties."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import sdk
from runtime.sdk import transport
from runtime.sdk.properties import HOLDS, DurableProperty, PropertyId, UnknownProperty


class FakeOrthanc:
    """What the store calls of the native binding: global properties and the log."""

    def __init__(self) -> None:
        self.properties: dict[int, str] = {}
        self.reads = 0
        self.writes: list[tuple[int, str]] = []
        self.errors: list[str] = []
        self.refuse_reads = False
        self.refuse_writes = False
        self.in_write = 0  # writes under way at once: more than 1 means the lock failed
        self.most_at_once = 0

    def GetGlobalProperty(self, property_id: int, default: str) -> str:  # noqa: N802 (the SDK's names)
        if self.refuse_reads:
            raise RuntimeError("Plugin trying to call the database during its initialization")
        self.reads += 1
        return self.properties.get(property_id, default)

    def SetGlobalProperty(self, property_id: int, value: str) -> None:  # noqa: N802
        if self.refuse_writes:
            raise RuntimeError("the database is read-only")
        self.in_write += 1
        self.most_at_once = max(self.most_at_once, self.in_write)
        try:
            self.writes.append((property_id, value))
            self.properties[property_id] = value
        finally:
            self.in_write -= 1

    def LogError(self, message: str) -> None:  # noqa: N802
        self.errors.append(message)


@pytest.fixture
def orthanc() -> Iterator[FakeOrthanc]:
    fake = FakeOrthanc()
    transport.set_native(fake)
    try:
        yield fake
    finally:
        transport.set_native(None)


def counters() -> DurableProperty:
    return DurableProperty(PropertyId.EVENT_CHECKPOINTS, version=2,
                           empty=lambda: {"counts": {}},
                           validate=lambda saved: {"counts": {str(k): int(v) for k, v
                                                              in saved["counts"].items()}},
                           if_unreadable="counting from zero")


def stored(orthanc: FakeOrthanc) -> Any:
    return json.loads(orthanc.properties[PropertyId.EVENT_CHECKPOINTS])


def test_an_unset_property_gives_the_empty_value_and_writes_nothing(orthanc):
    store = counters()
    with store.locked() as value:
        assert value == {"counts": {}}
    assert store.save()
    assert orthanc.writes == [] and orthanc.errors == []


def test_a_change_is_written_as_versioned_json_and_read_back(orthanc):
    with counters().edit() as value:
        value["counts"]["a"] = 3
    assert stored(orthanc) == {"version": 2, "counts": {"a": 3}}
    with counters().locked() as value:  # a new store: what the next start reads
        assert value == {"counts": {"a": 3}}


def test_the_value_is_read_once_and_cached_until_forget(orthanc):
    store = counters()
    for _ in range(3):
        with store.locked():
            pass
    assert orthanc.reads == 1
    orthanc.properties[PropertyId.EVENT_CHECKPOINTS] = json.dumps(
        {"version": 2, "counts": {"b": 1}})
    with store.locked() as value:
        assert value == {"counts": {}}  # the cache, not the database
    store.forget()
    with store.locked() as value:
        assert value == {"counts": {"b": 1}}
    assert orthanc.reads == 2


def test_an_edit_that_changes_nothing_writes_nothing(orthanc):
    store = counters()
    with store.edit() as value:
        value["counts"]["a"] = 1
    with store.edit() as value:
        value["counts"]["a"] = 1
    assert len(orthanc.writes) == 1


def test_if_read_never_calls_orthanc(orthanc):
    store = counters()
    assert store.if_read(lambda value: len(value["counts"])) is None
    assert orthanc.reads == 0
    with store.edit() as value:
        value["counts"]["a"] = 1
    assert store.if_read(lambda value: len(value["counts"])) == 1


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '"text"', '{"version": 2}',
                                  '{"version": 2, "counts": {"a": "many"}}',
                                  '{"version": "2", "counts": {}}',
                                  '{"version": 1, "counts": {"a": 1}}'])
def test_an_unreadable_value_is_logged_starts_empty_and_is_replaced_at_the_first_write(
        orthanc, text):
    orthanc.properties[PropertyId.EVENT_CHECKPOINTS] = text
    store = counters()
    with store.locked() as value:
        assert value == {"counts": {}}
    assert len(orthanc.errors) == 1
    assert "the saved event checkpoints (global property 5467) are unreadable" in orthanc.errors[0]
    assert orthanc.errors[0].endswith("; counting from zero")
    assert orthanc.properties[PropertyId.EVENT_CHECKPOINTS] == text  # reading changed nothing
    with store.edit() as value:
        value["counts"]["a"] = 1
    assert stored(orthanc) == {"version": 2, "counts": {"a": 1}}


def test_a_newer_version_is_logged_and_left_untouched_while_this_runtime_runs(orthanc):
    newer = json.dumps({"version": 3, "counts": {"a": 7}, "more": True})
    orthanc.properties[PropertyId.EVENT_CHECKPOINTS] = newer
    store = counters()
    with store.edit() as value:
        assert value == {"counts": {}}
        value["counts"]["b"] = 1
    assert store.save()
    assert orthanc.writes == [] and orthanc.properties[PropertyId.EVENT_CHECKPOINTS] == newer
    assert len(orthanc.errors) == 1 and "newer orthanc-runtime (version 3" in orthanc.errors[0]
    orthanc.properties[PropertyId.EVENT_CHECKPOINTS] = json.dumps({"version": 2, "counts": {}})
    store.forget()  # an upgrade wrote its own version: this store writes again
    with store.edit() as value:
        value["counts"]["b"] = 1
    assert stored(orthanc) == {"version": 2, "counts": {"b": 1}}


def test_a_value_without_version_is_version_1():
    fake = FakeOrthanc()
    fake.properties[PropertyId.ROUTING_JOURNAL] = json.dumps({"pending": {"x": 1}})
    transport.set_native(fake)
    try:
        store = DurableProperty(PropertyId.ROUTING_JOURNAL, version=1, empty=dict,
                                validate=dict, if_unreadable="afresh")
        with store.locked() as value:
            assert value == {"pending": {"x": 1}}
    finally:
        transport.set_native(None)
    assert fake.errors == []


def test_a_read_that_fails_raises_and_is_not_cached(orthanc):
    orthanc.properties[PropertyId.EVENT_CHECKPOINTS] = json.dumps(
        {"version": 2, "counts": {"a": 5}})
    orthanc.refuse_reads = True
    store = counters()
    with pytest.raises(RuntimeError, match="initialization"):
        with store.locked():
            pass
    orthanc.refuse_reads = False
    with store.edit() as value:  # an empty value cached above would overwrite "a"
        value["counts"]["b"] = 1
    assert stored(orthanc)["counts"] == {"a": 5, "b": 1}


def test_a_write_that_fails_is_logged_kept_and_done_by_the_next_save(orthanc):
    store = counters()
    orthanc.refuse_writes = True
    with store.edit() as value:
        value["counts"]["a"] = 1
    assert not store.save()
    assert len(orthanc.errors) == 2 and "cannot save the event checkpoints" in orthanc.errors[0]
    orthanc.refuse_writes = False
    assert store.save()
    assert stored(orthanc) == {"version": 2, "counts": {"a": 1}}


def test_concurrent_writers_lose_no_update_and_write_in_order(orthanc):
    store = counters()
    threads_count, each = 8, 50

    def add(name: str) -> None:
        for _ in range(each):
            with store.edit() as value:
                counts = value["counts"]
                counts["total"] = counts.get("total", 0) + 1
                counts[name] = counts.get(name, 0) + 1

    threads = [threading.Thread(target=add, args=(f"t{i}",)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert stored(orthanc)["counts"]["total"] == threads_count * each
    assert all(stored(orthanc)["counts"][f"t{i}"] == each for i in range(threads_count))
    totals = [json.loads(text)["counts"]["total"] for _, text in orthanc.writes]
    assert totals == list(range(1, threads_count * each + 1))  # one write per change, in order
    assert orthanc.most_at_once == 1


def test_an_id_not_in_the_table_is_refused():
    with pytest.raises(UnknownProperty, match="5471 is not in runtime.sdk.properties.PropertyId"):
        DurableProperty(5471, version=1, empty=dict, validate=dict, if_unreadable="")


def test_the_table_gives_each_feature_its_own_id_that_plugins_may_use():
    ids = [int(p) for p in PropertyId]
    assert len(set(ids)) == len(ids) == 4
    assert all(i >= 1024 for i in ids)  # plugins own the identifiers from 1024 on
    assert set(HOLDS) == set(PropertyId)
    assert {PropertyId.EVENT_CHECKPOINTS: 5467, PropertyId.ROUTING_JOURNAL: 5468,
            PropertyId.JOB_CHECKPOINTS: 5469,
            PropertyId.CLUSTER_PRESENCE: 5470} == {p: int(p) for p in PropertyId}


def test_recipes_reach_the_store_through_the_public_facade():
    assert sdk.DurableProperty is DurableProperty and sdk.PropertyId is PropertyId
    assert "DurableProperty" in sdk.__all__ and "DurableProperty" in (sdk.__doc__ or "")
