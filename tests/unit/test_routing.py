"""Route patterns: templates and raw regexes, compiled to what Orthanc's boost regex accepts.

The property tests compare with boost itself (``orthanc_native._regex``) when the
native module is built, and with Python's ``re`` otherwise.
"""

from __future__ import annotations

import doctest
import pickle
import re
import string
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.registry import routing
from runtime.registry.routing import RoutePatternError, compile_pattern

BOOST = routing._native_regex()
BOOST_FLAGS = re.DOTALL | re.MULTILINE  # how boost reads '.', '^' and '$' by default


def engine_match(regex: str, path: str) -> tuple[str, ...] | None:
    """Whole-path match by Orthanc's engine when available, else by Python's re."""
    if BOOST is not None:
        return BOOST.match(regex, path)
    found = re.fullmatch(regex, path, BOOST_FLAGS)
    return None if found is None else tuple(g or "" for g in found.groups())


def engine_accepts(regex: str) -> bool:
    if BOOST is not None:
        return BOOST.check(regex) is None
    re.compile(regex)
    return True


def test_docstring_examples_hold() -> None:
    assert doctest.testmod(routing).failed == 0


# --- examples ---------------------------------------------------------------------------------

ORTHANC_ID = "0123abcd-4567ef01-89abcdef-00000000-ffffffff"


@pytest.mark.parametrize(
    ("template", "regex"),
    [
        ("/items/{item}", "/items/([^/]+)"),
        ("/items/{item:str}", "/items/([^/]+)"),
        ("/items/{n:int}", "/items/([0-9]+)"),
        ("/files/{rest:path}", "/files/(.+)"),
        ("/instances/{i:id}", "/instances/([0-9a-f]{8}(?:-[0-9a-f]{8}){4})"),
        ("/a.b/{x}/c+d?", r"/a\.b/([^/]+)/c\+d\?"),
        ("/x-y_z~/{x}#&=%", "/x-y_z~/([^/]+)#&=%"),
    ],
)
def test_template_compiles_to_unnamed_groups_with_escaped_literals(
    template: str, regex: str
) -> None:
    compiled = compile_pattern(template)
    assert compiled.regex == regex
    assert compiled.is_template
    assert compiled.source == template
    assert engine_accepts(compiled.regex)


def test_template_params_are_converted_and_groups_stay_strings() -> None:
    compiled = compile_pattern("/series/{series:id}/frames/{index:int}/{rest:path}")
    assert compiled.param_names == ("series", "index", "rest")
    params, groups = compiled.match(f"/series/{ORTHANC_ID}/frames/12/a/b.png") or ({}, ())
    assert params == {"series": ORTHANC_ID, "index": 12, "rest": "a/b.png"}
    assert groups == (ORTHANC_ID, "12", "a/b.png")


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("/items/{n:int}", "/items/12a"),
        ("/items/{n:int}", "/items/-1"),
        ("/items/{item}", "/items/a/b"),
        ("/items/{item}", "/items/"),
        ("/i/{i:id}", "/i/" + ORTHANC_ID.upper()),
        ("/i/{i:id}", "/i/" + ORTHANC_ID[:-1]),
        ("/files/{rest:path}", "/files/"),
        ("/items/{item}", "/items/x/"),
        ("/items/{item}", "/prefix/items/x"),
    ],
)
def test_template_refuses_paths_outside_its_converters(template: str, path: str) -> None:
    compiled = compile_pattern(template)
    assert compiled.match(path) is None
    assert engine_match(compiled.regex, path) is None


@pytest.mark.parametrize("regex", ["/(to)(t)o", "/tata", "/pydicom/(.*)", "/computation"])
def test_raw_regexes_of_the_official_documentation_pass_unchanged(regex: str) -> None:
    compiled = compile_pattern(regex)
    assert compiled.regex == regex
    assert not compiled.is_template
    assert compiled.param_names == ()


def test_raw_regex_matches_whole_path_and_gives_groups() -> None:
    compiled = compile_pattern("/(to)(t)o")
    assert compiled.match("/toto") == ({}, ("to", "t"))
    assert compiled.match("/totox") is None
    assert compiled.match("/x/toto") is None


def test_unmatched_optional_group_gives_empty_string_as_orthanc_does() -> None:
    compiled = compile_pattern("/a(/b)?/(c)")
    assert compiled.match("/a/c") == ({}, ("", "c"))
    assert engine_match(compiled.regex, "/a/c") == ("", "c")


