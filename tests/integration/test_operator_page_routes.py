"""The data of the operator page over plain HTTP: each handler's counters in /runtime/status
(inline, offloaded through the master, and on the fast path), the recent errors with their ids,
worker restarts, the Prometheus text of /runtime/metrics, the page's files, its link in Orthanc
Explorer, and Orthanc's authentication in front of all of it. (The page in a browser:
test_operator_page.py.)"""

from __future__ import annotations

import base64
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.harness import running_orthanc, scripts_dir, system_version, wait_for

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "metrics.prom"

SCRIPT = scripts_dir() / "operator_page_demo.py"
NAME = "operator_page_demo."


@pytest.fixture(scope="module", params=[True, False], ids=["fast", "python"])
def orthanc(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("page")
    config = {"PythonRuntime": {"Pool": {"Workers": 2, "FastPath": request.param}}}
    with running_orthanc(folder, SCRIPT, config) as server:
        server.fast = request.param
        yield server


def status(orthanc):
    answer = orthanc.get("/runtime/status")
    assert answer.status == 200, answer.text
    return answer.json()


def counted(orthanc, handler):
    return status(orthanc)["handlers"].get(NAME + handler, {"requests": 0, "errors": 0})


def test_each_handler_counts_its_requests_errors_and_latency(orthanc):
    before = {h: counted(orthanc, h) for h in ("inline", "offloaded", "fail_inline",
                                               "fail_offloaded")}
    for _ in range(7):
        assert orthanc.get("/demo/inline").status == 200
    for _ in range(5):
        assert orthanc.get("/demo/offloaded").status == 200
    for _ in range(3):
        assert orthanc.get("/demo/fail-inline").status == 500
    for _ in range(2):
        assert orthanc.get("/demo/fail-offloaded").status == 500
    expected = {"inline": (7, 0), "offloaded": (5, 0), "fail_inline": (3, 3),
                "fail_offloaded": (2, 2)}
    # The fast path counts an answer as its worker is given back, just after the answer.
    wait_for(lambda: counted(orthanc, "fail_offloaded")["requests"]
             >= before["fail_offloaded"]["requests"] + 2, what="the failed offloaded requests")
    handlers = status(orthanc)["handlers"]
    for handler, (requests, errors) in expected.items():
        now = handlers[NAME + handler]
        assert now["requests"] - before[handler]["requests"] == requests, (handler, now)
        assert now["errors"] - before[handler]["errors"] == errors, (handler, now)
        assert now["kind"] == "route"
        assert sum(now["buckets"]) == now["requests"]
        latency = now["latency_ms"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"], latency
    print(f"FastPath {orthanc.fast}: offloaded {handlers[NAME + 'offloaded']['latency_ms']}, "
          f"inline {handlers[NAME + 'inline']['latency_ms']}")


def test_an_event_handler_is_counted_and_its_backlog_shown(orthanc, dicom_files):
    orthanc.upload("CT_small.dcm")
    wait_for(lambda: counted(orthanc, "instance_seen")["requests"] >= 1, what="the event handled")
    found = status(orthanc)
    assert found["handlers"][NAME + "instance_seen"]["kind"] == "on_change"
    feed = next(f for f in found["events"] if f["handler"] == NAME + "instance_seen")
    assert feed["behind"] is not None and found["last_change"] >= feed["checkpoint"]


def test_a_handler_error_is_listed_with_the_id_of_its_answer(orthanc):
    for path, handler, kind in (("/demo/fail-inline", "fail_inline", "RuntimeError"),
                                ("/demo/fail-offloaded", "fail_offloaded", "ValueError")):
        answer = orthanc.get(path)
        assert answer.status == 500
        error_id = answer.json()["error_id"]
        listed = wait_for(lambda error_id=error_id: next(
            (e for e in status(orthanc)["recent_errors"]["list"] if e["error_id"] == error_id),
            None), what=f"error {error_id} listed")
        assert listed["handler"] == NAME + handler
        assert listed["type"] == kind
        assert "fails on purpose" in listed["message"]
        assert "Traceback" not in listed["message"]


def test_workers_show_their_pid_state_tasks_and_memory(orthanc):
    for _ in range(4):
        orthanc.get("/demo/offloaded")
    pool = status(orthanc)["pool"]
    workers = pool["workers"]["list"]
    assert sorted(w["pid"] for w in workers if w["state"] in ("idle", "busy")) == \
        pool["workers"]["pids"]
    assert all(w["memory_mb"] and w["memory_mb"] > 1 for w in workers)
    assert sum(w["tasks"] for w in workers) >= 4
    assert status(orthanc)["backend"] == "local"


def test_a_killed_worker_shows_up_as_a_restart_with_why(orthanc):
    pool = status(orthanc)["pool"]
    before = pool["restarts"]["total"]
    victim = pool["workers"]["pids"][0]
    os.kill(victim, signal.SIGKILL)
    restarts = wait_for(lambda: status(orthanc)["pool"]["restarts"]["total"] > before and
                        status(orthanc)["pool"]["restarts"], what="the restart seen")
    latest = restarts["recent"][0]
    assert latest["pid"] == victim
    assert "SIGKILL" in latest["exit"] or "SIGKILL" in latest["reason"], latest
    wait_for(lambda: victim not in status(orthanc)["pool"]["workers"]["pids"] and
             len(status(orthanc)["pool"]["workers"]["pids"]) == 2, what="the worker replaced")


def test_prometheus_text_has_the_histograms_counters_and_backlog(orthanc):
    for _ in range(3):
        orthanc.get("/demo/offloaded")
    answer = orthanc.get("/runtime/metrics")
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    handlers = status(orthanc)["handlers"]
    label = f'handler="{NAME}offloaded"'
    requests = re.search(r"^orthanc_runtime_handler_requests_total\{" + label + r"\} (\S+)$",
                         text, re.M)
    assert requests and float(requests.group(1)) >= 3
    count = re.search(r"^orthanc_runtime_handler_latency_seconds_count\{" + label +
                      r',kind="route"\} (\S+)$', text, re.M)
    inf = re.search(r"^orthanc_runtime_handler_latency_seconds_bucket\{" + label +
                    r',kind="route",le="\+Inf"\} (\S+)$', text, re.M)
    assert count and inf and count.group(1) == inf.group(1), text[:3000]
    assert float(count.group(1)) >= handlers[NAME + "offloaded"]["requests"]
    assert re.search(r'^orthanc_runtime_events_behind\{handler="' + NAME + r'instance_seen"\} ',
                     text, re.M), text[-2000:]
    assert "# TYPE orthanc_runtime_handler_errors_total counter" in text or \
        "# TYPE orthanc_runtime_handler_errors counter" in text
    # Orthanc's own metrics keep the runtime's values.
    orthanc_metrics = orthanc.get("/tools/metrics-prometheus").text
    assert "orthanc_runtime_workers_busy" in orthanc_metrics


def series(text):
    """{'name{labels}': value} of a Prometheus text, and its HELP and TYPE lines."""
    found, comments = {}, set()
    for line in text.splitlines():
        if line.startswith("#"):
            comments.add(line)
        elif line:
            key, value = line.rsplit(" ", 1)
            found[key] = float(value)
    return found, comments


def test_the_docs_scrape_is_cut_from_what_the_route_answers(orthanc, dicom_files):
    """docs/operations.md shows docs/samples/metrics.prom: each of its series and comment lines
    is one the route answers (values differ from run to run; the sample's are a real run's)."""
    orthanc.get("/demo/offloaded")
    orthanc.upload("CT_small.dcm")
    wait_for(lambda: counted(orthanc, "instance_seen")["requests"] >= 1, what="the event handled")
    shown, shown_comments = series(SAMPLE.read_text())
    live, live_comments = series(orthanc.get("/runtime/metrics").text)
    assert shown_comments <= live_comments, shown_comments - live_comments
    assert set(shown) <= set(live), set(shown) - set(live)
    label = f'{{handler="{NAME}offloaded",kind="route"'
    assert shown[f"orthanc_runtime_handler_latency_seconds_count{label}}}"] == \
        shown[f'orthanc_runtime_handler_latency_seconds_bucket{label},le="+Inf"}}']


def test_the_page_and_its_files_are_served(orthanc):
    page = orthanc.get("/runtime/ui/index.html")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="page.js"' in page.text and 'href="page.css"' in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "") and \
        "https://" not in page.text  # nothing from the internet
    script = orthanc.get("/runtime/ui/page.js")
    assert script.status == 200 and "javascript" in script.headers["content-type"]
    assert "'../status'" in script.text
    assert orthanc.get("/runtime/ui/page.css").headers["content-type"].startswith("text/css")
    moved = orthanc.get("/runtime/ui")
    # OrthancPluginRedirect answers 301 on Orthanc 1.10 and 307 from 1.12 (1.12.7, 1.13.0)
    version = tuple(int(part) for part in system_version(orthanc).split(".")[:2])
    assert moved.status == (301 if version < (1, 12) else 307), moved
    assert moved.headers["location"] == "ui/index.html"


def test_orthanc_explorer_has_the_link(orthanc):
    extension = orthanc.get("/plugins/explorer.js")
    assert extension.status == 200
    assert 'href="../runtime/ui/index.html"' in extension.text


def test_the_status_is_computed_only_when_asked(orthanc):
    first = status(orthanc)["status_computed"]
    time.sleep(3)  # longer than the page's polling period: nothing polls by itself
    assert status(orthanc)["status_computed"] == first + 1


def test_the_page_and_its_data_need_credentials_when_orthanc_asks_for_them(tmp_path):
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "s3cret"},
              "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path, SCRIPT, config) as server:
        good = {"Authorization": "Basic " + base64.b64encode(b"alice:s3cret").decode()}
        bad = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}
        for path in ("/runtime/ui/index.html", "/runtime/ui/page.js", "/runtime/status",
                     "/runtime/metrics", "/plugins/explorer.js"):
            assert server.get(path).status == 401, path
            assert server.get(path, headers=bad).status == 401, path
            assert server.get(path, headers=good).status == 200, path
