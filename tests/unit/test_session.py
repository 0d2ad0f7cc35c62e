"""runtime.plugin.session: one object owns what a start of the plugin holds."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from runtime import job, jobs, route
from runtime.errors import NotInOrthanc
from runtime.plugin.session import STATUS_ROUTE, Session
from runtime.registry import active


def hello(request: Any) -> dict[str, str]:
    return {"hello": request.path}


class RecordingNative:
    """Stands for the native module: records what the session registers with Orthanc."""

    def __init__(self) -> None:
        self.hooks: tuple[Any, ...] = ()
        self.routes: list[str] = []
        self.calls: list[str] = []
        self.serves: dict[str, Any] = {}

    def set_hooks(self, *hooks: Any) -> None:
        self.hooks = hooks

    def register_rest_route(self, regex: str) -> None:
        self.routes.append(regex)

    def register_inline_route(self, regex: str, serve: Any) -> bool:
        self.routes.append(regex)
        self.serves[regex] = serve
        return True

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append(name)


class Output:
    """Stands for Orthanc's RestOutput: keeps the answer."""

    def __init__(self) -> None:
        self.answers: list[tuple[bytes, str]] = []

    def answer_buffer(self, body: bytes, mime: str) -> None:
        self.answers.append((body, mime))

    def set_http_header(self, key: str, value: str) -> None:
        pass


def test_each_session_makes_its_own_parts_and_wires_them_together():
    first, second = Session(), Session()
    for part in ("registry", "executor", "kept", "binder", "hub", "rest", "jobs", "status"):
        assert getattr(first, part) is not getattr(second, part), part
    assert first.hub.handlers is first.registry and first.hub.executor is first.executor
    assert first.hub.kept is first.kept and first.binder.kept is first.kept
    assert first.binder.executor is first.executor and first.rest.routes is first.registry
    assert first.jobs.registry is first.registry and first.jobs.binder is first.binder
    assert first.hub.checkpoints is not second.hub.checkpoints
    assert first.jobs.durable is not second.jobs.durable


def test_declarations_go_to_the_active_session_and_none_outlive_it():
    outside = active()
    with Session() as session:
        assert active() is session.registry
        route("/hello")(hello)
        assert [r.pattern.source for r in session.registry.routes] == ["/hello"]
    assert active() is outside and not any(r.pattern.source == "/hello" for r in outside.routes)
    with Session() as again:  # a new start: nothing of the last one
        assert again.registry.routes == [] and active() is again.registry


def test_registration_hands_orthanc_the_bound_methods_of_this_session():
    native = RecordingNative()
    with Session({"Pool": {}}, native) as session:
        route("/hello/{name}")(hello)
        session.register_with_orthanc()
    assert native.hooks == (session.rest.on_rest, session.on_change,
                            session.hub.on_stored_instance, session.status.refresh_metrics)
    assert [h.__self__ for h in native.hooks] == [session.rest, session, session.hub,
                                                  session.status]
    # the script's route, then the runtime's: status, metrics, the operator page (its redirect,
    # its 3 files)
    assert len(native.routes) == 7 and re.fullmatch(native.routes[0], "/hello/x")
    assert "ExtendOrthancExplorer" in native.calls
    assert session.registry.frozen and session.registry.match(STATUS_ROUTE) is not None
    output = Output()
    on_rest = native.hooks[0]
    on_rest(output, "/hello/x", {"method": "GET", "groups": ("x",), "headers": {}})
    assert [(json.loads(body), mime) for body, mime in output.answers] == [
        ({"hello": "/hello/x"}, "application/json")]
    assert session.rest.in_flight.count == 0
    # The same route through its native inline callback: one call, a plain 200 handed back.
    serve = native.serves[native.routes[0]]
    body, content_type, request_id = serve("/hello/x", "GET", (), None, b"")
    assert (body, content_type) == (b'{"hello":"/hello/x"}', "application/json") and request_id
    assert serve("/hello/x", "GET", (("X-Request-Id", "mine"),), None, b"")[2] == "mine"
    assert session.rest.in_flight.count == 0


def test_jobs_submit_adds_to_the_active_sessions_jobs():
    with Session() as session:
        job("Count")(lambda n: n)
        with pytest.raises(NotInOrthanc):  # the job is made, Orthanc is not there to take it
            jobs.submit("Count", n=2)
        assert [j.type.name for j in session.jobs.table.values()] == ["Count"]
        with pytest.raises(LookupError, match="known: \\['Count'\\]"):
            jobs.submit("Other")
    with Session() as other:
        with pytest.raises(LookupError, match="no job type 'Count'"):
            jobs.submit("Count", n=2)
        assert other.jobs.table == {}