def test_raw_regex_reads_dot_and_dollar_as_boost_does() -> None:
    compiled = compile_pattern("/a/(.+)$")
    assert compiled.match("/a/b\nc") == ({}, ("b\nc",))


def test_regex_repeat_count_does_not_make_a_template() -> None:
    compiled = compile_pattern("/a{2}/([0-9]{3})")
    assert not compiled.is_template
    assert compiled.match("/aa/123") == ({}, ("123",))


@pytest.mark.parametrize(
    ("pattern", "cause"),
    [
        ("/a/{x}/{y", "unbalanced braces: '{' at 7 is never closed"),
        ("/a/{x}}", "unbalanced braces: '}' at 6 closes nothing"),
        ("/a/}{x}", "unbalanced braces: '}' at 3 closes nothing"),
        ("/a/{{x}}", "nested braces: '{' at 4 is inside a placeholder"),
        ("/a/{x{y}}", "nested braces: '{' at 5 is inside a placeholder"),
        ("/a/{}", "empty parameter name in '{}'"),
        ("/a/{:int}", "empty parameter name in '{:int}'"),
        ("/a/{x}/{y-z}", "parameter name 'y-z' is not a Python identifier"),
        ("/a/{x}/{x:int}", "duplicate parameter name 'x'"),
        ("/a/{x}{y}", "placeholders 'x' and 'y' touch; put literal text between them"),
        ("/a/{x:int}{y:path}", "placeholders 'x' and 'y' touch"),
        ("/a/{x:float}", "unknown converter 'float' for 'x' (known: id, int, path, str)"),
        ("/a/{x:}", "unknown converter '' for 'x'"),
        ("a/{x}", "a template must start with '/'"),
        ("{x}", "a template must start with '/'"),
    ],
)
def test_bad_template_is_refused_naming_it(pattern: str, cause: str) -> None:
    with pytest.raises(RoutePatternError) as caught:
        compile_pattern(pattern)
    assert str(caught.value).startswith(f"route pattern {pattern!r}: ")
    assert cause in str(caught.value)
    assert caught.value.pattern == pattern
    assert isinstance(caught.value, ValueError)


PYTHON_ONLY = [
    ("/a/(?P<id>[0-9]+)", "named groups are not allowed (at 3)"),
    ("/a/(?<id>[0-9]+)", "named groups are not allowed (at 3)"),
    ("/a/(?'id'[0-9]+)", "named groups are not allowed (at 3)"),
    ("/a/(?P<x>b)(?P=x)", "named groups are not allowed"),
    ("/a/(b)(?P=x)", "named backreferences are not allowed (at 6)"),
    ("/a/(b)?(?(1)c|d)", "conditional groups '(?(...)...)' are not supported by boost (at 7)"),
    ("/a/(?a)b", "inline flag 'a' at 3 is Python-only"),
    ("/a/(?u:b)", "inline flag 'u' at 3 is Python-only"),
    (r"/caf\u00e9", r"the escape '\u' at 4 means something else to boost"),
    (r"/\N{DIGIT ONE}", r"the escape '\N' at 1 means something else to boost"),
    ("/a{,3}", "the repeat '{,3}' at 2 is a literal for boost; write '{0,3}'"),
    ("/a/[[:alpha:]]", "'[' inside a character class at 4: boost reads '[:alpha:]' there"),
    ("/a/[^x[]", "'[' inside a character class at 6"),
]


@pytest.mark.parametrize(("pattern", "cause"), PYTHON_ONLY)
def test_python_only_syntax_is_refused_without_boost(
    monkeypatch: pytest.MonkeyPatch, pattern: str, cause: str
) -> None:
    monkeypatch.setattr(routing, "_native_regex", lambda: None)
    with pytest.raises(RoutePatternError) as caught:
        compile_pattern(pattern)
    assert str(caught.value).startswith(f"route pattern {pattern!r}: ")
    assert cause in str(caught.value)


@pytest.mark.parametrize(("pattern", "cause"), PYTHON_ONLY)
def test_python_only_syntax_is_refused_with_boost_too(pattern: str, cause: str) -> None:
    with pytest.raises(RoutePatternError, match=re.escape(cause)):
        compile_pattern(pattern)


