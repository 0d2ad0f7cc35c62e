"""`orthanc-runtime --help` and the help of every command: texts, defaults, no raw markup."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from runtime.devkit.cli import parser

# What rST or Markdown would render and a terminal prints as is: ``literal``, `code`,
# **bold**, a literal block's "::", a directive or a Markdown heading at a line's start.
RAW_MARKUP = re.compile(r"`|\*\*|::|^\s*\.\. |^\s*#+ ", re.MULTILINE)


def walk(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every parser under ``top`` by its command line ("orthanc-runtime run"), itself included."""
    found = {top.prog: top}
    for action in top._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.update(walk(sub))
    return found


PARSERS = walk(parser())


def test_every_command_is_walked():
    assert set(PARSERS) == {"orthanc-runtime", *(f"orthanc-runtime {name}" for name in
                            ("run", "check-config", "install", "plugin-path",
                                                    "schema", "new"))}


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_every_argument_has_a_help_text_and_every_option_its_default(prog):
    command = PARSERS[prog]
    formatter = command._get_formatter()
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue  # its commands: test_the_top_level_help_lists_each_command_on_one_line
        name = "/".join(action.option_strings) or action.dest
        assert action.help and action.help.strip(), f"{prog}: {name} has no help text"
        if action.option_strings and action.default is not argparse.SUPPRESS:
            shown = formatter._expand_help(action)
            assert re.search(r"\(default: [^)]+\)$", shown), f"{prog}: {name} shows no default: {shown!r}"


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_a_help_has_a_description_and_no_raw_markup(prog):
    command = PARSERS[prog]
    assert command.description and command.description.strip(), f"{prog} has no description"
    text = command.format_help()
    found = RAW_MARKUP.search(text)
    assert found is None, f"{prog} --help prints raw markup {found.group()!r}:\n{text}"


def test_defaults_are_shown_as_the_run_command_uses_them():
    text = PARSERS["orthanc-runtime run"].format_help()
    flat = " ".join(text.split())
    assert "Orthanc's HTTP port; 0 picks a free one (default: 8042)" in flat
    assert "(default: 4242)" in flat and "(default: ./orthanc-data)" in flat
    assert "Orthanc's verbose log (default: off)" in flat
    assert "repeat it to merge several in order (default: none)" in flat


def examples() -> list[list[str]]:
    """The example invocations of the top-level help, as argument lists."""
    text = PARSERS["orthanc-runtime"].format_help()
    found = []
    for line in text[text.index("examples:"):].splitlines()[1:]:
        invocation = re.split(r"\s{2,}|&&", line.strip())[0]
        if invocation.startswith("orthanc-runtime "):
            found.append(shlex.split(invocation)[1:])
    return found


def test_the_top_level_help_lists_each_command_on_one_line_and_two_examples(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps at the terminal's width
    top = PARSERS["orthanc-runtime"]
    text = top.format_help()
    lines = text.splitlines()
    commands = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    summaries = {each.dest: each.help for each in commands._get_subactions()}
    assert set(summaries) == {prog.split()[-1] for prog in PARSERS if prog != top.prog}
    for name, summary in summaries.items():
        assert summary, f"{name} has no summary"
        listed = [line for line in lines if re.fullmatch(rf"\s+{re.escape(name)}\s+"
                                                         rf"{re.escape(summary)}", line)]
        assert len(listed) == 1, f"{name} is not listed on one line of --help:\n{text}"
    assert len(examples()) == 2, text


def test_the_examples_of_the_help_parse():
    for argv in examples():
        args = parser().parse_args(argv)
        assert f"orthanc-runtime {args.command}" in PARSERS
