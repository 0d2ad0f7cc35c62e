"""The Recipes part of the PythonRuntime section: its schema, its defaults, and the rules it allows."""

from __future__ import annotations

from typing import Any

import pytest

from recipes import autorouting, routing_rules
from runtime.configuration import ConfigProblem, check_section, load_schema, with_defaults

ROOT = "$.PythonRuntime.Recipes"

DEFAULTS = {
    "Thumbnails": {"Enabled": False, "DefaultSize": 64, "MaxSize": 1024, "DefaultFormat": "jpeg",
                   "JpegQuality": 80, "Rendering": "rendered", "Pixels": "raw",
                   "CacheMaxAge": 3600},
    "PydicomDump": {"Enabled": False, "DefaultFormat": "text", "BulkDataThreshold": 1024,
                    "Strict": False},
    "Worklists": {"Enabled": False, "Table": "worklist"},
    "CpuDemo": {"Enabled": False, "DefaultIterations": 1000, "MaxIterations": 10000},
    "StudyExport": {"Enabled": False, "Folder": "", "Priority": 0},
    "AutoRouting": {"Enabled": False, "Level": "Study", "Rules": [], "Retries": 3,
                    "RetryDelay": 10, "RetryMaxDelay": 300, "PollInterval": 2, "History": 1000},
}

FULL = {
    "Thumbnails": {"Enabled": True, "DefaultSize": 128, "MaxSize": 256, "DefaultFormat": "png",
                   "JpegQuality": 95, "Rendering": "preview", "Pixels": "full",
                   "CacheMaxAge": 0},
    "PydicomDump": {"Enabled": True, "DefaultFormat": "json", "BulkDataThreshold": 0,
                    "Strict": True},
    "Worklists": {"Enabled": True, "Folder": "worklists", "Database": "/var/lib/ris.sqlite",
                  "Table": "orders"},
    "CpuDemo": {"Enabled": True, "DefaultIterations": 0, "MaxIterations": 0},
    "StudyExport": {"Enabled": True, "Folder": "/var/lib/exports", "Priority": 5},
    "AutoRouting": {
        "Enabled": True, "Level": "Series", "Retries": 0, "RetryDelay": 0.5,
        "RetryMaxDelay": 1, "PollInterval": 0.1, "History": 1,
        "Rules": [
            {"Name": "CT", "Match": {"Modality": "CT", "StudyDescription": "*chest*"},
             "MatchRegex": {"PatientID": "[0-9]{8}"}, "Modalities": ["pacs", "backup"]},
            {"Peers": ["research"]},
        ],
    },
}


