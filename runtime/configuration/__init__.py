"""The plugin's configuration: the ``PythonRuntime`` section, validated and completed.

Orthanc's JSON configuration holds a section ``"PythonRuntime"`` with Orthanc's
PascalCase keys, described by ``config.schema.json``. When the plugin starts,
:func:`resolve` takes the whole configuration Orthanc gives it and either
raises :class:`ConfigurationError`, listing every problem with its JSON path,
or returns the section with every default filled in::

    {"PythonRuntime": {"Script": "rest.py"}}          # what the user wrote
        --check_orthanc_config-->  [] (no problems)
        --with_defaults-->         {"Script": "rest.py", "Verbose": false,
                                    "Pool": {"Workers": <CPUs>, "StartMethod": "forkserver", ...},
                                    "Recipes": {...}}

The official plugin's top-level ``"PythonScript"`` and ``"PythonVerbose"``
are accepted too, and its section ``"Python": {"Path", "Verbose"}`` (official
4.1 on): they stand in for ``Script`` and ``Verbose`` when the section does not
set them.

:func:`load_config_file` reads a configuration file as Orthanc does, comments
included, for tools that run outside Orthanc; :func:`load_config` a file or a folder
(every ``*.json`` of it merged, as Orthanc does with ``/etc/orthanc``).
"""

from __future__ import annotations

import copy
import difflib
import functools
import ipaddress
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

__all__ = [
    "SCHEMA_PATH",
    "ConfigProblem",
    "ConfigurationError",
    "check_orthanc_config",
    "check_section",
    "load_config",
    "load_config_file",
    "load_schema",
    "resolve",
    "strip_comments",
    "with_defaults",
]

SECTION = "PythonRuntime"
_SECTION_PATH = f"$.{SECTION}"


def _find_schema() -> Path:
    # Installed, the schema sits beside this module; in a checkout, at the root.
    beside = Path(__file__).with_name("config.schema.json")
    return beside if beside.is_file() else Path(__file__).resolve().parents[2] / beside.name


SCHEMA_PATH: Path = _find_schema()

# The official plugin's settings, at the top level of Orthanc's configuration.
_LEGACY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "PythonScript": {"type": "string"},
        "PythonVerbose": {"type": "boolean"},
        "Python": {
            "type": "object",
            "properties": {"Path": {"type": "string"}, "Verbose": {"type": "boolean"}},
        },
    },
}


@functools.cache
def load_schema() -> dict[str, Any]:
    """The JSON Schema of the ``PythonRuntime`` section, read once; do not modify it."""
    with open(SCHEMA_PATH, encoding="utf-8") as file:
        schema: dict[str, Any] = json.load(file)
    return schema