@pytest.mark.parametrize(
    "regex",
    [
        r"/a/\(?P<x>",  # an optional literal parenthesis, not a group
        "/a/[(?P<x>]",  # inside a character class
        r"/a/[\](?P<x>]",
        r"/a/[]\[]",
        r"/a/[^]x]",
        "/a/(?<=b)c",
        "/a/(?<!b)c",
        "(?i)/a/b",
        "/a/(?i:b)",
        "/a/(?-i:b)",
        "/a/(?:b)",
        "/a/(?=b)b",
        "/a/(?>b)",
        "/a/b{2,}",
    ],
)
def test_lookalikes_of_python_only_syntax_are_accepted(regex: str) -> None:
    assert compile_pattern(regex).regex == regex


def test_invalid_regex_is_refused_with_python_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "_native_regex", lambda: None)
    with pytest.raises(RoutePatternError, match=r"^route pattern '/a/\(b': not a valid regular"):
        compile_pattern("/a/(b")


def test_boost_has_the_last_word(monkeypatch: pytest.MonkeyPatch) -> None:
    class RefusingEngine:
        seen: list[str] = []

        def check(self, pattern: str) -> str | None:
            self.seen.append(pattern)
            return "Invalid something >>>HERE>>>"

    engine = RefusingEngine()
    monkeypatch.setattr(routing, "_native_regex", lambda: engine)
    with pytest.raises(RoutePatternError) as caught:
        compile_pattern("/items/{n:int}")
    assert str(caught.value) == (
        "route pattern '/items/{n:int}': Orthanc's regex engine (boost) refuses it: "
        "Invalid something >>>HERE>>>"
    )
    assert engine.seen == ["/items/([0-9]+)"]  # boost is given the compiled regex


def test_without_native_module_python_checks_stand_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "_native_regex", lambda: None)
    assert compile_pattern("/items/{n:int}").regex == "/items/([0-9]+)"


def test_native_module_is_looked_up_once_and_may_be_missing() -> None:
    assert routing._native_regex() is routing._native_regex()


def test_not_a_string_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a route pattern is a str, not bytes"):
        compile_pattern(b"/a")  # type: ignore[arg-type]


def test_compiled_pattern_and_error_pickle() -> None:
    compiled = compile_pattern("/items/{n:int}")
    again = pickle.loads(pickle.dumps(compiled))
    assert again == compiled
    assert again.match("/items/3") == ({"n": 3}, ("3",))
    error = RoutePatternError("/a/{}", "empty parameter name in '{}'")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)


# --- properties -------------------------------------------------------------------------------

SPECIAL = ".^$|?*+()[]\\"  # regex metacharacters a literal may hold (braces would be placeholders)
literal_char = st.one_of(
    st.sampled_from(SPECIAL + "/-#:&=%~ "),
    st.characters(codec="utf-8", exclude_categories=("C", "Zl", "Zp"), exclude_characters="{}"),
)
literal_text = st.text(literal_char, max_size=6)
value_char = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\x00")
names = st.lists(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True),
    min_size=1,
    max_size=4,
    unique=True,
)
orthanc_ids = st.from_regex(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}", fullmatch=True)


def values_for(converter: str) -> st.SearchStrategy[Any]:
    if converter == "int":
        return st.integers(min_value=0, max_value=10**30)
    if converter == "id":
        return orthanc_ids
    if converter == "path":
        return st.text(value_char, min_size=1, max_size=12)
    return st.text(value_char.filter(lambda c: c != "/"), min_size=1, max_size=8)


@dataclass(frozen=True)
class Placeholder:
    name: str
    converter: str
    spelled_out: bool  # '{x:str}' rather than '{x}'

    def __str__(self) -> str:
        if self.converter == "str" and not self.spelled_out:
            return f"{{{self.name}}}"
        return f"{{{self.name}:{self.converter}}}"


@dataclass
class Case:
    """A template as pieces (literal strings and placeholders) and values for it."""

    pieces: list[str | Placeholder]
    values: dict[str, Any]

    @property
    def template(self) -> str:
        return "".join(str(p) for p in self.pieces)

    def path(self, values: dict[str, Any] | None = None) -> str:
        values = self.values if values is None else values
        return "".join(p if isinstance(p, str) else str(values[p.name]) for p in self.pieces)

    @property
    def converters(self) -> set[str]:
        return {p.converter for p in self.pieces if isinstance(p, Placeholder)}

    @property
    def prefix(self) -> str:
        return str(self.pieces[0])

    @property
    def suffix(self) -> str:
        last = self.pieces[-1]
        return last if isinstance(last, str) else ""


