"""Modality worklists from a folder of files or an SQLite table, answered in a worker.

    findscu -W -k 'ScheduledProcedureStepSequence[0].Modality=CT' -k PatientName -k PatientID \\
        localhost 4242                                          # a modality asks for its worklist
    curl http://localhost:8042/worklists                          # every item, as JSON

The items come from one source, read again at each query (so an edit shows at once):

- ``"Folder"``: every ``*.wl`` or ``*.dcm`` file (DICOM, as DCMTK's ``wlmscpfs`` and
  Orthanc's worklist plugin read them) and every ``*.json`` file in the folder. A JSON
  file is one item, or a list of items: either DICOM keywords to values
  (``{"PatientID": "P1", "ScheduledProcedureStepSequence": [{"Modality": "CT"}]}``)
  or the DICOM JSON model (``{"00100020": {"vr": "LO", "Value": ["P1"]}}``).
- ``"Database"`` and ``"Table"``: each row of an SQLite table is an item; a column
  is a DICOM keyword, or ``Sequence.Keyword`` for an attribute of the first item of
  that sequence (``ScheduledProcedureStepSequence.Modality``). Empty values are left out.

A relative path is taken relative to Orthanc's configuration file. Orthanc keeps the
items that match the query, and of each the attributes the modality asked for. A file
or row that cannot be read is skipped, and the log names it; a missing folder or
database fails the query (the modality gets a failure status) and says why.

Enable it with ``"PythonRuntime": {"Recipes": {"Worklists": {"Enabled": true,
"Folder": "worklists"}}}``, or run it alone with ``orthanc-runtime run recipes/worklists.py``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from recipes import settings
from runtime import Request, WorklistRequest, offload, on_worklist, route, sdk

CONFIG_KEY = "Worklists"
_DICOM_SUFFIXES = {".wl", ".dcm"}
_JSON_MODEL_KEY = re.compile(r"[0-9A-Fa-f]{8}")
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_overrides: dict[str, str] = {}


def configure(**overrides: str) -> None:
    """Sets the source from a script (keys of ``Recipes.Worklists``: Folder, Database, Table)::

        from recipes import worklists
        worklists.configure(Folder="/srv/worklists")
    """
    unknown = set(overrides) - {"Folder", "Database", "Table"}
    if unknown:
        raise TypeError(f"worklists.configure(): unknown setting(s) {sorted(unknown)}; "
                        "known: Folder, Database, Table")
    _overrides.update(overrides)


def _resolved(path: str) -> Path:
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    configuration = Path(sdk.configuration_path())
    return (configuration if configuration.is_dir() else configuration.parent) / candidate


def from_keywords(values: dict[str, Any]) -> Dataset:
    """A dataset from DICOM keywords to values; a list of objects is a sequence."""
    dataset = Dataset()
    for keyword, value in values.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            setattr(dataset, keyword, [from_keywords(v) for v in value])
        else:
            setattr(dataset, keyword, value)
    return dataset


def from_json(item: Any) -> Dataset:
    if not isinstance(item, dict):
        raise ValueError(f"an item is a JSON object, not {type(item).__name__}")
    if item and all(_JSON_MODEL_KEY.fullmatch(k) for k in item):
        return Dataset.from_json(item)
    return from_keywords(item)


def _log_skipped(where: str, error: Exception) -> None:
    sdk.log_warning(f"orthanc-runtime: worklists: {where} is skipped: "
                    f"{type(error).__name__}: {error}")


def read_folder(folder: Path) -> list[Dataset]:
    if not folder.is_dir():
        raise FileNotFoundError(f"the worklist folder {folder} does not exist")
    items: list[Dataset] = []
    for path in sorted(folder.iterdir()):
        suffix = path.suffix.lower()
        try:
            if suffix in _DICOM_SUFFIXES:
                items.append(pydicom.dcmread(path, force=True))
            elif suffix == ".json":
                content = json.loads(path.read_text(encoding="utf-8"))
                items.extend(from_json(i) for i in (content if isinstance(content, list) else [content]))
        except Exception as error:  # one bad file does not hide the others
            _log_skipped(str(path), error)
    return items


def read_table(database: Path, table: str) -> list[Dataset]:
    if not database.is_file():
        raise FileNotFoundError(f"the worklist database {database} does not exist")
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(f"the worklist table name {table!r} is not a plain SQL identifier")
    items: list[Dataset] = []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        connection.row_factory = sqlite3.Row
        for number, row in enumerate(connection.execute(f'SELECT * FROM "{table}"'), 1):
            values: dict[str, Any] = {}
            nested: dict[str, dict[str, Any]] = {}
            for column in row.keys():
                value = row[column]
                if value is None or value == "":
                    continue
                value = str(value)
                if "." in column:
                    sequence, keyword = column.split(".", 1)
                    nested.setdefault(sequence, {})[keyword] = value
                else:
                    values[column] = value
            try:
                items.append(from_keywords({**values, **{k: [v] for k, v in nested.items()}}))
            except Exception as error:
                _log_skipped(f"row {number} of {table}", error)
    return items


def items() -> list[Dataset]:
    """Every worklist item of the configured source."""
    section = {**settings(CONFIG_KEY), **_overrides}
    if section.get("Database"):
        return read_table(_resolved(section["Database"]), section.get("Table", "worklist"))
    if section.get("Folder"):
        return read_folder(_resolved(section["Folder"]))
    raise RuntimeError("the worklists recipe has no source: set Recipes.Worklists.Folder or "
                       "Recipes.Worklists.Database")


@on_worklist
@offload
def answer_worklist(request: WorklistRequest) -> list[Dataset]:
    """Every item: the runtime keeps those that match the query."""
    return items()


@route("/worklists")
@offload
def list_worklists(request: Request) -> list[dict[str, Any]]:
    return [item.to_json_dict() for item in items()]