@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema())


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in the configuration, at ``path`` (as ``$.PythonRuntime.Pool.Workers``)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigurationError(Exception):
    """The configuration is invalid; ``problems`` says where and why."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.problems,))


def check_section(section: object) -> list[ConfigProblem]:
    """Every problem of a ``PythonRuntime`` section, ordered by path; empty when it is valid."""
    problems = _problems(_validator(), section, _SECTION_PATH)
    if not problems and isinstance(section, dict):
        problems = _backend_problems(section.get("Pool", {}))
    return problems


# Settings of the local pool that mean nothing to a Dask cluster, whose workers are
# started, sized and recycled by whoever runs the cluster.
LOCAL_ONLY = {
    "Workers": "the cluster's workers are started by `dask worker` (--nworkers, --nthreads)",
    "StartMethod": "the cluster's workers are processes of their own, started by `dask worker`",
    "MaxTasksPerWorker": "the cluster recycles its workers itself (dask worker --lifetime)",
    "MaxWorkerMemoryMB": "the cluster bounds its workers' memory itself (dask worker --memory-limit)",
}


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _backend_problems(pool: dict[str, Any]) -> list[ConfigProblem]:
    """What the JSON Schema cannot say: which keys go with which backend, and a safe scheduler."""
    where = f"{_SECTION_PATH}.Pool"
    if pool.get("Backend", "local") != "dask":
        return []
    problems = [ConfigProblem(f"{where}.{key}", f'applies to the local pool only, not with '
                              f'"Backend": "dask": {why}; remove it')
                for key, why in LOCAL_ONLY.items() if key in pool]
    dask = pool.get("Dask", {})
    scheduler = dask.get("Scheduler")
    if scheduler is None:
        problems.append(ConfigProblem(f"{where}.Dask.Scheduler", 'required with "Backend": '
                                      '"dask": the address of the scheduler, such as '
                                      '"tls://scheduler.example:8786"'))
    elif scheduler.startswith("tcp://"):
        host = scheduler[len("tcp://"):].rsplit(":", 1)[0]
        if not _is_loopback(host) and not dask.get("AllowInsecure", False):
            problems.append(ConfigProblem(
                f"{where}.Dask.Scheduler",
                f"{scheduler} is plain tcp to another machine: the workers' token, which grants "
                'full access to Orthanc, would cross the network in clear; use tls:// with '
                '"TlsCaFile", "TlsCertFile" and "TlsKeyFile", or set "AllowInsecure": true'))
    elif scheduler.startswith("tls://"):
        missing = [k for k in ("TlsCaFile", "TlsCertFile", "TlsKeyFile") if k not in dask]
        if missing:
            problems.append(ConfigProblem(f"{where}.Dask", f"{scheduler} is a tls:// scheduler: "
                                          f"set {', '.join(missing)} as well"))
    return problems


def check_orthanc_config(config: dict[str, Any]) -> list[ConfigProblem]:
    """Every problem of a whole Orthanc configuration, as far as this plugin is concerned.

    That is the ``PythonRuntime`` section when there is one, and the types of
    the official plugin's top-level ``PythonScript`` and ``PythonVerbose``.
    """
    if not isinstance(config, dict):
        return [ConfigProblem("$", f"the configuration is a JSON object, not {_json_type(config)}")]
    problems = _problems(jsonschema.Draft202012Validator(_LEGACY_SCHEMA), config, "$")
    if SECTION in config:
        problems += check_section(config[SECTION])
    return sorted(problems, key=lambda problem: problem.path)


def with_defaults(section: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a valid section, with every default of the schema filled in.

    Absent objects are created, so that ``section["Pool"]["StartMethod"]``
    always exists; ``Pool.Workers`` defaults to the number of CPUs.
    """
    filled = copy.deepcopy(section)
    _fill(load_schema(), filled)
    pool = filled["Pool"]
    if isinstance(pool, dict) and "Workers" not in pool and pool.get("Backend") != "dask":
        pool["Workers"] = os.cpu_count() or 1
    return filled


def _fill(schema: dict[str, Any], value: dict[str, Any]) -> None:
    for key, sub in schema.get("properties", {}).items():
        if key not in value:
            if "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            elif sub.get("type") == "object":
                value[key] = {}
        if sub.get("type") == "object" and isinstance(value.get(key), dict):
            _fill(sub, value[key])


