"""Reload on save: a changed script answers without restarting Orthanc; a broken one changes nothing."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import psutil

SCRIPT = '''
import os
from runtime import ChangeType, offload, on_change, route
from helper import VALUE

SEEN = []

@route("/r/value")
def value(request):
    return {{"v": {v}, "helper": VALUE}}

@route("/r/offloaded")
@offload
def offloaded(request):
    return {{"v": {v}, "pid": os.getpid()}}

@on_change(ChangeType.NEW_INSTANCE)
def seen(change):
    SEEN.append(change.resource_id)

@route("/r/seen")
def seen_route(request):
    return SEEN
'''

CONFIG = {"PythonRuntime": {"Reload": True, "Pool": {"Workers": 2}}}


def write(folder: Path, v: int, helper: str = "a") -> None:
    (folder / "helper.py").write_text(f"VALUE = {helper!r}\n")
    (folder / "reloaded.py").write_text(SCRIPT.format(v=v))


def answers(orthanc, v: int) -> bool:
    value = orthanc.get("/r/value").json()
    offloaded = orthanc.get("/r/offloaded").json()
    return value.get("v") == v and offloaded.get("v") == v


def test_a_saved_change_answers_without_a_restart_and_nothing_in_flight_fails(
        tmp_path, orthanc_factory, dicom_files):
    write(tmp_path, 1)
    orthanc = orthanc_factory(tmp_path / "reloaded.py", CONFIG)
    pid = orthanc.process.process.pid
    assert answers(orthanc, 1)
    statuses: Counter[int] = Counter()
    stop = threading.Event()

    def load() -> None:  # light load across the reload
        while not stop.is_set():
            for path in ("/r/value", "/r/offloaded"):
                statuses[orthanc.get(path).status] += 1

    loader = threading.Thread(target=load)
    loader.start()
    saved = time.monotonic()
    write(tmp_path, 2, helper="b")
    orthanc.wait_for(lambda: answers(orthanc, 2), timeout=15, what="the new handlers")
    took = time.monotonic() - saved
    stop.set()
    loader.join()
    assert orthanc.get("/r/value").json() == {"v": 2, "helper": "b"}  # the module beside it too
    assert orthanc.process.process.pid == pid
    assert set(statuses) == {200}, statuses
    # events keep flowing to the new handlers
    instance = orthanc.upload(dicom_files / "CT_small.dcm")
    orthanc.wait_for(lambda: instance in orthanc.get("/r/seen").json(), what="the event")
    print(f"\nfrom save to the new handlers answering: {took:.2f} s (2 workers, the poll "
          f"interval included); {sum(statuses.values())} requests across the reload, all 200")


def test_a_script_that_fails_to_import_keeps_the_previous_handlers(tmp_path, orthanc_factory):
    write(tmp_path, 1)
    orthanc = orthanc_factory(tmp_path / "reloaded.py", CONFIG, allow_errors=True)
    (tmp_path / "reloaded.py").write_text("from runtime import route\n\ndef broken(:\n")
    orthanc.wait_for(lambda: "the previous handlers keep running" in orthanc.log(), timeout=15,
                     what="the failed reload in the log")
    assert "SyntaxError" in orthanc.log()
    assert answers(orthanc, 1)
    write(tmp_path, 3)  # fixed: reloads
    orthanc.wait_for(lambda: answers(orthanc, 3), timeout=15, what="the fixed script")


def test_fifty_reloads_leave_no_growth(tmp_path, orthanc_factory):
    write(tmp_path, 0)
    orthanc = orthanc_factory(tmp_path / "reloaded.py", CONFIG)
    master = psutil.Process(orthanc.process.process.pid)

    def sample() -> tuple[float, int, int]:
        return (master.memory_info().rss / 2**20, master.num_fds(),
                len(master.children(recursive=True)))

    samples = []
    for v in range(1, 51):
        write(tmp_path, v)
        orthanc.wait_for(lambda v=v: answers(orthanc, v), timeout=15, what=f"reload {v}")
        if v in (5, 50):
            time.sleep(1.0)  # the previous pool finishes stopping
            samples.append(sample())
    (rss5, fds5, procs5), (rss50, fds50, procs50) = samples
    print(f"\nafter 5 and 50 reloads: master RSS {rss5:.1f} -> {rss50:.1f} MB, "
          f"fds {fds5} -> {fds50}, processes below Orthanc {procs5} -> {procs50}")
    assert procs50 <= procs5
    assert fds50 <= fds5 + 2
    assert rss50 <= rss5 * 1.10


def test_a_changed_configuration_restarts_orthanc_in_its_process_when_valid(
        tmp_path, orthanc_factory):
    import json

    write(tmp_path, 1)
    orthanc = orthanc_factory(tmp_path / "reloaded.py", CONFIG)
    pid = orthanc.process.process.pid
    path = orthanc.folder / "orthanc.json"
    configuration = json.loads(path.read_text())
    bad = {**configuration, "PythonRuntime": {**configuration["PythonRuntime"], "Bogus": 1}}
    path.write_text(json.dumps(bad))
    orthanc.wait_for(lambda: "is invalid at $.PythonRuntime.Bogus" in orthanc.log(), timeout=15,
                     what="the invalid configuration in the log")
    assert answers(orthanc, 1)
    path.write_text(json.dumps({**configuration, "Name": "renamed"}))

    def renamed() -> bool:
        try:
            return bool(orthanc.get("/system").json()["Name"] == "renamed")
        except OSError:
            return False  # Orthanc restarting

    orthanc.wait_for(renamed, timeout=30, what="Orthanc restarted with the new configuration")
    assert orthanc.process.process.pid == pid
    orthanc.wait_for(lambda: answers(orthanc, 1), timeout=15, what="the script served again")


SWITCH = '''
import os
from runtime import offload, route

def where(request):
    return {{"v": {v}, "pid": os.getpid()}}

@route("/r/pool")  # the pool runs from the start
@offload
def pool(request):
    return where(request)

{decorators}
def switch(request):
    return where(request)
{added}
'''

ADDED = '''
@route("/r/added/{{n:int}}")
def added(request):
    return {{"v": {v}, "n": request.params["n"], "q": request.query}}
'''


def test_a_reload_moves_a_route_between_inline_and_offloaded_and_serves_added_routes(
        tmp_path, orthanc_factory):
    """An inline route has a native callback of its own (inline_path.cpp): a reload that
    offloads its handler, or adds a route, is served by the new handlers all the same."""
    script = tmp_path / "switching.py"

    def save(v: int, offloaded: bool, added: bool) -> None:
        decorators = '@route("/r/switch")' + ("\n@offload" if offloaded else "")
        script.write_text(SWITCH.format(v=v, decorators=decorators,
                                        added=ADDED.format(v=v) if added else ""))

    save(1, offloaded=False, added=False)
    orthanc = orthanc_factory(script, CONFIG)
    master = orthanc.process.process.pid
    assert orthanc.get("/r/switch").json() == {"v": 1, "pid": master}
    assert orthanc.get("/r/added/3").status == 404
    save(2, offloaded=True, added=True)
    orthanc.wait_for(lambda: orthanc.get("/r/switch").json().get("v") == 2, timeout=15,
                     what="the offloaded handler")
    assert orthanc.get("/r/switch").json()["pid"] != master
    assert orthanc.get("/r/added/3?a=b%20c").json() == {"v": 2, "n": 3, "q": {"a": "b c"}}
    save(3, offloaded=False, added=True)
    orthanc.wait_for(lambda: orthanc.get("/r/switch").json().get("v") == 3, timeout=15,
                     what="the inline handler again")
    assert orthanc.get("/r/switch").json() == {"v": 3, "pid": master}
    assert orthanc.get("/r/added/4").json() == {"v": 3, "n": 4, "q": {}}
    bad = orthanc.get("/r/added/x")  # the template's int does not match: Orthanc's 404
    assert bad.status == 404
    save(4, offloaded=False, added=False)  # the added route is gone: 404, as a route never made
    orthanc.wait_for(lambda: orthanc.get("/r/switch").json().get("v") == 4, timeout=15,
                     what="the script without the added route")
    gone = orthanc.get("/r/added/4")
    assert gone.status == 404 and gone.json()["error"] == "no route matches /r/added/4"


FIRST_OFFLOADED = '''
import os
from runtime import route{imports}

{decorators}
def first(request):
    return {{"v": {v}, "pid": os.getpid()}}
'''


def test_a_reload_that_brings_the_first_offloaded_handler_starts_the_pool(tmp_path, orthanc_factory):
    script = tmp_path / "first_offload.py"
    script.write_text(FIRST_OFFLOADED.format(v=1, imports="", decorators='@route("/r/first")'))
    orthanc = orthanc_factory(script, CONFIG)
    master = orthanc.process.process.pid
    assert orthanc.get("/r/first").json() == {"v": 1, "pid": master}
    assert orthanc.get("/runtime/status").json()["pool"] is None  # no offloaded handler yet
    script.write_text(FIRST_OFFLOADED.format(v=2, imports=", offload",
                                             decorators='@route("/r/first")\n@offload'))
    orthanc.wait_for(lambda: orthanc.get("/r/first").json().get("v") == 2, timeout=30,
                     what="the offloaded handler, in the pool the reload started")
    answer = orthanc.get("/r/first").json()
    assert answer["pid"] != master
    workers = orthanc.get("/runtime/status").json()["pool"]["workers"]
    assert answer["pid"] in workers["pids"], workers
