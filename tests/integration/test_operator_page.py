"""The operator page in a real browser: Debian's chromium, headless, driven by selenium through
Debian's chromedriver (``/usr/bin/chromedriver``, given explicitly: nothing is downloaded),
against a real Orthanc under load.

Selenium rather than Playwright: Playwright's Python package is made to drive the browsers it
downloads itself, and its wire protocol changes with them; chromedriver is packaged by Debian
beside its chromium, so the two always match.

Screenshots are kept in ``build/artefacts/operator-page/`` (the path is printed).
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.harness import running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "operator_page_demo.py"
NAME = "operator_page_demo."
ARTEFACTS = Path(__file__).resolve().parents[2] / "build" / "artefacts" / "operator-page"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

READ_HANDLERS = """
return Array.from(document.querySelectorAll('#handlers tbody tr')).map(function (tr) {
  function cell(c) { return tr.querySelector('.' + c).textContent; }
  return {name: tr.getAttribute('data-handler'), requests: cell('requests'),
          errors: cell('errors'), p50: cell('p50'), p90: cell('p90'), p99: cell('p99')};
});
"""
READ_WORKERS = """
return Array.from(document.querySelectorAll('#workers tbody tr')).map(function (tr) {
  return {pid: tr.getAttribute('data-pid'), state: tr.querySelector('.state').textContent,
          tasks: tr.querySelector('.tasks').textContent};
});
"""


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        assert Path(path).exists(), f"{path} is missing: `make system` installs chromium and " \
                                    "chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page-browser")
    with running_orthanc(folder, SCRIPT, {"PythonRuntime": {"Pool": {"Workers": 2}}}) as server:
        yield server


@pytest.fixture(scope="module")
def shots():
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    print(f"\nscreenshots of the operator page: {ARTEFACTS}")
    return ARTEFACTS


class Load:
    """Threads that call inline and offloaded routes until stopped."""

    def __init__(self, orthanc, threads: int = 3) -> None:
        self.orthanc = orthanc
        self.stop = threading.Event()
        self.sent = 0
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]

    def run(self, index: int) -> None:
        paths = ["/demo/inline", "/demo/offloaded", "/demo/slow?s=0.02"]
        while not self.stop.is_set():
            self.orthanc.get(paths[(self.sent + index) % len(paths)])
            self.sent += 1

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


@pytest.fixture
def page(browser, orthanc):
    """The browser on the operator page (the first test reaches it through Orthanc Explorer; a
    test that runs first in its process, under xdist, opens it by its address)."""
    if browser.current_url != orthanc.url + "/runtime/ui/index.html":
        browser.get(orthanc.url + "/runtime/ui/index.html")
    wait_for(lambda: polls(browser) >= 1, timeout=20, what="the page's first poll")
    return browser


def status(orthanc):
    return orthanc.get("/runtime/status").json()


def polls(driver) -> int:
    return int(driver.find_element("tag name", "body").get_attribute("data-polls") or 0)


def next_polls(driver, count: int = 2) -> None:
    """Waits for ``count`` more polls of the page (each every two seconds)."""
    start = polls(driver)
    wait_for(lambda: polls(driver) >= start + count, timeout=20, what=f"{count} more polls")


def test_orthanc_explorer_links_to_the_page_which_shows_live_numbers_under_load(
        browser, orthanc, shots):
    browser.get(orthanc.url + "/app/explorer.html")
    link = wait_for(lambda: browser.find_elements("id", "orthanc-runtime-page"), timeout=20,
                    what="the link on Orthanc Explorer's home page")[0]
    browser.save_screenshot(str(shots / "1-orthanc-explorer.png"))
    link.click()
    wait_for(lambda: browser.current_url.endswith("/runtime/ui/index.html"), what="the page opened")
    with Load(orthanc) as load:
        next_polls(browser, 3)
        browser.save_screenshot(str(shots / "2-under-load.png"))
        during = {row["name"]: row for row in browser.execute_script(READ_HANDLERS)}
        assert int(during[NAME + "offloaded"]["requests"]) > 0
        chart = browser.find_elements("css selector", "#chart polyline")
        assert len(chart) >= 3  # one line per handler that was called
    assert load.sent > 30, load.sent
    # No load now: the page's numbers after its next poll are the status's, script handlers
    # (the status route counts itself, at each of the page's polls and of ours).
    next_polls(browser, 2)
    shown = {row["name"]: row for row in browser.execute_script(READ_HANDLERS)}
    truth = status(orthanc)["handlers"]
    for name in (NAME + "inline", NAME + "offloaded", NAME + "slow"):
        assert name in shown, sorted(shown)
        expected = truth[name]
        row = shown[name]
        assert int(row["requests"]) == expected["requests"], (name, row, expected)
        assert int(row["errors"]) == expected["errors"]
        for q in ("p50", "p90", "p99"):
            assert row[q] == f"{expected['latency_ms'][q]:.2f}", (name, q, row, expected)
    workers = browser.execute_script(READ_WORKERS)
    assert sorted(int(w["pid"]) for w in workers) == status(orthanc)["pool"]["workers"]["pids"]
    assert browser.find_element("id", "backend").text == "local"


def test_an_error_shows_with_the_id_of_its_answer(page, browser, orthanc, shots):
    answer = orthanc.get("/demo/fail-offloaded")
    assert answer.status == 500
    error_id = answer.json()["error_id"]
    row = wait_for(lambda: browser.find_elements(
        "css selector", f'#errors tr[data-error-id="{error_id}"]'), timeout=20,
        what=f"the error {error_id} on the page")[0]
    assert row.find_element("css selector", ".handler").text == NAME + "fail_offloaded"
    assert row.find_element("css selector", ".type").text == "ValueError"
    browser.save_screenshot(str(shots / "3-error.png"))


def test_a_killed_worker_shows_as_a_restart(page, browser, orthanc, shots):
    before = int(browser.find_element("id", "restarts-total").text)
    victim = status(orthanc)["pool"]["workers"]["pids"][0]
    os.kill(victim, signal.SIGKILL)
    row = wait_for(lambda: browser.find_elements(
        "css selector", f'#restarts tr[data-pid="{victim}"]'), timeout=20,
        what=f"worker {victim}'s restart on the page")[0]
    assert "SIGKILL" in row.text
    assert int(browser.find_element("id", "restarts-total").text) == before + 1
    wait_for(lambda: str(victim) not in [w["pid"] for w in browser.execute_script(READ_WORKERS)]
             and len(browser.execute_script(READ_WORKERS)) == 2, timeout=20,
             what="the replacement worker on the page")
    browser.save_screenshot(str(shots / "4-restart.png"))


def test_a_job_shows_its_progress_and_an_event_handler_its_place(page, browser, orthanc, shots):
    job_id = orthanc.post("/demo/job?n=40&delay=0.1").json()["ID"]
    row = wait_for(lambda: browser.find_elements("css selector", f'#jobs tr[data-job="{job_id}"]'),
                   timeout=20, what=f"job {job_id} on the page")[0]
    assert "DemoCount" in row.text
    orthanc.upload("CT_small.dcm")
    wait_for(lambda: browser.find_elements(
        "css selector", f'#events tr[data-handler="{NAME}instance_seen"]'), what="the event feed")
    wait_for(lambda: status(orthanc)["handlers"][NAME + "instance_seen"]["requests"] >= 1,
             what="the event handled")
    next_polls(browser, 1)
    shown = {r["name"]: r for r in browser.execute_script(READ_HANDLERS)}
    assert int(shown[NAME + "instance_seen"]["requests"]) >= 1
    state = wait_for(lambda: orthanc.get(f"/jobs/{job_id}").json()["State"] == "Success" and
                     browser.find_element("css selector",
                                          f'#jobs tr[data-job="{job_id}"] .job-state').text,
                     timeout=30, what="the job done")
    next_polls(browser, 1)
    assert browser.find_element("css selector",
                                f'#jobs tr[data-job="{job_id}"] .job-state').text == "Success", state
    browser.save_screenshot(str(shots / "5-job-and-event.png"))


def test_a_hidden_page_stops_polling(page, browser, orthanc):
    browser.execute_script("""
        Object.defineProperty(document, 'hidden', {value: true, configurable: true});
        document.dispatchEvent(new Event('visibilitychange'));""")
    time.sleep(0.5)  # a poll on its way ends
    first = status(orthanc)["status_computed"]
    time.sleep(5)  # two and a half polling periods
    assert status(orthanc)["status_computed"] == first + 1  # ours only
    browser.refresh()  # visible again, for a test that may follow in this process


def test_behind_orthancs_authentication_the_page_works_with_credentials_only(browser, tmp_path):
    import base64

    config = {"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "s3cret"},
              "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(tmp_path, SCRIPT, config) as server:
        page = server.url + "/runtime/ui/index.html"
        browser.get(page)  # no credentials: Orthanc's 401, not the page
        assert not browser.find_elements("id", "handlers")
        # What a browser sends once its user answered the login prompt (headless has none).
        token = base64.b64encode(b"alice:s3cret").decode()
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders",
                                {"headers": {"Authorization": f"Basic {token}"}})
        try:
            browser.get(page)
            wait_for(lambda: polls(browser) >= 2, timeout=20, what="two polls with credentials")
            assert browser.find_element("id", "state").text == "live"
            assert browser.find_element("id", "backend").text == "local"
        finally:
            browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
