"""Python where Orthanc calls it: imports, compiles and process pools on Orthanc's threads.

Orthanc's HTTP threads have a 100 KiB C stack. Python 3.14 measures the real stack and
its parser refuses to go on near its end ("MemoryError: Parser stack overflowed"), so
the plugin runs callbacks of such threads on a stack of their own
(orthanc_native/src/callback_stack.hpp). These tests hold on any Python; on 3.14 they
fail without that stack. Python 3.14's default start method (``forkserver``) starts
``sys.executable``: a ``multiprocessing.Pool`` works only because that is the venv's
python, not the Orthanc binary, and because the runtime keeps ``fork`` as a script's default
start method (with ``forkserver`` each child imports the script again and runs its
module-level ``Pool()`` again).
"""

from __future__ import annotations

import pytest

from tests.harness import PYDICOM_FILES, official_orthanc, running_orthanc, scripts_dir, wait_for

SCRIPT = scripts_dir() / "python_in_threads.py"
SMALL_STACK = 1024 * 1024  # below this, Orthanc's thread could not hold Python's work


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threads")
    modules = folder / "modules"
    modules.mkdir()
    config = {"ThreadsModuleDir": str(modules), "PythonRuntime": {"Pool": {"Workers": 1}}}
    with running_orthanc(folder, SCRIPT, config) as server:
        yield server


def assert_all_worked(answer: dict) -> None:
    assert answer["nested_compile"] == "ok"
    assert answer["fresh_import"] == "ok"
    assert answer["sources"] == {name: "ok" for name in answer["sources"]}
    assert len(answer["sources"]) == 7


def test_a_route_on_an_http_thread_imports_and_compiles(orthanc):
    answer = orthanc.get("/threads/route").json()
    assert 0 < answer["own_stack"] < SMALL_STACK  # the premise: an HTTP thread's small stack
    assert_all_worked(answer)


def test_python_in_an_http_thread_runs_on_the_callback_stack(orthanc):
    answer = orthanc.get("/threads/stack").json()
    assert answer["own_stack"] == answer["thread_stack_size"] < SMALL_STACK
    assert answer["callback_stacks_enabled"] and answer["on_callback_stack"]
    assert answer["callback_stack_size"] == 8 * 1024 * 1024


def test_a_route_does_what_a_thread_made_by_python_does(orthanc):
    answer = orthanc.get("/threads/in-a-python-thread").json()
    assert answer["own_stack"] >= SMALL_STACK
    assert_all_worked(answer)


def test_an_http_filter_imports_and_compiles(orthanc):
    assert orthanc.get("/threads/filtered").json() == {"through": True}
    answer = orthanc.get("/threads/results/filter").json()
    assert 0 < answer["own_stack"] < SMALL_STACK
    assert_all_worked(answer)


def test_stored_instance_and_change_handlers_import_and_compile(orthanc):
    orthanc.upload(PYDICOM_FILES / "CT_small.dcm")
    for label in ("stored", "change"):  # the runtime's feed threads
        answer = wait_for(lambda label=label: "missing" not in (
            a := orthanc.get(f"/threads/results/{label}").json()) and a,
            timeout=30, what=f"the {label} handler ran")
        assert_all_worked(answer)


def test_official_stored_instance_callback_compiles_on_the_ingest_thread(tmp_path):
    with official_orthanc(tmp_path, ["compile_on_ingest.py"]) as server:
        instance = server.upload(PYDICOM_FILES / "CT_small.dcm")
        answer = server.get("/ingest/results").json()  # the callback ran before the upload answered
        assert answer == {"route": 7, "stored": {instance["ID"]: 7}}


def test_an_offloaded_route_imports_and_compiles_in_a_worker(orthanc):
    answer = orthanc.get("/threads/pid").json()
    assert answer["pid"] != orthanc.process.process.pid
    assert_all_worked(answer)


def test_runaway_recursion_through_c_is_an_error_not_a_crash(orthanc):
    answer = orthanc.get("/threads/recursion").json()
    assert answer["recursion"].startswith("RecursionError")
    assert orthanc.get("/threads/route").status == 200  # Orthanc is still there


def test_a_multiprocessing_pool_with_the_default_start_method_works(tmp_path):
    with official_orthanc(tmp_path, ["pool_default_start.py"]) as server:
        for path in ("/pool/loaded", "/pool/in-route"):
            answer = server.get(path, timeout=60).json()
            assert answer["squares"] == [x * x for x in range(8)]
            assert answer["worker_pids"] and answer["orthanc_pid"] not in answer["worker_pids"]
            assert answer["orthanc_pid"] == server.process.process.pid
            assert "python" in answer["executable"].rsplit("/", 1)[-1]
            # fork, the default up to 3.13, and inside Orthanc on 3.14 too: with 3.14's
            # forkserver each child would import the script again (runtime/plugin/__init__.py)
            assert answer["start_method"] == "fork"
