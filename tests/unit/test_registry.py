"""The registry and the decorators, without Orthanc."""

from __future__ import annotations

import pickle

import pytest

import runtime
from runtime import ChangeType, ResourceType, compat, offload, on_change, on_stored_instance, route
from runtime.errors import NotInOrthanc, OrthancError, OrthancException, http_status_of
from runtime.registry import Registry, RegistryFrozen


@pytest.fixture(autouse=True)
def declarations_go_to_a_session_of_the_test(session):
    """Each test declares into a fresh session (tests/unit/conftest.py)."""


def hello(request):
    return "hi"


def other(request):
    return "other"


def test_route_records_and_returns_the_function_unchanged(registry):
    assert route("/hello/{name}")(hello) is hello
    found = registry.match("/hello/world")
    assert found is not None
    matched, params, groups = found
    assert params == {"name": "world"} and groups == ("world",)
    assert matched.handler_for("GET").handler is hello
    assert matched.handler_for("POST") is None
    assert matched.allowed == ["GET"]


def test_several_methods_and_handlers_share_one_pattern(registry):
    route("/items/{n:int}", methods=["GET", "put"])(hello)
    route("/items/{n:int}", methods=["DELETE"])(other)
    assert len(registry.routes) == 1
    r = registry.routes[0]
    assert r.allowed == ["GET", "PUT", "DELETE"]
    assert r.handler_for("DELETE").handler is other


def test_duplicate_pattern_and_method_names_both_handlers():
    route("/dup")(hello)
    with pytest.raises(ValueError, match=r"already handled by .*test_registry.hello .*test_registry.py.; cannot add .*test_registry.other"):
        route("/dup")(other)


def test_compat_route_takes_every_method_and_refuses_a_second_handler(registry):
    compat.RegisterRestCallback("/compat/(.*)", hello)
    assert registry.routes[0].allowed == ["GET", "POST", "PUT", "DELETE"]
    with pytest.raises(ValueError, match="already handled"):
        compat.RegisterRestCallback("/compat/(.*)", other)


def test_bad_patterns_and_handlers_are_refused(registry):
    with pytest.raises(ValueError):
        route("/x/{name}/{other")(hello)
    with pytest.raises(ValueError):
        route("/x/{n:float}")(hello)
    with pytest.raises(ValueError):
        compat.RegisterRestCallback("/x/(?P<name>.*)", hello)
    with pytest.raises(TypeError):
        registry.add_route("/x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unsupported method"):
        route("/x", methods=["PATCH"])(hello)


def test_registration_after_freeze_says_how_to_fix(registry):
    registry.frozen = True
    with pytest.raises(RegistryFrozen, match="top level of the script"):
        route("/late")(hello)


def test_on_change_filters_by_type_and_level(registry):
    on_change(ChangeType.STABLE_STUDY, ChangeType.NEW_INSTANCE)(hello)
    on_change(level=ResourceType.SERIES)(other)
    on_change(hello)
    typed, levelled, everything = registry.change_listeners
    assert typed.wants(ChangeType.STABLE_STUDY, ResourceType.STUDY)
    assert not typed.wants(ChangeType.STABLE_SERIES, ResourceType.SERIES)
    assert levelled.wants(ChangeType.NEW_SERIES, ResourceType.SERIES)
    assert not levelled.wants(ChangeType.NEW_STUDY, ResourceType.STUDY)
    assert everything.wants(ChangeType.DELETED, ResourceType.PATIENT)


def test_several_listeners_on_one_event(registry):
    on_stored_instance(hello)
    on_stored_instance(other)
    compat.RegisterOnStoredInstanceCallback(hello)
    assert [x.style for x in registry.stored_listeners] == ["runtime", "runtime", "compat"]


def test_offload_marks_and_keeps_the_function_picklable_by_reference(registry):
    offloaded = offload(timeout=5)(hello)
    assert offloaded is hello
    route("/off")(hello)
    assert registry.routes[0].handler_for("GET").offload.timeout == 5
    assert registry.has_offloaded()
    assert pickle.loads(pickle.dumps(hello)) is hello
    with pytest.raises(ValueError):
        offload(timeout=0)
    del hello.__orthanc_offload__


def test_sdk_outside_orthanc_raises_not_in_orthanc():
    with pytest.raises(NotInOrthanc, match="not running inside Orthanc"):
        runtime.sdk.rest_get("/system")
    with pytest.raises(NotInOrthanc):
        compat.RestApiGet("/system")


def test_orthanc_errors_pickle_and_map_to_http_status():
    error = OrthancError(17, "Unknown resource", 404)
    again = pickle.loads(pickle.dumps(error))
    assert (again.code, again.message, again.status) == (17, "Unknown resource", 404)
    plain = OrthancException(17, "Unknown resource")
    assert plain.args == (17, "Unknown resource")
    assert http_status_of(plain) == 404
    assert http_status_of(OrthancException(8, "Bad request")) == 400
    assert http_status_of(OrthancException(9999, "?")) == 500


