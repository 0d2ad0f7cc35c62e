"""Which event handlers a server runs, and its heartbeat (runtime.callbacks.cluster; the
servers themselves: tests/reliability/test_cluster_postgresql.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.callbacks import cluster as cluster_module
from runtime.callbacks.cluster import Cluster
from runtime.sdk.properties import PropertyId


def test_every_handler_runs_by_default_and_patterns_choose_by_name():
    assert Cluster().runs("script.handler")
    chosen = Cluster({"Cluster": {"EventHandlers": ["site.*", "recipes.autorouting.on_event"]}})
    assert chosen.runs("site.thumbnail") and chosen.runs("recipes.autorouting.on_event")
    assert not chosen.runs("recipes.thumbnails.on_stored") and not chosen.runs("Site.x")
    nothing = Cluster({"Cluster": {"EventHandlers": []}})
    assert not nothing.runs("site.thumbnail")
    status = chosen.status(["site.a", "other.b"])
    assert status["runs"] == ["site.a"] and status["leaves_to_other_servers"] == ["other.b"]
    assert status["index"] == "SQLite" and status["identity_clash"] is None


class FakeOrthanc:
    """The two global-property calls of the heartbeat, on one shared value."""

    def __init__(self) -> None:
        self.value = ""
        self.logged: list[tuple[str, str]] = []

    def call(self, name: str, *args: Any) -> Any:
        if name == "GetGlobalProperty":
            assert args[0] == int(PropertyId.CLUSTER_PRESENCE)
            return self.value
        if name == "SetGlobalProperty":
            self.value = args[1]
            return None
        if name == "GetConfiguration":
            return json.dumps({"HttpPort": 8042})
        raise AssertionError(name)


@pytest.fixture
def orthanc(monkeypatch: pytest.MonkeyPatch) -> FakeOrthanc:
    fake = FakeOrthanc()
    monkeypatch.setattr(cluster_module.transport, "call", fake.call)
    monkeypatch.setattr(cluster_module, "_log", lambda level, text: fake.logged.append((level, text)))
    return fake


def test_a_server_alone_never_sees_a_clash_even_after_a_restart(orthanc: FakeOrthanc):
    before = Cluster()
    before._beat_once()
    before._beat_once()
    after = Cluster()  # the same identity started again (a kill -9, then a start)
    after._beat_once()
    after._beat_once()
    assert before.clash is None and after.clash is None and not orthanc.logged


def test_a_second_writer_of_the_heartbeat_is_a_clash_told_once(orthanc: FakeOrthanc):
    one, two = Cluster(), Cluster()
    one.identity = two.identity = "twin"
    one._beat_once()
    two._beat_once()
    one._beat_once()
    one._beat_once()
    assert one.clash is not None and one.clash["http_port"] == 8042
    errors = [text for level, text in orthanc.logged if level == "error"]
    assert len(errors) == 1 and "identity 'twin'" in errors[0]
