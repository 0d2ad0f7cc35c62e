"""An upgrade loses no durable state: what the runtime before runtime.sdk.properties wrote in
Orthanc's global properties is read by the new code, and what the new code writes is still in
the shape the old code read (a downgrade loses nothing either).

The old texts below are exactly what the old code wrote (its json.dumps calls), stored in a
real Orthanc through its SDK; the old reading code is restated in each test's last lines.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.harness import running_orthanc, scripts_dir

SCRIPT = scripts_dir() / "durable_properties.py"


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    with running_orthanc(tmp_path_factory.mktemp("properties"), SCRIPT, {}) as server:
        yield server


def put_raw(orthanc, property_id: int, text: str) -> None:
    answer = orthanc.put(f"/raw/{property_id}", text)
    assert answer.status == 200, answer.text


def raw(orthanc, property_id: int) -> str:
    answer = orthanc.get(f"/raw/{property_id}")
    assert answer.status == 200, answer.text
    return answer.json()["text"]  # type: ignore[no-any-return]


def call(orthanc, method: str, path: str, **body: Any) -> dict[str, Any]:
    answer = orthanc.request(method, path, json.dumps(body) if body else None)
    assert answer.status == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_event_checkpoints_of_the_old_runtime_are_read_and_stay_readable_by_it(orthanc):
    old = json.dumps({"version": 1, "handlers": {"events.on_change": 12, "events.gone": 40}},
                     sort_keys=True)
    put_raw(orthanc, 5467, old)
    assert call(orthanc, "GET", "/read/events?handler=events.on_change") == {"position": 12}
    call(orthanc, "POST", "/write/events", handler="events.on_change", seq=13)
    text = raw(orthanc, 5467)
    assert json.loads(text)["version"] == 1
    # The old Checkpoints._load: a handler not loaded now keeps its entry.
    assert {str(k): int(v) for k, v in json.loads(text)["handlers"].items()} == \
        {"events.on_change": 13, "events.gone": 40}


def test_job_checkpoints_of_the_old_runtime_are_read_and_stay_readable_by_it(orthanc):
    old = json.dumps({"version": 1, "jobs": {"key-1": [{"at": 3}, 3], "key-2": [None, 1]}})
    put_raw(orthanc, 5469, old)
    assert call(orthanc, "GET", "/read/jobs?key=key-1") == {"saved": [{"at": 3}, 3]}
    call(orthanc, "POST", "/write/jobs", key="key-2")
    text = raw(orthanc, 5469)
    assert json.loads(text)["version"] == 1
    # The old Checkpoints._load.
    assert {str(k): list(v) for k, v in json.loads(text)["jobs"].items()} == \
        {"key-1": [{"at": 3}, 3]}


def test_the_auto_routing_journal_of_the_old_recipe_is_read_and_stays_readable_by_it(orthanc):
    # The old journal had no version.
    old = json.dumps({"pending": {"study-a": {"level": "Study", "since": 1.5}},
                      "jobs": {"study-b.peer": {"job": "job-1", "last_update": "20260101T000000"}},
                      "sent": {"study-c.peer": {"last_update": "20260102T000000", "job": "job-0",
                                                "at": 2.5}}}, sort_keys=True)
    put_raw(orthanc, 5468, old)
    read = call(orthanc, "GET", "/read/journal?key=study-b.peer&last_update=x")
    assert read["pending"] == {"study-a": "Study"} and read["job"] == "job-1"
    assert read["counts"] == {"pending": 1, "jobs": 1, "sent": 1}
    sent = call(orthanc, "GET", "/read/journal?key=study-c.peer&last_update=20260102T000000")
    assert sent["sent"] is True
    call(orthanc, "POST", "/write/journal", resource="study-d")
    saved = json.loads(raw(orthanc, 5468))
    # The old Journal._get: each part read with saved.get(part, {}).
    assert {part: dict(saved.get(part, {})) for part in ("pending", "jobs", "sent")} == {
        "pending": {"study-a": {"level": "Study", "since": 1.5},
                    "study-d": saved["pending"]["study-d"]},
        "jobs": json.loads(old)["jobs"], "sent": json.loads(old)["sent"]}
    assert saved["pending"]["study-d"]["level"] == "Study"
