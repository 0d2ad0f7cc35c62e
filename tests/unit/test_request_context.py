"""Request ids (runtime.context) and Python logging into Orthanc's log (runtime.sdk.pylog),
without Orthanc: the binding is a recorder of the calls it gets."""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any

import pytest

from runtime import context, request_id
from runtime.http import error_response
from runtime.sdk import pylog, transport


def test_new_request_ids_are_short_and_distinct():
    ids = {context.new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(each) < 20 and each.count("-") == 1 for each in ids)


@pytest.mark.parametrize("value, kept", [
    ("abc-123", True), ("x" * 64, True), ("x" * 65, False), ("", False), ("a b", False),
    ("caf\u00e9", False), ("tab\t", False), ("uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427", True),
])
def test_a_clients_request_id_is_kept_only_when_short_and_printable(value, kept):
    assert (context.accepted(value) == value) is kept
    chosen = context.from_headers({"x-request-id": value})
    assert (chosen == value) is kept


def test_request_id_is_none_outside_a_handler_and_set_inside():
    assert request_id() is None
    with context.entered("checksum", "ab12-7") as running:
        assert request_id() == "ab12-7" and running.handler == "checksum"
        assert context.prefix() == "[handler=checksum req=ab12-7] "
    assert request_id() is None and context.prefix() == ""


def test_an_error_answer_names_the_request_id_inside_a_request_only():
    assert "request_id" not in json.loads(error_response(404, "no").body)
    with context.entered("h", "r-1"):
        assert json.loads(error_response(404, "no").body)["request_id"] == "r-1"


def test_what_a_task_carries_pickles_and_is_adopted():
    with context.entered("h", "r-2"):
        carried = pickle.loads(pickle.dumps(context.carried()))
    token = context.adopt(carried)
    try:
        assert request_id() == "r-2"
    finally:
        context.leave(token)
    assert request_id() is None


class Binding:
    """Records the log calls the handler makes, as _orthanc_native would take them."""

    def __init__(self, categories: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.categories = categories

    def __getattr__(self, name: str) -> Any:
        if name == "LogMessage" and not self.categories:
            def refuse(*args: Any) -> None:
                raise RuntimeError("LogMessage needs Orthanc 1.12.4")
            return refuse
        return lambda *args: self.calls.append((name, *args))


@pytest.fixture
def orthanc_log():
    def make(categories: bool = False) -> Binding:
        binding = Binding(categories)
        transport.set_native(binding)
        pylog.install(logging.INFO, categories=categories)
        return binding

    root_level = logging.getLogger().level
    yield make
    pylog.uninstall()
    transport.set_native(None)
    logging.getLogger().setLevel(root_level)


def test_logging_reaches_orthanc_at_its_level_with_the_handler_and_request(orthanc_log):
    binding = orthanc_log()
    log = logging.getLogger("mine")
    with context.entered("checksum", "ab12-7"):
        log.warning("w %d", 1)
        log.error("e")
        log.info("i")
        log.debug("d")  # below the root's INFO
    logging.getLogger().critical("c")
    assert binding.calls == [
        ("LogWarning", "[handler=checksum req=ab12-7] mine: w 1"),
        ("LogError", "[handler=checksum req=ab12-7] mine: e"),
        ("LogInfo", "[handler=checksum req=ab12-7] mine: i"),
        ("LogError", "c"),
    ]


def test_an_exception_logged_carries_its_traceback(orthanc_log):
    binding = orthanc_log()
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("mine").exception("failed")
    (name, text), = binding.calls
    assert name == "LogError" and text.startswith("mine: failed\nTraceback")
    assert "ValueError: boom" in text


def test_with_categories_lines_go_through_log_message(orthanc_log):
    binding = orthanc_log(categories=True)
    with context.entered("h", "r"):
        logging.getLogger("mine").warning("w")
    (name, text, plugin, file, line, category, level), = binding.calls
    assert (name, text, plugin) == ("LogMessage", "[handler=h req=r] mine: w", "orthanc-runtime")
    assert file == __file__ and line > 0
    assert (category, level) == (pylog.CATEGORY_PLUGINS, 1)


def test_a_binding_without_log_message_falls_back_to_the_plain_calls(orthanc_log):
    binding = orthanc_log()
    pylog.install(categories=True)  # asked for, but this binding refuses LogMessage
    logging.getLogger("mine").warning("w")
    logging.getLogger("mine").warning("again")
    assert binding.calls == [("LogWarning", "mine: w"), ("LogWarning", "mine: again")]


def test_the_root_level_follows_orthancs_command_line():
    assert pylog.orthanc_level(["Orthanc", "cfg.json"]) == logging.WARNING
    assert pylog.orthanc_level(["Orthanc", "--verbose", "cfg.json"]) == logging.INFO
    assert pylog.orthanc_level(["Orthanc", "--trace", "cfg.json"]) == logging.DEBUG


def test_a_level_the_script_set_is_kept():
    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.ERROR)
        pylog.install(logging.INFO)
        assert root.level == logging.ERROR
    finally:
        pylog.uninstall()
        root.setLevel(before)


@pytest.fixture
def worker_task():
    """transport as in a worker running a task: what it asks the master, recorded."""
    asked: list[tuple[Any, ...]] = []
    transport.use_master(lambda name, *args: asked.append((name, *args)), lambda: True)
    yield asked
    transport.flush_logs()
    transport.use_master(None, lambda: False)  # type: ignore[arg-type]


def test_a_workers_log_lines_go_to_the_master_in_batches(worker_task):
    transport.call("LogWarning", "one")
    transport.call("LogInfo", "two")
    assert worker_task == []  # waiting for the end of the task
    transport.flush_logs()
    assert worker_task == [("log_lines", [("LogWarning", ("one",)), ("LogInfo", ("two",))])]
    transport.flush_logs()
    assert len(worker_task) == 1  # nothing left to send


def test_an_error_line_goes_at_once_with_those_before_it(worker_task):
    transport.call("LogWarning", "before")
    transport.call("LogError", "bad")
    assert worker_task == [("log_lines", [("LogWarning", ("before",)), ("LogError", ("bad",))])]


def test_another_call_to_the_master_sends_the_waiting_lines_first(worker_task):
    transport.call("LogWarning", "first")
    transport.call("GenerateUuid")
    assert worker_task == [("log_lines", [("LogWarning", ("first",))]), ("GenerateUuid",)]


def test_a_full_batch_goes_without_waiting(worker_task):
    for i in range(transport.LOG_BATCH):
        transport.call("LogInfo", f"line {i}")
    assert len(worker_task) == 1 and len(worker_task[0][1]) == transport.LOG_BATCH


def test_the_master_writes_a_batch_with_its_binding(orthanc_log):
    binding = orthanc_log()
    transport.master_functions()["log_lines"]([("LogWarning", ("w",)), ("LogInfo", ("i",)),
                                               ("LogMessage", ("m", "p", "f", 1, 2, 0)),
                                               ("RestApiDelete", ("/x",))])
    # LogMessage refused by this binding: its plain call; anything but a log call: ignored
    assert binding.calls == [("LogWarning", "w"), ("LogInfo", "i"), ("LogError", "m")]