def resolve(config: dict[str, Any]) -> dict[str, Any]:
    """The ``PythonRuntime`` section to run with, from Orthanc's whole configuration.

        >>> resolve({"PythonScript": "rest.py"})["Pool"]["StartMethod"]
        'forkserver'

    ``Script`` and ``Verbose`` fall back to the top-level ``PythonScript`` and
    ``PythonVerbose``. Raises :class:`ConfigurationError` if the configuration
    has problems, or names no script at all.
    """
    problems = check_orthanc_config(config)
    if problems:
        raise ConfigurationError(problems)
    section = dict(config.get(SECTION, {}))
    official = config.get("Python", {})  # the official plugin's section, from 4.1 on
    for key, fallbacks in (("Script", [official.get("Path"), config.get("PythonScript")]),
                           ("Verbose", [official.get("Verbose"), config.get("PythonVerbose")])):
        value = next((v for v in fallbacks if v is not None), None)
        if key not in section and value is not None:
            section[key] = value
    recipes = section.get("Recipes", {})
    if "Script" not in section and not section.get("Scripts") and \
            not any(r.get("Enabled") for r in recipes.values()):
        raise ConfigurationError(
            [
                ConfigProblem(
                    f"{_SECTION_PATH}.Script",
                    'nothing to run: set "Script" or "Scripts" in "PythonRuntime" (or the '
                    'top-level "PythonScript"), or enable a recipe in "Recipes"',
                )
            ]
        )
    return with_defaults(section)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an Orthanc JSON configuration file, which may hold ``//`` and ``/* */`` comments.

    Raises :class:`ValueError`, naming the file, line and column, if it is not
    valid JSON once the comments are gone.
    """
    with open(path, encoding="utf-8-sig") as file:
        text = file.read()
    try:
        config = json.loads(strip_comments(text))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: line {error.lineno} column {error.colno}: {error.msg}") from None
    except _UnterminatedComment as error:
        raise ValueError(f"{path}: line {error.line} column {error.column}: {error}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the configuration is a JSON object, not {_json_type(config)}")
    return config


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Orthanc's configuration from a file, or from a folder as Orthanc reads one: every
    ``*.json`` file directly in it, their top-level keys merged.

    Raises :class:`ValueError` as :func:`load_config_file` does, and, as Orthanc refuses
    to start then, when two files of the folder set the same top-level key (naming both).
    """
    folder = Path(path)
    if not folder.is_dir():
        return load_config_file(folder)
    merged: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    for file in sorted(folder.glob("*.json")):
        if not file.is_file():
            continue
        for key, value in load_config_file(file).items():
            if key in origin:
                raise ValueError(f'"{key}" is set by both {origin[key]} and {file}: Orthanc '
                                 "refuses a key that two files of its folder set")
            merged[key], origin[key] = value, file
    return merged


class _UnterminatedComment(ValueError):
    def __init__(self, line: int, column: int) -> None:
        super().__init__("unterminated /* comment")
        self.line = line
        self.column = column


def strip_comments(text: str) -> str:
    """``text`` with its ``//`` and ``/* */`` comments, outside strings, blanked out.

    Comments become spaces (their line breaks are kept), so that the line and
    column of a JSON error still point into the original text.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = _string_end(text, i)
            out.append(text[i:end])
            i = end
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = n if end == -1 else end
            out.append(" " * (end - i))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end == -1:
                line = text.count("\n", 0, i) + 1
                raise _UnterminatedComment(line, i - text.rfind("\n", 0, i))
            end += 2
            out.append("".join(c if c in "\r\n" else " " for c in text[i:end]))
            i = end
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int:
    """The index just past the JSON string that opens at ``start`` (or the text's end)."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == '"' or text[i] == "\n":  # a line break: json reports the bad string
            return i + 1
        else:
            i += 1
    return len(text)


def _problems(validator: jsonschema.Validator, instance: object, root: str) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for error in validator.iter_errors(instance):
        where = _json_path(root, error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = list(error.schema.get("properties", {}))
            for key in error.instance:
                if key not in known:
                    problems.append(ConfigProblem(_json_path(where, [key]), _unknown(key, known)))
        elif error.validator == "pattern":  # error.message shows the regex as a repr
            message = (
                f"{error.instance!r} does not match the regular expression {error.validator_value}"
            )
            problems.append(ConfigProblem(where, message))
        else:
            problems.append(ConfigProblem(where, error.message))
    return sorted(problems, key=lambda problem: (problem.path, problem.message))


def _unknown(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown setting {key!r}; did you mean {close[0]!r}?"
    return f"unknown setting {key!r}; known: {', '.join(known)}"


def _json_path(root: str, parts: Iterable[str | int]) -> str:
    path = root
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier():
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)
