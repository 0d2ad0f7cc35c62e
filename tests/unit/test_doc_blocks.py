"""Every fenced code block of README.md and docs/*.md is a sample that a test runs, or is
listed in NOT_RUN with the reason it is not.

A block is run when its text is (or includes, `--8<-- "path"`) a file of RUN: each of those
files is run by the test named beside it; or when the test of RUN_IN_PAGE named beside it
reads the block from its page and runs what it says (the recipes' curl lines, the guide's
first command). A JSON block is a configuration fragment: it is validated here against
config.schema.json (a fragment of the "PythonRuntime" section or of a recipe's is put in its
place first).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from runtime.configuration import load_schema

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INCLUDE = re.compile(r'^--8<-- "([^"]+)"\n$')

# The files that tests run, and which test runs each.
RUN = {
    "examples/hello.py": "tests/integration/test_examples.py::test_readme_hello_example",
    "examples/export_job.py": "tests/integration/test_examples.py::test_readme_job_example",
    "docs/samples/hello.console": "tests/integration/test_examples.py::test_the_hello_transcript_is_what_orthanc_answers",
    "docs/samples/test_hello.py": "tests/integration/test_examples.py::test_the_guides_test_file_passes_beside_hello",
    "docs/samples/configuration.json": "test_json_blocks_are_valid_configuration (this file)",
    "docs/samples/api_imports.py": "tests/integration/test_examples.py::test_the_api_pages_samples_load_and_stream_the_export",
    "docs/samples/api_export.py": "tests/integration/test_examples.py::test_the_api_pages_samples_load_and_stream_the_export",
    "docs/samples/metrics.prom": "tests/integration/test_operator_page_routes.py::test_the_docs_scrape_is_cut_from_what_the_route_answers",
}

# (page, the block's first line): the test that takes the block from the page and runs it.
RECIPES = "tests/integration/test_doc_recipes.py::"
RUN_IN_PAGE = {
    ("recipes.md", "curl http://localhost:8042/recipes/auto-routing/status    # pending, sent, failed (with reasons)"): RECIPES + "test_the_auto_routing_status_lists_pending_sent_and_failed",
    ("recipes.md", "curl -o t.jpg 'http://localhost:8042/thumbnails/<instance-id>?size=128'"): RECIPES + "test_the_thumbnails_lines_answer_jpeg_and_png",
    ("recipes.md", "curl http://localhost:8042/pydicom/<instance-id>                  # str(dataset)"): RECIPES + "test_the_pydicom_lines_answer_the_dump_and_the_dicom_json",
    ("recipes.md", "curl 'http://localhost:8042/computation?n=1000'           # in a worker"): RECIPES + "test_the_cpu_demo_lines_run_in_a_worker_and_inline",
    ("recipes.md", "curl -X POST http://localhost:8042/recipes/study-export/<study-id>    # {\"ID\": \"<job-id>\", ...}"): RECIPES + "test_the_study_export_lines_submit_follow_and_fetch_the_archive",
    ("recipes.md", "$ findscu -W -k 'ScheduledProcedureStepSequence[0].Modality=CT' -k PatientName -k PatientID localhost 4242"): RECIPES + "test_the_worklists_lines_find_the_ct_item_and_list_both",
    ("guide.md", "orthanc-runtime new clinic && cd clinic && pytest     # 3 passed"): "tests/integration/test_author_kit.py::test_the_guides_command_line_starts_a_project_that_passes",
    ("README.md", "make demo   # installs everything (Debian packages, .venv), starts Orthanc on http://localhost:8042 with the recipes"): "tests/integration/test_doc_commands.py::test_make_demo_as_the_readme_says_serves_the_recipes_until_ctrl_c",
    ("index.md", "make demo   # installs everything (Debian packages, .venv), starts Orthanc on http://localhost:8042 with the recipes"): "tests/integration/test_doc_commands.py::test_make_demo_as_the_readme_says_serves_the_recipes_until_ctrl_c",
    ("dask.md", "# machine B: the scheduler and the workers, under a service manager that restarts them"): "tests/integration/test_doc_commands.py::test_the_dask_pages_two_machine_commands_run_on_loopback",
    ("guide.md", "orthanc-runtime run --reload hello.py     # or \"PythonRuntime\": {\"Reload\": true}"): "tests/integration/test_doc_commands.py::test_the_guides_reload_command_serves_the_edited_script",
}

# (page, the block's first line): why it is not run. Issue 27: only what a test cannot run on
# one machine, or what is not code.
NOT_RUN = {
    ("architecture.md", "Orthanc (C++)"): "a diagram, not code",
    ("dicom.md", "from runtime import on_find, on_worklist, on_move, on_storage_commitment, cstore_filter, offload"): "signatures with `...` placeholders",
    ("offload.md", "@route('/computation')"): "a fragment with `...`",
    ("orthanc-versions.md", "apt-get install orthanc orthanc-dev libboost-dev nlohmann-json3-dev python3-venv python3-dev g++ cmake make"): "what tests/debian_root.py runs in the Debian 13 and unstable roots",
    ("install.md", "make wheel   # dist/orthanc_runtime-<version>-cp311-cp311-manylinux_2_34_x86_64.whl, for Debian 12's python3.11"): "tests/integration/test_wheels.py builds the same cp311 wheel (tests.wheel_build, what make wheel runs) into a temporary folder; make test's wheel step in the Debian 13 root (tests/debian_root.py wheel_step) builds the cp313 one as make wheel does, into the root's build/wheel/dist instead of dist",
    ("install.md", "apt-get purge orthanc-python            # the official Python plugin: see \"What install refuses\""): "tests/integration/test_wheels.py runs these steps on a copy of /etc/orthanc and of Debian's plugins folder (the purge as the removal of python.json and libOrthancPython.so from the copy; the apt-get install as the Debian packages that make install puts here; the venv under /tmp, not /opt), then starts /usr/sbin/Orthanc as the orthanc user instead of systemctl restart: it does not touch this machine's own service",
    ("install.md", "apt-get purge orthanc-python"): "make test's wheel step in the Debian 13 root (tests/debian_root.py) runs tests/integration/test_wheels.py as for Debian 12's steps above, in a copy of that root without build tools, where orthanc-python stays installed and the copy of /etc/orthanc and of the plugins folder leaves its plugin and python.json out",
    ("operations.md", "scrape_configs:"): "a Prometheus server's configuration: no Prometheus server here; tests/integration/test_operator_page_routes.py scrapes the route it names, with and without Orthanc's credentials",
    ("install.md", "# Not tested: no Docker engine on the machine that tests orthanc-runtime (docs/install.md)."): "not tested: no Docker engine here",
    ("operations.md", "import logging"): "a fragment with `...`; tests/scripts/logs_demo.py logs the same way from an offloaded route, and tests/integration/test_logs.py reads its lines in Orthanc's log",
    ("operations.md", "W1206 23:41:07.512345 PluginsManager.cpp:153] [handler=checksum req=3f9a-17] checksums: computing 42"): "a line of Orthanc's log, not code: tests/integration/test_logs.py checks the lines' form",
}


def blocks() -> list[tuple[str, str, str]]:
    return [(page.name, m.group(1), m.group(2)) for page in PAGES for m in BLOCK.finditer(page.read_text())]


def run_file(text: str) -> str | None:
    """The file of RUN that the block is, or includes."""
    include = INCLUDE.match(text)
    for path in RUN:
        if include and (ROOT / "docs" / include.group(1) == ROOT / path or ROOT / include.group(1) == ROOT / path):
            return path
        if (ROOT / path).read_text() == text:
            return path
    return None


def configuration(text: str) -> dict:
    """A JSON block as a whole "PythonRuntime" section."""
    if text.lstrip().startswith('"PythonRuntime"'):
        return json.loads("{" + text + "}")["PythonRuntime"]
    if text.lstrip().startswith('"'):
        fragment = json.loads("{" + text + "}")
        return {"Recipes": fragment}
    if INCLUDE.match(text):
        text = (ROOT / "docs" / INCLUDE.match(text).group(1)).read_text()  # type: ignore[union-attr]
    return json.loads(text)["PythonRuntime"]


def test_every_block_is_run_or_says_why_not():
    left = []
    for page, language, text in blocks():
        if language == "json" or run_file(text) or (page, text.split("\n", 1)[0]) in RUN_IN_PAGE:
            continue
        if (page, text.split("\n", 1)[0]) not in NOT_RUN:
            left.append(f"{page}: {text.splitlines()[0]!r}")
    assert not left, "blocks neither run by a test nor in NOT_RUN:\n" + "\n".join(left)


def test_not_run_and_run_in_page_name_only_blocks_that_exist():
    present = {(page, text.split("\n", 1)[0]) for page, _, text in blocks()}
    assert set(NOT_RUN) <= present, set(NOT_RUN) - present
    assert set(RUN_IN_PAGE) <= present, set(RUN_IN_PAGE) - present
    assert not set(NOT_RUN) & set(RUN_IN_PAGE)


@pytest.mark.parametrize("page,text", [(page, text) for page, language, text in blocks() if language == "json"])
def test_json_blocks_are_valid_configuration(page, text):
    jsonschema.validate(configuration(text), load_schema())


def test_the_tests_named_in_run_exist():
    for path, test in [*RUN.items(), *((page, test) for (page, _), test in RUN_IN_PAGE.items())]:
        assert (ROOT / path).is_file() or (ROOT / "docs" / path).is_file(), path
        if "::" in test:
            file, name = test.split("::")
            assert f"def {name}(" in (ROOT / file).read_text(), test
