"""``orthanc-runtime new NAME``: a folder with a script, its configuration, its tests.

    NAME/
      NAME.py        a route, an event handler and an offloaded handler, commented
      orthanc.json   Orthanc's configuration loading this plugin and the script
      test_NAME.py   tests with the orthanc_factory fixture (``cd NAME && pytest``)
      README.md      the three commands
"""

from __future__ import annotations

import json
import keyword
import re
from pathlib import Path

SCRIPT = '''"""{name}: a script for Orthanc, run by orthanc-runtime.

    orthanc-runtime run {name}.py        # Orthanc on http://localhost:8042 with this script
    pytest                                # its tests, against a real Orthanc
"""

import hashlib

from runtime import Change, ChangeType, Request, offload, on_change, route
from runtime import sdk

STABLE: list[str] = []  # the studies seen stable, for the tests


@route("/{name}/hello/{{who}}")
def hello(request: Request) -> dict[str, object]:
    """A route: `curl http://localhost:8042/{name}/hello/world`."""
    return {{"hello": request.params["who"], "instances": len(sdk.rest_get("/instances"))}}


@on_change(ChangeType.STABLE_STUDY)
def study_is_stable(change: Change) -> None:
    """An event handler: Orthanc's change log brings it every stable study, at least once."""
    sdk.log.info(f"{name}: the study {{change.resource_id}} is stable")
    if change.resource_id not in STABLE:  # at least once: be idempotent
        STABLE.append(change.resource_id or "")


@route("/{name}/stable")
def stable(request: Request) -> list[str]:
    return STABLE


@route("/{name}/checksum/{{instance_id:id}}")
@offload
def checksum(request: Request) -> dict[str, str]:
    """An offloaded handler: it runs in a worker process, not under Orthanc's GIL."""
    dicom = sdk.get_dicom(request.params["instance_id"])  # the SDK works in workers too
    return {{"sha256": hashlib.sha256(dicom).hexdigest()}}
'''

TESTS = '''"""Tests of {name}.py against a real Orthanc (the orthanc_factory fixture of orthanc-runtime)."""

import hashlib
from pathlib import Path

SCRIPT = Path(__file__).parent / "{name}.py"


def test_hello_answers(orthanc_factory):
    orthanc = orthanc_factory(SCRIPT)
    answer = orthanc.get("/{name}/hello/world")
    assert answer.status == 200
    assert answer.json() == {{"hello": "world", "instances": 0}}


def test_checksum_is_computed_in_a_worker(orthanc_factory, dicom_files):
    orthanc = orthanc_factory(SCRIPT)
    instance = orthanc.upload(dicom_files / "CT_small.dcm")
    expected = hashlib.sha256((dicom_files / "CT_small.dcm").read_bytes()).hexdigest()
    assert orthanc.get(f"/{name}/checksum/{{instance}}").json() == {{"sha256": expected}}


def test_a_stable_study_reaches_the_handler(orthanc_factory, dicom_files):
    orthanc = orthanc_factory(SCRIPT, {{"StableAge": 1}})
    instance = orthanc.upload(dicom_files / "MR_small.dcm")
    orthanc.wait_for(lambda: instance["ParentStudy"] in orthanc.get("/{name}/stable").json(),
                     timeout=30, what="the stable study seen by the handler")
'''

README = '''# {name}

A script for [Orthanc](https://www.orthanc-server.com/), run by orthanc-runtime.

```sh
orthanc-runtime run {name}.py                # Orthanc on http://localhost:8042 with the script
curl http://localhost:8042/{name}/hello/world
pytest                                        # the tests start a real Orthanc each
Orthanc orthanc.json                          # or Orthanc itself, with this configuration
```
'''

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_name(name: str) -> None:
    """A project name is a lower-case Python identifier that no module needs."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ValueError(f"{name!r} is not a valid name: use lower-case letters, digits and "
                         "underscores, starting with a letter (it names a Python module)")
    from runtime.plugin.scripts import check_module_name

    check_module_name(name, Path(f"{name}.py"))


def create(folder: Path, plugin: str) -> list[Path]:
    """Writes the skeleton into ``folder`` (which must not exist); the files written."""
    name = folder.name
    check_name(name)
    if folder.exists():
        raise FileExistsError(f"{folder} exists already; choose another name")
    folder.mkdir(parents=True)
    configuration = {
        "Name": name,
        "HttpPort": 8042,
        "DicomPort": 4242,
        "StorageDirectory": "orthanc-data",
        "IndexDirectory": "orthanc-data",
        "RemoteAccessAllowed": False,
        "Plugins": [plugin],
        "PythonRuntime": {"Script": f"{name}.py", "Pool": {"Workers": 2}},
    }
    files = {
        f"{name}.py": SCRIPT.format(name=name),
        f"test_{name}.py": TESTS.format(name=name),
        "README.md": README.format(name=name),
        "orthanc.json": json.dumps(configuration, indent=2) + "\n",
    }
    written = []
    for file, text in files.items():
        path = folder / file
        path.write_text(text)
        written.append(path)
    return written