@st.composite
def cases(draw: st.DrawFn, *, segments: bool = False) -> Case:
    """Arbitrary templates; with ``segments``, each placeholder is a whole path segment.

    Arbitrary templates may be ambiguous (``/{a}-{b}`` with a = ``x-y``); segment
    templates are not, since a ``path`` placeholder, if any, comes last.
    """
    params = draw(names)
    convs = [draw(st.sampled_from(["str", "int", "path", "id"])) for _ in params]
    if segments:
        convs = [c for c in convs if c != "path"] + [c for c in convs if c == "path"][:1]
        params = params[: len(convs)]
    first = "/" + draw(literal_text)
    if segments and not first.endswith("/"):
        first += "/"
    pieces: list[str | Placeholder] = [first]
    for index, (name, conv) in enumerate(zip(params, convs, strict=True)):
        pieces.append(Placeholder(name, conv, draw(st.booleans())))
        last = index == len(params) - 1
        if segments:
            tail = draw(literal_text.map(lambda t: "/" + t.replace("/", "")))
            pieces.append(tail + ("" if last else "/"))
        else:
            pieces.append(draw(literal_text if last else literal_text.filter(bool)))
    pieces = [p for p in pieces if p != ""]
    values = {name: draw(values_for(conv)) for name, conv in zip(params, convs, strict=True)}
    return Case(pieces, values)


@given(cases())
def test_compiled_template_is_a_valid_regex_with_one_unnamed_group_per_param(case: Case) -> None:
    compiled = compile_pattern(case.template)
    assert compiled.is_template
    assert compiled.param_names == tuple(case.values)
    python_regex = re.compile(compiled.regex, BOOST_FLAGS)
    assert python_regex.groups == len(case.values)
    assert python_regex.groupindex == {}
    assert "(?P" not in compiled.regex and "(?<" not in compiled.regex
    assert engine_accepts(compiled.regex)


@given(cases())
def test_template_matches_every_path_built_from_it_as_boost_does(case: Case) -> None:
    compiled = compile_pattern(case.template)
    path = case.path()
    found = compiled.match(path)
    assert found is not None
    params, groups = found
    assert engine_match(compiled.regex, path) == groups
    # Templates may be ambiguous ('/{a}-{b}' with a = 'x-y'): whatever split is chosen,
    # putting the groups back in gives the same path, and the params are the groups converted.
    assert case.path(dict(zip(compiled.param_names, groups, strict=True))) == path
    assert params == {
        name: int(group) if conv == "int" else group
        for name, conv, group in zip(compiled.param_names, compiled.converters, groups, strict=True)
    }


@given(cases(segments=True))
def test_segment_template_round_trips_its_params(case: Case) -> None:
    compiled = compile_pattern(case.template)
    found = compiled.match(case.path())
    assert found is not None
    assert found[0] == case.values


@given(cases(), st.data())
def test_template_refuses_a_different_literal_prefix_or_suffix(
    case: Case, data: st.DataObject
) -> None:
    path = case.path()
    at_end = bool(case.suffix) and data.draw(st.booleans())
    literal = case.suffix if at_end else case.prefix
    offset = data.draw(st.integers(0, len(literal) - 1))
    index = len(path) - len(literal) + offset if at_end else offset
    other = data.draw(literal_char.filter(lambda c: c != path[index]))
    changed = path[:index] + other + path[index + 1 :]
    compiled = compile_pattern(case.template)
    assert compiled.match(changed) is None
    assert engine_match(compiled.regex, changed) is None


@given(cases(), st.text(value_char.filter(lambda c: c != "/"), max_size=5), st.data())
def test_template_without_path_refuses_an_extra_segment(
    case: Case, extra: str, data: st.DataObject
) -> None:
    assume("path" not in case.converters)
    path = case.path()
    slashes = [i for i, c in enumerate(path) if c == "/"] + [len(path)]
    at = data.draw(st.sampled_from(slashes))
    longer = path[:at] + "/" + extra + path[at:]
    compiled = compile_pattern(case.template)
    assert compiled.match(longer) is None
    assert engine_match(compiled.regex, longer) is None


@given(
    st.text(
        st.sampled_from(string.ascii_letters + string.digits + SPECIAL + "{}/<>'=!:,"), max_size=12
    )
)
def test_any_pattern_either_compiles_to_a_regex_both_engines_accept_or_is_refused(
    text: str,
) -> None:
    try:
        compiled = compile_pattern(text)
    except RoutePatternError:
        return
    assert re.compile(compiled.regex, BOOST_FLAGS).groupindex == {}
    assert engine_accepts(compiled.regex)