def test_sdk_answer_parsing():
    from runtime.sdk import _answer

    assert _answer("GET", "/x", (200, {"Content-Type": "application/json"}, b'{"a": 1}')) == {"a": 1}
    assert _answer("GET", "/x", (200, {"content-type": "image/png"}, b"\x89PNG")) == b"\x89PNG"
    with pytest.raises(OrthancError) as caught:
        _answer("GET", "/x", (404, {}, b'{"Message": "Unknown resource", "OrthancStatus": 17}'))
    assert caught.value.status == 404 and caught.value.code == 17
    with pytest.raises(OrthancError) as caught:  # Orthanc 1.13: an empty body, the code from the status
        _answer("GET", "/x", (415, {}, b""))
    assert caught.value.status == 415 and caught.value.code == 3000


def test_offload_on_a_compat_callback_is_refused_with_the_fix():
    @offload
    def callback(output, uri, **request):
        pass

    registry = Registry()
    with pytest.raises(TypeError, match="@offload works on handlers declared with the runtime"):
        registry.add_route("/x", callback, style="compat")
    with pytest.raises(TypeError, match="not on callbacks given to orthanc.Register"):
        registry.add_change_listener(callback, style="compat")


@pytest.mark.parametrize("decorator, compat_register, what", [
    ("on_find", "RegisterFindCallback", "C-FIND handler"),
    ("on_worklist", "RegisterWorklistCallback", "worklist handler"),
    ("on_move", "RegisterMoveCallback", "C-MOVE handler"),
])
def test_a_second_dicom_service_handler_is_refused_naming_both(decorator, compat_register, what):
    getattr(runtime, decorator)(hello)
    with pytest.raises(ValueError, match=f"Orthanc allows one {what}: .*hello .* cannot add "
                                         ".*other"):
        getattr(compat, compat_register)(other)


def test_cstore_filters_combine_and_the_services_start_a_pool_only_when_offloaded(registry):
    runtime.cstore_filter(hello)
    compat.RegisterIncomingCStoreInstanceFilter(other)
    assert [f.name.rsplit(".", 1)[1] for f in registry.cstore_filters] == ["hello", "other"]
    assert not registry.has_offloaded()

    def commit(request):
        return {}

    runtime.on_storage_commitment(offload(commit))
    assert registry.has_offloaded()


def test_an_offloaded_compat_dicom_callback_is_refused():
    def on_worklist(answers, query, issuer, called):
        pass

    with pytest.raises(TypeError, match="@offload works on handlers declared with the runtime"):
        compat.RegisterWorklistCallback(offload(on_worklist))


async def async_gate(request):
    return False


class AsyncCallable:
    async def __call__(self, request):
        return False


@pytest.mark.parametrize("register", [
    runtime.http_filter, runtime.cstore_filter, runtime.on_find, runtime.on_move,
    compat.RegisterIncomingHttpRequestFilter, compat.RegisterIncomingCStoreInstanceFilter,
    lambda handler: route("/async")(handler),
])
def test_an_async_def_handler_is_refused_when_declared_naming_it(registry, register):
    for handler in (async_gate, AsyncCallable()):
        with pytest.raises(TypeError, match="is an async def: Orthanc's callbacks are synchronous"):
            register(handler)
    assert not registry.http_filters and not registry.cstore_filters
    assert not registry.dicom_services and not registry.routes


@pytest.mark.parametrize(("answer", "verdict"), [
    (True, True), (False, False), ("no", None), ("", None), (1, None), (0, None), (1.0, None),
    (None, None), ({"allowed": False}, None), ([True], None)])
def test_an_http_filter_verdict_is_true_or_false_and_nothing_else(answer, verdict):
    from runtime.registry.verdicts import WrongAnswer, http_verdict

    if verdict is None:
        with pytest.raises(WrongAnswer, match=f"answered {type(answer).__name__}"):
            http_verdict(answer)
    else:
        assert http_verdict(answer) is verdict


@pytest.mark.parametrize(("answer", "style", "status"), [
    (True, "runtime", 0), (False, "runtime", 0x0124), (0xA700, "runtime", 0xA700),
    (0xA9FF, "runtime", 0xA9FF), (0xC123, "runtime", 0xC123), (0x0122, "runtime", 0x0122),
    (0x0110, "runtime", 0x0110), (0x0211, "runtime", 0x0211), (0, "compat", 0),
    (0x0124, "compat", 0x0124), (True, "compat", 0)])
def test_a_cstore_filter_refuses_only_with_a_dicom_failure_status(answer, style, status):
    from runtime.registry.verdicts import cstore_status

    assert cstore_status(answer, None, style) == status


@pytest.mark.parametrize("answer", [0, 1, 0xB000, 0xB006, 0xB007, 0x0107, 0x0001, 0x0116, 0xFF00,
                                    0xFF01, 0xFE00, 0xA800, 0x0112, 0x10000, -1, "no", 1.0, None])
def test_any_other_cstore_answer_is_a_wrong_answer(answer):
    from runtime.registry.verdicts import WrongAnswer, cstore_status

    with pytest.raises(WrongAnswer):
        cstore_status(answer)
    if answer != 0:
        with pytest.raises(WrongAnswer):
            cstore_status(answer, None, "compat")


def test_a_coroutine_answer_is_closed_and_refused():
    from runtime.registry.verdicts import WrongAnswer, http_verdict

    coroutine = async_gate(None)
    with pytest.raises(WrongAnswer, match="answered a coroutine"):
        http_verdict(coroutine)
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning
