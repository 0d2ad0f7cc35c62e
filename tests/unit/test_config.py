"""The PythonRuntime section: its schema, its problems, its defaults, and the file it comes from."""

from __future__ import annotations

import copy
import doctest
import json
import pickle
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runtime import configuration as config
from runtime.configuration import (
    SCHEMA_PATH,
    ConfigProblem,
    ConfigurationError,
    check_orthanc_config,
    check_section,
    load_config_file,
    load_schema,
    resolve,
    strip_comments,
    with_defaults,
)

ROOT = "$.PythonRuntime"


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(config).failed == 0


# --- the schema itself ------------------------------------------------------------------------


def walk(schema: dict[str, Any], path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    """Every subschema that describes a value, with where it sits."""
    found = [(path, schema)]
    for key, sub in schema.get("properties", {}).items():
        found += walk(sub, f"{path}.{key}")
    return found


def test_schema_is_found_and_is_valid_draft_2020_12() -> None:
    assert SCHEMA_PATH.name == "config.schema.json" and SCHEMA_PATH.is_file()
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] == "PythonRuntime" and schema["description"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert load_schema() is schema  # read once


def test_every_property_has_a_description() -> None:
    for path, sub in walk(load_schema()):
        assert sub.get("description"), path


def test_every_object_refuses_unknown_keys() -> None:
    objects = [(path, sub) for path, sub in walk(load_schema()) if sub.get("type") == "object"]
    assert [path for path, _ in objects] == [
        "$",
        "$.Pool",
        "$.Pool.Dask",
        "$.Pool.Dask.Resources",
        "$.Cluster",
        "$.Recipes",
        "$.Recipes.Thumbnails",
        "$.Recipes.PydicomDump",
        "$.Recipes.Worklists",
        "$.Recipes.CpuDemo",
        "$.Recipes.StudyExport",
        "$.Recipes.AutoRouting",
    ]
    for path, sub in objects:
        if path == "$.Pool.Dask.Resources":  # a map: the names of the cluster's resources
            assert sub["additionalProperties"]["type"] == "number"
            continue
        assert sub.get("additionalProperties") is False, path


def test_schema_is_found_beside_the_module_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "runtime" / "configuration" / "__init__.py"
    module.parent.mkdir(parents=True)
    monkeypatch.setattr(config, "__file__", str(module))
    assert config._find_schema() == tmp_path / "config.schema.json"  # a checkout: the root
    (module.parent / "config.schema.json").write_text("{}")
    assert config._find_schema() == module.parent / "config.schema.json"  # installed


# --- problems ---------------------------------------------------------------------------------


def test_a_valid_full_section_has_no_problems() -> None:
    section = {
        "Script": "/etc/orthanc/rest.py",
        "Verbose": True,
        "Python": "/opt/venv/bin/python",
        "Pool": {
            "Workers": 4,
            "StartMethod": "spawn",
            "TaskTimeout": 0.5,
            "QueueLimit": 0,
            "MaxTasksPerWorker": 100,
            "MaxWorkerMemoryMB": 2048,
            "ShutdownGrace": 0,
        },
        "Recipes": {
            "Thumbnails": {"Enabled": True},
            "PydicomDump": {"Enabled": False},
            "CpuDemo": {},
            "AutoRouting": {"Enabled": True},
        },
    }
    assert check_section(section) == []
    assert check_section({}) == []


@pytest.mark.parametrize(
    ("section", "path", "message"),
    [
        ([], ROOT, "[] is not of type 'object'"),
        ({"Script": 3}, f"{ROOT}.Script", "3 is not of type 'string'"),
        ({"Script": ""}, f"{ROOT}.Script", "'' should be non-empty"),
        (
            {"Script": "rest.txt"},
            f"{ROOT}.Script",
            r"'rest.txt' does not match the regular expression \.py$",
        ),
        (
            {"Script": "rest.py.bak"},
            f"{ROOT}.Script",
            r"'rest.py.bak' does not match the regular expression \.py$",
        ),
        ({"Verbose": "yes"}, f"{ROOT}.Verbose", "'yes' is not of type 'boolean'"),
        ({"Verbose": 1}, f"{ROOT}.Verbose", "1 is not of type 'boolean'"),
        ({"Python": None}, f"{ROOT}.Python", "None is not of type 'string'"),
        ({"Python": ""}, f"{ROOT}.Python", "'' should be non-empty"),
        ({"Pool": 4}, f"{ROOT}.Pool", "4 is not of type 'object'"),
        ({"Pool": {"Workers": 0}}, f"{ROOT}.Pool.Workers", "0 is less than the minimum of 1"),
        ({"Pool": {"Workers": 1.5}}, f"{ROOT}.Pool.Workers", "1.5 is not of type 'integer'"),
        ({"Pool": {"Workers": True}}, f"{ROOT}.Pool.Workers", "True is not of type 'integer'"),
        ({"Pool": {"Workers": "4"}}, f"{ROOT}.Pool.Workers", "'4' is not of type 'integer'"),
        (
            {"Pool": {"StartMethod": "fork"}},
            f"{ROOT}.Pool.StartMethod",
            "'fork' is not one of ['forkserver', 'spawn']",
        ),
        (
            {"Pool": {"TaskTimeout": 0}},
            f"{ROOT}.Pool.TaskTimeout",
            "0 is less than or equal to the minimum of 0",
        ),
        (
            {"Pool": {"TaskTimeout": "30"}},
            f"{ROOT}.Pool.TaskTimeout",
            "'30' is not of type 'number'",
        ),
        (
            {"Pool": {"QueueLimit": -1}},
            f"{ROOT}.Pool.QueueLimit",
            "-1 is less than the minimum of 0",
        ),
        ({"Pool": {"QueueLimit": 2.5}}, f"{ROOT}.Pool.QueueLimit", "2.5 is not of type 'integer'"),
        (
            {"Pool": {"MaxTasksPerWorker": -1}},
            f"{ROOT}.Pool.MaxTasksPerWorker",
            "-1 is less than the minimum of 0",
        ),
        (
            {"Pool": {"MaxTasksPerWorker": "0"}},
            f"{ROOT}.Pool.MaxTasksPerWorker",
            "'0' is not of type 'integer'",
        ),
        (
            {"Pool": {"MaxWorkerMemoryMB": -5}},
            f"{ROOT}.Pool.MaxWorkerMemoryMB",
            "-5 is less than the minimum of 0",
        ),
        (
            {"Pool": {"MaxWorkerMemoryMB": 0.5}},
            f"{ROOT}.Pool.MaxWorkerMemoryMB",
            "0.5 is not of type 'integer'",
        ),
        (
            {"Pool": {"ShutdownGrace": -0.1}},
            f"{ROOT}.Pool.ShutdownGrace",
            "-0.1 is less than the minimum of 0",
        ),
        (
            {"Pool": {"ShutdownGrace": None}},
            f"{ROOT}.Pool.ShutdownGrace",
            "None is not of type 'number'",
        ),
        ({"Recipes": []}, f"{ROOT}.Recipes", "[] is not of type 'object'"),
        (
            {"Recipes": {"Thumbnails": True}},
            f"{ROOT}.Recipes.Thumbnails",
            "True is not of type 'object'",
        ),
        (
            {"Recipes": {"Thumbnails": {"Enabled": "true"}}},
            f"{ROOT}.Recipes.Thumbnails.Enabled",
            "'true' is not of type 'boolean'",
        ),
        (
            {"Recipes": {"PydicomDump": {"Enabled": 0}}},
            f"{ROOT}.Recipes.PydicomDump.Enabled",
            "0 is not of type 'boolean'",
        ),
        (
            {"Recipes": {"CpuDemo": {"Enabled": None}}},
            f"{ROOT}.Recipes.CpuDemo.Enabled",
            "None is not of type 'boolean'",
        ),
        (
            {"Recipes": {"AutoRouting": {"Enabled": 1}}},
            f"{ROOT}.Recipes.AutoRouting.Enabled",
            "1 is not of type 'boolean'",
        ),
        (
            {"Recipes": {"AutoRouting": "on"}},
            f"{ROOT}.Recipes.AutoRouting",
            "'on' is not of type 'object'",
        ),
    ],
)
def test_each_rule_reports_path_and_message(section: Any, path: str, message: str) -> None:
    assert ConfigProblem(path, message) in check_section(section)


@pytest.mark.parametrize(
    ("section", "path", "message"),
    [
        ({"Scrip": "a.py"}, f"{ROOT}.Scrip", "unknown setting 'Scrip'; did you mean 'Script'?"),
        (
            {"Threads": 4},
            f"{ROOT}.Threads",
            "unknown setting 'Threads'; known: Script, Scripts, Reload, Verbose, Python, Pool, Cluster, Recipes",
        ),
        (
            {"Pool": {"Worker": 4}},
            f"{ROOT}.Pool.Worker",
            "unknown setting 'Worker'; did you mean 'Workers'?",
        ),
        (
            {"Pool": {"Max Tasks": 1}},
            f'{ROOT}.Pool["Max Tasks"]',
            "unknown setting 'Max Tasks'; did you mean 'MaxTasksPerWorker'?",
        ),
        (
            {"Pool": {"Size": 1}},
            f"{ROOT}.Pool.Size",
            "unknown setting 'Size'; known: Backend, Workers, StartMethod, TaskTimeout, "
            "QueueLimit, FastPath, MaxTasksPerWorker, MaxWorkerMemoryMB, ShutdownGrace, Dask",
        ),
        (
            {"Recipes": {"Thumbnail": {}}},
            f"{ROOT}.Recipes.Thumbnail",
            "unknown setting 'Thumbnail'; did you mean 'Thumbnails'?",
        ),
        (
            {"Recipes": {"Thumbnails": {"Size": 128}}},
            f"{ROOT}.Recipes.Thumbnails.Size",
            "unknown setting 'Size'; did you mean 'MaxSize'?",
        ),
        (
            {"Recipes": {"PydicomDump": {"enabled": True}}},
            f"{ROOT}.Recipes.PydicomDump.enabled",
            "unknown setting 'enabled'; did you mean 'Enabled'?",
        ),
        (
            {"Recipes": {"CpuDemo": {"X": 1}}},
            f"{ROOT}.Recipes.CpuDemo.X",
            "unknown setting 'X'; known: Enabled, DefaultIterations, MaxIterations",
        ),
        (
            {"Recipes": {"AutoRouting": {"Targets": []}}},
            f"{ROOT}.Recipes.AutoRouting.Targets",
            "unknown setting 'Targets'; known: Enabled, Level, Rules, Retries, RetryDelay, "
            "RetryMaxDelay, PollInterval, History",
        ),
    ],
)
def test_unknown_keys_are_errors_at_every_level(section: Any, path: str, message: str) -> None:
    assert check_section(section) == [ConfigProblem(path, message)]


def test_every_problem_is_reported_ordered_by_path() -> None:
    problems = check_section({"Verbose": 1, "Pool": {"Workers": 0, "Foo": 1, "Bar": 2}, "Zed": 1})
    assert [p.path for p in problems] == [
        f"{ROOT}.Pool.Bar",
        f"{ROOT}.Pool.Foo",
        f"{ROOT}.Pool.Workers",
        f"{ROOT}.Verbose",
        f"{ROOT}.Zed",
    ]


def test_orthanc_config_checks_the_section_and_the_legacy_keys() -> None:
    assert check_orthanc_config({"Name": "Orthanc", "HttpPort": 8042}) == []
    assert check_orthanc_config({"PythonScript": "rest.py", "PythonVerbose": False}) == []
    assert check_orthanc_config(
        {
            "PythonScript": ["rest.py"],
            "PythonVerbose": "false",
            "PythonRuntime": {"Pool": {"Workers": -1}},
        }
    ) == [
        ConfigProblem("$.PythonRuntime.Pool.Workers", "-1 is less than the minimum of 1"),
        ConfigProblem("$.PythonScript", "['rest.py'] is not of type 'string'"),
        ConfigProblem("$.PythonVerbose", "'false' is not of type 'boolean'"),
    ]
    assert check_orthanc_config({"PythonRuntime": None}) == [
        ConfigProblem("$.PythonRuntime", "None is not of type 'object'")
    ]
    assert check_orthanc_config([]) == [  # type: ignore[arg-type]
        ConfigProblem("$", "the configuration is a JSON object, not an array")
    ]


def test_configuration_error_lists_every_problem_and_pickles() -> None:
    problems = [ConfigProblem("$.a", "bad"), ConfigProblem("$.b", "worse")]
    error = ConfigurationError(problems)
    assert error.problems == problems
    assert str(error) == "$.a: bad\n$.b: worse"
    again = pickle.loads(pickle.dumps(error))
    assert again.problems == problems and str(again) == str(error)
    assert str(problems[0]) == "$.a: bad"


# --- defaults ---------------------------------------------------------------------------------

# Every recipe setting and its default is checked in test_recipes_config.py.
DEFAULT_RECIPES = {
    key: with_defaults({})["Recipes"][key]
    for key in ("Thumbnails", "PydicomDump", "Worklists", "CpuDemo", "AutoRouting", "StudyExport")
}


def test_with_defaults_fills_every_default_and_creates_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config.os, "cpu_count", lambda: 6)
    assert with_defaults({"Script": "a.py"}) == {
        "Script": "a.py",
        "Reload": False,
        "Verbose": False,
        "Pool": {
            "Backend": "local",
            "Workers": 6,
            "StartMethod": "forkserver",
            "TaskTimeout": 30,
            "QueueLimit": 256,
            "FastPath": True,
            "MaxTasksPerWorker": 0,
            "MaxWorkerMemoryMB": 0,
            "ShutdownGrace": 10,
            "Dask": {"ConnectTimeout": 10, "Resources": {}, "AllowInsecure": False},
        },
        "Cluster": {"EventHandlers": ["*"]},
        "Recipes": DEFAULT_RECIPES,
    }


def test_with_defaults_keeps_what_is_set_and_does_not_touch_its_argument() -> None:
    section = {
        "Verbose": True,
        "Pool": {"Workers": 2, "TaskTimeout": 5},
        "Recipes": {"CpuDemo": {"Enabled": True}},
    }
    before = copy.deepcopy(section)
    filled = with_defaults(section)
    assert section == before
    assert filled["Verbose"] is True
    assert filled["Pool"]["Workers"] == 2 and filled["Pool"]["TaskTimeout"] == 5
    assert filled["Pool"]["QueueLimit"] == 256
    assert filled["Recipes"]["CpuDemo"] == {**DEFAULT_RECIPES["CpuDemo"], "Enabled": True}
    assert filled["Recipes"]["Thumbnails"] == DEFAULT_RECIPES["Thumbnails"]
    assert "Script" not in filled and "Python" not in filled  # no default


def test_workers_default_survives_an_unknown_cpu_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config.os, "cpu_count", lambda: None)
    assert with_defaults({})["Pool"]["Workers"] == 1


def test_filled_defaults_are_valid() -> None:
    assert check_section(with_defaults({"Script": "a.py"})) == []


# --- resolve ----------------------------------------------------------------------------------


def test_resolve_takes_the_section() -> None:
    section = resolve(
        {"PythonRuntime": {"Script": "a.py", "Pool": {"Workers": 3}}, "HttpPort": 8042}
    )
    assert section["Script"] == "a.py"
    assert section["Verbose"] is False
    assert section["Pool"]["Workers"] == 3
    assert section["Recipes"] == DEFAULT_RECIPES


def test_resolve_falls_back_to_the_legacy_keys() -> None:
    section = resolve({"PythonScript": "rest.py", "PythonVerbose": True})
    assert (section["Script"], section["Verbose"]) == ("rest.py", True)
    assert section["Pool"]["StartMethod"] == "forkserver"


def test_resolve_prefers_the_section_to_the_legacy_keys() -> None:
    section = resolve(
        {
            "PythonScript": "old.py",
            "PythonVerbose": True,
            "PythonRuntime": {"Script": "new.py", "Verbose": False},
        }
    )
    assert (section["Script"], section["Verbose"]) == ("new.py", False)


def test_resolve_raises_with_every_problem() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve({"PythonVerbose": 1, "PythonRuntime": {"Script": "a.py", "Pool": {"Workerz": 1}}})
    assert caught.value.problems == [
        ConfigProblem(
            "$.PythonRuntime.Pool.Workerz", "unknown setting 'Workerz'; did you mean 'Workers'?"
        ),
        ConfigProblem("$.PythonVerbose", "1 is not of type 'boolean'"),
    ]


def test_resolve_needs_a_script_or_an_enabled_recipe() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve({"PythonRuntime": {"Verbose": True}})
    assert caught.value.problems == [
        ConfigProblem(
            "$.PythonRuntime.Script",
            'nothing to run: set "Script" or "Scripts" in "PythonRuntime" (or the '
            'top-level "PythonScript"), or enable a recipe in "Recipes"',
        )
    ]
    section = resolve({"PythonRuntime": {"Recipes": {"CpuDemo": {"Enabled": True}}}})
    assert "Script" not in section