def walk(schema: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every subschema below ``path``, array items included."""
    found = [(path, schema)]
    for key, sub in schema.get("properties", {}).items():
        found += walk(sub, f"{path}.{key}")
    if isinstance(schema.get("items"), dict):
        found += walk(schema["items"], f"{path}[]")
    return found


def recipes_schema() -> dict[str, Any]:
    return load_schema()["properties"]["Recipes"]  # type: ignore[no-any-return]


def test_every_recipe_setting_is_described_and_every_object_closed() -> None:
    for path, sub in walk(recipes_schema(), "$.Recipes"):
        assert sub.get("description"), path
        if sub.get("type") == "object" and not path.endswith(("Match", "MatchRegex")):
            assert sub.get("additionalProperties") is False, path


def test_every_recipe_has_a_module_that_names_its_key() -> None:
    import recipes.cpu_demo
    import recipes.pydicom_dump
    import recipes.study_export
    import recipes.thumbnails
    import recipes.worklists

    modules = [autorouting, recipes.cpu_demo, recipes.pydicom_dump, recipes.study_export,
               recipes.thumbnails, recipes.worklists]
    assert sorted(m.CONFIG_KEY for m in modules) == sorted(recipes_schema()["properties"])


def test_defaults() -> None:
    assert with_defaults({})["Recipes"] == DEFAULTS


def test_a_full_valid_section_has_no_problems_and_keeps_its_values() -> None:
    assert check_section({"Recipes": FULL}) == []
    assert with_defaults({"Recipes": FULL})["Recipes"] == FULL


THUMBS, DUMP, CPU, ROUTING = (f"{ROOT}.{k}" for k in ("Thumbnails", "PydicomDump", "CpuDemo",
                                                      "AutoRouting"))
RULE = f"{ROUTING}.Rules[0]"


@pytest.mark.parametrize(("recipes", "path", "message"), [
    ({"Thumbnails": {"DefaultSize": 0}}, f"{THUMBS}.DefaultSize", "0 is less than the minimum of 1"),
    ({"Thumbnails": {"DefaultSize": 64.5}}, f"{THUMBS}.DefaultSize",
     "64.5 is not of type 'integer'"),
    ({"Thumbnails": {"MaxSize": "512"}}, f"{THUMBS}.MaxSize", "'512' is not of type 'integer'"),
    ({"Thumbnails": {"DefaultFormat": "gif"}}, f"{THUMBS}.DefaultFormat",
     "'gif' is not one of ['jpeg', 'png']"),
    ({"Thumbnails": {"JpegQuality": 100}}, f"{THUMBS}.JpegQuality",
     "100 is greater than the maximum of 95"),
    ({"Thumbnails": {"Rendering": "raw"}}, f"{THUMBS}.Rendering",
     "'raw' is not one of ['rendered', 'preview']"),
    ({"Thumbnails": {"Pixels": "gpu"}}, f"{THUMBS}.Pixels",
     "'gpu' is not one of ['raw', 'scaled', 'full']"),
    ({"Thumbnails": {"CacheMaxAge": -1}}, f"{THUMBS}.CacheMaxAge",
     "-1 is less than the minimum of 0"),
    ({"PydicomDump": {"DefaultFormat": "xml"}}, f"{DUMP}.DefaultFormat",
     "'xml' is not one of ['text', 'json']"),
    ({"PydicomDump": {"BulkDataThreshold": -1}}, f"{DUMP}.BulkDataThreshold",
     "-1 is less than the minimum of 0"),
    ({"PydicomDump": {"Strict": "yes"}}, f"{DUMP}.Strict", "'yes' is not of type 'boolean'"),
    ({"CpuDemo": {"DefaultIterations": -5}}, f"{CPU}.DefaultIterations",
     "-5 is less than the minimum of 0"),
    ({"CpuDemo": {"MaxIterations": 2.5}}, f"{CPU}.MaxIterations",
     "2.5 is not of type 'integer'"),
    ({"AutoRouting": {"Level": "Patient"}}, f"{ROUTING}.Level",
     "'Patient' is not one of ['Study', 'Series']"),
    ({"AutoRouting": {"Rules": {"Modalities": ["pacs"]}}}, f"{ROUTING}.Rules",
     "{'Modalities': ['pacs']} is not of type 'array'"),
    ({"AutoRouting": {"Retries": -1}}, f"{ROUTING}.Retries", "-1 is less than the minimum of 0"),
    ({"AutoRouting": {"RetryDelay": 0}}, f"{ROUTING}.RetryDelay",
     "0 is less than or equal to the minimum of 0"),
    ({"AutoRouting": {"RetryMaxDelay": -1}}, f"{ROUTING}.RetryMaxDelay",
     "-1 is less than or equal to the minimum of 0"),
    ({"AutoRouting": {"PollInterval": 0}}, f"{ROUTING}.PollInterval",
     "0 is less than or equal to the minimum of 0"),
    ({"AutoRouting": {"History": 0}}, f"{ROUTING}.History", "0 is less than the minimum of 1"),
    ({"AutoRouting": {"Rules": [{"Match": {"Modality": "CT"}}]}}, RULE,
     "{'Match': {'Modality': 'CT'}} is not valid under any of the given schemas"),
    ({"AutoRouting": {"Rules": [{"Modalities": []}]}}, f"{RULE}.Modalities",
     "[] should be non-empty"),
    ({"AutoRouting": {"Rules": [{"Peers": ["a", "a"]}]}}, f"{RULE}.Peers",
     "['a', 'a'] has non-unique elements"),
    ({"AutoRouting": {"Rules": [{"Peers": [""]}]}}, f"{RULE}.Peers[0]", "'' should be non-empty"),
    ({"AutoRouting": {"Rules": [{"Peers": "backup"}]}}, f"{RULE}.Peers",
     "'backup' is not of type 'array'"),
    ({"AutoRouting": {"Rules": [{"Peers": ["b"], "Match": {"Modality": 3}}]}},
     f"{RULE}.Match.Modality", "3 is not of type 'string'"),
    ({"AutoRouting": {"Rules": [{"Peers": ["b"], "MatchRegex": ["CT"]}]}},
     f"{RULE}.MatchRegex", "['CT'] is not of type 'object'"),
    ({"AutoRouting": {"Rules": [{"Peers": ["b"], "Name": ""}]}}, f"{RULE}.Name",
     "'' should be non-empty"),
])
def test_bad_values_are_problems(recipes: dict[str, Any], path: str, message: str) -> None:
    assert check_section({"Recipes": recipes}) == [ConfigProblem(path, message)]


def test_a_bad_tag_name_is_a_problem() -> None:
    problems = check_section(
        {"Recipes": {"AutoRouting": {"Rules": [{"Peers": ["b"], "Match": {"0008,0060": "CT"}}]}}})
    assert [p.path for p in problems] == [f"{RULE}.Match"]
    assert "does not match" in problems[0].message


@pytest.mark.parametrize(("rule", "path", "message"), [
    ({"Peers": ["b"], "Rules": []}, f"{RULE}.Rules", "unknown setting 'Rules'"),
    ({"Peers": ["b"], "Destinations": []}, f"{RULE}.Destinations", "unknown setting 'Destinations'"),
    ({"Modality": ["pacs"]}, f"{RULE}.Modality", "did you mean 'Modalities'?"),
])
def test_unknown_rule_keys_are_problems(rule: dict[str, Any], path: str, message: str) -> None:
    problems = check_section({"Recipes": {"AutoRouting": {"Rules": [rule]}}})
    assert any(p.path == path and message in p.message for p in problems), problems


# --- what the schema cannot say, checked when the recipe starts --------------------------------


def routing_section(**settings: Any) -> dict[str, Any]:
    return {**DEFAULTS["AutoRouting"], **settings}


def test_rules_compile() -> None:
    plan = routing_rules.compile_settings(routing_section(**FULL["AutoRouting"]))
    assert plan.level == "Series" and plan.retries == 0 and plan.history == 1
    first, second = plan.rules
    assert first.name == "CT" and second.name == "rule 1"
    assert [str(d) for d in first.destinations] == ["modality:pacs", "modality:backup"]
    assert second.destinations[0].store_uri == "/peers/research/store"
    assert routing_rules.Destination("modality", "a b/c").store_uri == "/modalities/a%20b%2Fc/store"


@pytest.mark.parametrize(("rule", "message"), [
    ({"Peers": ["b"], "MatchRegex": {"PatientID": "[0-9"}},
     r"Rules\[0\].MatchRegex.PatientID: bad regular expression '\[0-9'"),
    ({"Peers": ["b"], "Match": {"Modalty": "CT"}},
     r"Rules\[0\].Match: 'Modalty' is not a DICOM keyword"),
    ({"Peers": ["b"], "MatchRegex": {"StudyDescrption": ".*"}},
     r"Rules\[0\].MatchRegex: 'StudyDescrption' is not a DICOM keyword"),
    ({"Name": "nowhere"}, r"Rules\[0\]: no destination; give Modalities or Peers"),
])
def test_bad_rules_fail_to_compile_naming_the_setting(rule: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        routing_rules.compile_settings(routing_section(Rules=[rule]))


def test_matching_globs_case_insensitive_regexes_whole_values_any_of_several_values() -> None:
    rule = routing_rules.compile_rule(0, {
        "Match": {"Modality": "ct", "StudyDescription": "*chest*"},
        "MatchRegex": {"PatientID": "[0-9]{4}"}, "Peers": ["b"]})
    tags = {"Modality": ["MR", "CT"], "StudyDescription": ["CT CHEST w/o"], "PatientID": ["1234"]}
    assert rule.matches(tags)
    assert not rule.matches({**tags, "Modality": ["MR"]})
    assert not rule.matches({**tags, "PatientID": ["12345"]})  # the whole value
    assert not rule.matches({**tags, "PatientID": []})  # absent: empty
    assert routing_rules.compile_rule(0, {"Peers": ["b"]}).matches({})  # no filter: everything
    assert routing_rules.compile_rule(0, {"Match": {"StudyDescription": "*"},
                                        "Peers": ["b"]}).matches({})


def test_retry_delays_double_up_to_the_maximum() -> None:
    plan = routing_rules.compile_settings(routing_section(RetryDelay=10, RetryMaxDelay=45))
    assert [plan.delay(n) for n in (1, 2, 3, 4, 5)] == [10, 20, 40, 45, 45]