def test_resolve_does_not_modify_the_configuration() -> None:
    configuration = {"PythonScript": "a.py", "PythonRuntime": {"Pool": {}}}
    before = copy.deepcopy(configuration)
    resolve(configuration)
    assert configuration == before


# --- the configuration file -------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "orthanc.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_config_file_strips_comments_but_not_inside_strings(tmp_path: Path) -> None:
    text = """// Orthanc configuration
{
  /* the name,
     as shown in Orthanc Explorer */
  "Name" : "My // Orthanc /* not a comment */",  // trailing comment
  "Url": "http://example.com/a", /* inline */ "Quote": "say \\"//hi\\"",
  "PythonRuntime": {"Script": "rest.py"}   // done
}
// the end"""
    assert load_config_file(write(tmp_path, text)) == {
        "Name": "My // Orthanc /* not a comment */",
        "Url": "http://example.com/a",
        "Quote": 'say "//hi"',
        "PythonRuntime": {"Script": "rest.py"},
    }


def test_load_config_file_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}')
    assert load_config_file(path) == {"a": 1}


def test_load_config_file_names_line_and_column_of_bad_json(tmp_path: Path) -> None:
    text = '{\n  /* a\n  comment */ "a": 1,\n  "b" 2\n}'
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as caught:
        load_config_file(path)
    assert str(caught.value) == f"{path}: line 4 column 7: Expecting ':' delimiter"


def test_load_config_file_reports_an_unterminated_comment(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "a": 1 /* never closed\n}')
    with pytest.raises(ValueError, match=r"line 2 column 10: unterminated /\* comment$"):
        load_config_file(path)


def test_load_config_file_wants_an_object(tmp_path: Path) -> None:
    path = write(tmp_path, "[1] // a list")
    with pytest.raises(ValueError, match="the configuration is a JSON object, not an array"):
        load_config_file(path)


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ('{"a": "//"}', '{"a": "//"}'),
        ('{"a": "/*"} /* x */', '{"a": "/*"}        '),
        ('{"a": "\\\\"} // x', '{"a": "\\\\"}     '),
        ("1 /* a\r\nb */ 2", "1     \r\n     2"),
        ("/", "/"),
    ],
)
def test_strip_comments_keeps_positions(text: str, stripped: str) -> None:
    assert strip_comments(text) == stripped
    assert len(strip_comments(text)) == len(text)


def test_config_file_round_trip_through_resolve(tmp_path: Path) -> None:
    text = json.dumps({"PythonRuntime": {"Script": "x.py", "Pool": {"Workers": 2}}}, indent=2)
    section = resolve(load_config_file(write(tmp_path, "// comment\n" + text)))
    assert section["Pool"]["Workers"] == 2


def test_the_official_python_section_of_4_1_stands_in_for_script_and_verbose() -> None:
    section = resolve({"Python": {"Path": "rest.py", "Verbose": True}})
    assert section["Script"] == "rest.py" and section["Verbose"] is True
    # The section of this plugin wins, then "Python", then the top-level keys of 4.0.
    section = resolve({"Python": {"Path": "new.py"}, "PythonScript": "old.py",
                       "PythonRuntime": {"Verbose": False}})
    assert section["Script"] == "new.py" and section["Verbose"] is False
    assert check_orthanc_config({"Python": {"Path": 3}}) == [
        ConfigProblem("$.Python.Path", "3 is not of type 'string'")
    ]
