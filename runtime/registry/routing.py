"""Route patterns, compiled once to the regular expression Orthanc needs.

Orthanc matches the REST routes of a plugin with boost regex: the whole URI must
match (``regex_match``) and the groups the regex captures reach the plugin as a
list of strings. A Python-style named group such as ``(?P<id>...)`` makes boost
throw, and Orthanc exits. So every pattern a script gives to ``@route`` goes
through :func:`compile_pattern` when the route is declared, and a bad one fails
there, at import, naming the pattern.

A pattern is either

* a *template*, such as ``/thumbnails/{instance_id:id}`` or
  ``/files/{name:path}``: everything outside the ``{name}`` or
  ``{name:converter}`` placeholders is literal text, and each placeholder
  becomes exactly one unnamed group; or
* a *raw regex*, such as the official plugin's ``/pydicom/(.*)``: it is given to
  Orthanc as written, once it is known to mean the same thing to boost as to
  Python.

When the native module ``orthanc_native._regex`` can be imported, boost itself
has the last word on whether a pattern is acceptable; otherwise the checks made
here in Python stand alone.

    >>> p = compile_pattern("/series/{series_id:id}/frames/{index:int}")
    >>> p.regex
    '/series/([0-9a-f]{8}(?:-[0-9a-f]{8}){4})/frames/([0-9]+)'
    >>> p.match("/series/0123abcd-0123abcd-0123abcd-0123abcd-0123abcd/frames/7")[0]
    {'series_id': '0123abcd-0123abcd-0123abcd-0123abcd-0123abcd', 'index': 7}
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

__all__ = [
    "CONVERTERS",
    "ORTHANC_ID",
    "CompiledPattern",
    "Converter",
    "RoutePatternError",
    "compile_pattern",
]


class RoutePatternError(ValueError):
    """A route pattern that cannot be given to Orthanc.

    ``pattern`` is the pattern as written and ``cause`` says what is wrong with it.
    """

    def __init__(self, pattern: str, cause: str) -> None:
        super().__init__(f"route pattern {pattern!r}: {cause}")
        self.pattern = pattern
        self.cause = cause

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.pattern, self.cause))


@dataclass(frozen=True)
class Converter:
    """What a placeholder may match (``regex``, one group) and how its text becomes a value."""

    regex: str
    convert: Callable[[str], Any]


ORTHANC_ID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{8}){4}")
"""Orthanc's resource identifiers: five dash-separated groups of eight lowercase hex digits (a SHA-1)."""

CONVERTERS: dict[str, Converter] = {
    "str": Converter(r"([^/]+)", str),
    "int": Converter(r"([0-9]+)", int),
    "path": Converter(r"(.+)", str),
    "id": Converter(f"({ORTHANC_ID.pattern})", str),
}

# The flags under which Python reads a regex as boost does by default: '.' matches
# a newline, and '^' and '$' match at line boundaries.
_BOOST_LIKE_FLAGS = re.DOTALL | re.MULTILINE

# Characters that have a meaning in a regex outside a character class, for both
# boost's Perl syntax and Python's re. Only these are escaped in template
# literals, so that the regex stays readable and no escape is read differently.
_REGEX_SPECIAL = frozenset(".^$|?*+()[]{}\\")

# What makes a pattern a template: '{name}' or '{name:converter}', and also the
# broken '{}', '{:int}' and '{name:}', so that they fail as templates. A brace
# pair around digits is a regex repeat ('a{2}'), and a raw regex stays raw.
_PLACEHOLDER_LIKE = re.compile(r"\{(?:[^\W\d]\w*)?(?::[^{}]*)?\}")


@dataclass(frozen=True)
class CompiledPattern:
    """A route pattern and the regex that Orthanc is given for it.

    ``regex`` has unnamed groups only; for a template, exactly one group per
    parameter, in the order of ``param_names`` (whose converters are named in
    ``converters``).
    """

    source: str
    regex: str
    param_names: tuple[str, ...]
    is_template: bool
    converters: tuple[str, ...] = ()
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compiled", re.compile(self.regex, _BOOST_LIKE_FLAGS))

    @property
    def takes_values(self) -> bool:
        """Whether a match gives anything (template parameters or regex groups): when not,
        Orthanc's own match of the route is the whole answer."""
        return bool(self.param_names) or self._compiled.groups > 0

    def match(self, path: str) -> tuple[dict[str, Any], tuple[str, ...]] | None:
        """Match the whole of ``path`` as Orthanc would.

        Returns ``(params, groups)``: the template parameters converted to their
        types, and every group as a string (``""`` for a group that did not take
        part), which is what Orthanc hands a plugin. Returns ``None`` when
        ``path`` does not match.

        Python's ``re`` reads the regex here, with boost's defaults (``.``
        matches a line break; ``^`` and ``$`` match at line breaks). For a
        template the two engines agree; a raw regex with non-ASCII text may
        differ, as boost matches bytes.
        """
        found = self._compiled.fullmatch(path)
        if found is None:
            return None
        if not self.takes_values:
            return {}, ()
        groups = tuple(g if g is not None else "" for g in found.groups())
        params = {
            name: CONVERTERS[conv].convert(text)
            for name, conv, text in zip(self.param_names, self.converters, groups, strict=False)
        }
        return params, groups


def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile a route pattern, a template or a raw regex, to the regex for Orthanc.

        >>> compile_pattern("/items/{item_id:int}").regex
        '/items/([0-9]+)'
        >>> compile_pattern("/pydicom/(.*)").is_template
        False

    Raises :class:`RoutePatternError`, naming the pattern, if it cannot be used.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"a route pattern is a str, not {type(pattern).__name__}")
    if _PLACEHOLDER_LIKE.search(pattern):
        compiled = _compile_template(pattern)
    else:
        compiled = _compile_raw(pattern)
    _check_with_boost(pattern, compiled.regex)
    return compiled


def _compile_template(template: str) -> CompiledPattern:
    if not template.startswith("/"):
        raise RoutePatternError(template, "a template must start with '/'")
    parts: list[str] = []
    names: list[str] = []
    converters: list[str] = []
    i = previous_end = 0
    while i < len(template):
        char = template[i]
        if char == "}":
            raise RoutePatternError(template, f"unbalanced braces: '}}' at {i} closes nothing")
        if char != "{":
            parts.append("\\" + char if char in _REGEX_SPECIAL else char)
            i += 1
            continue
        end = template.find("}", i + 1)
        nested = template.find("{", i + 1)
        if end == -1:
            raise RoutePatternError(template, f"unbalanced braces: '{{' at {i} is never closed")
        if -1 < nested < end:
            raise RoutePatternError(
                template, f"nested braces: '{{' at {nested} is inside a placeholder"
            )
        name, conv = _parse_placeholder(template, template[i + 1 : end], names)
        if names and i == previous_end:
            # Where '{a}{b}' splits is arbitrary, and boost, which matches bytes,
            # may split inside a character where Python would not.
            raise RoutePatternError(
                template,
                f"placeholders {names[-1]!r} and {name!r} touch; put literal text between them",
            )
        names.append(name)
        converters.append(conv)
        parts.append(CONVERTERS[conv].regex)
        i = previous_end = end + 1
    return CompiledPattern(
        source=template,
        regex="".join(parts),
        param_names=tuple(names),
        is_template=True,
        converters=tuple(converters),
    )


def _parse_placeholder(template: str, inside: str, seen: list[str]) -> tuple[str, str]:
    name, colon, conv = inside.partition(":")
    if not name:
        raise RoutePatternError(template, f"empty parameter name in '{{{inside}}}'")
    if not name.isidentifier():
        raise RoutePatternError(template, f"parameter name {name!r} is not a Python identifier")
    if name in seen:
        raise RoutePatternError(template, f"duplicate parameter name {name!r}")
    if not colon:
        conv = "str"
    if conv not in CONVERTERS:
        known = ", ".join(sorted(CONVERTERS))
        raise RoutePatternError(
            template, f"unknown converter {conv!r} for {name!r} (known: {known})"
        )
    return name, conv


def _compile_raw(regex: str) -> CompiledPattern:
    cause = _python_only_syntax(regex)
    if cause is not None:
        raise RoutePatternError(regex, cause)
    try:
        compiled = re.compile(regex, _BOOST_LIKE_FLAGS)
    except re.error as exc:
        raise RoutePatternError(regex, f"not a valid regular expression: {exc}") from None
    if compiled.groupindex:  # a safety net: _python_only_syntax refuses them first
        raise RoutePatternError(regex, "named groups are not allowed")
    return CompiledPattern(source=regex, regex=regex, param_names=(), is_template=False)


def _python_only_syntax(regex: str) -> str | None:
    """Say what in ``regex`` boost would refuse or read unlike Python, if anything.

    This walks the regex as Python's parser would, skipping escaped characters
    and character classes, so that ``\\(?P<`` (an optional literal parenthesis)
    is not taken for a named group.
    """
    i, n = 0, len(regex)
    while i < n:
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1 : i + 2]
            if escaped in ("u", "U", "N"):
                return (
                    f"the escape '\\{escaped}' at {i} means something else to boost; "
                    "write the character itself"
                )
            i += 2
        elif char == "[":
            i, nested = _skip_class(regex, i)
            if nested is not None:
                return (
                    f"'[' inside a character class at {nested}: boost reads '[:alpha:]' there "
                    "as a POSIX class, Python as characters; write '\\['"
                )
        elif char == "(" and regex.startswith("?", i + 1):
            cause = _python_only_group(regex, i)
            if cause is not None:
                return cause
            i += 2
        elif char == "{":
            repeat = re.match(r"\{,[0-9]+\}", regex[i:])
            if repeat:
                return (
                    f"the repeat '{repeat.group()}' at {i} is a literal for boost; "
                    f"write '{{0{repeat.group()[1:]}'"
                )
            i += 1
        else:
            i += 1
    return None


def _python_only_group(regex: str, i: int) -> str | None:
    rest = regex[i + 2 :]
    if rest.startswith(("P=", "P>")):
        return f"named backreferences are not allowed (at {i}); use a numbered one such as '\\1'"
    if rest.startswith(("P<", "'")) or (rest.startswith("<") and not rest.startswith(("<=", "<!"))):
        return (
            f"named groups are not allowed (at {i}): Orthanc's regex engine rejects them; "
            "use an unnamed group '(...)', or a template such as '/items/{item_id}'"
        )
    if rest.startswith("("):
        return f"conditional groups '(?(...)...)' are not supported by boost (at {i})"
    flags = re.match(r"-?[a-zA-Z]+(?:-[a-zA-Z]*)?[:)]", rest)
    if flags:
        python_only = sorted(set(flags.group()) & set("aLu"))
        if python_only:
            return f"inline flag '{python_only[0]}' at {i} is Python-only; boost knows i, m, s, x"
    return None


def _skip_class(regex: str, start: int) -> tuple[int, int | None]:
    """Skip the character class opened at ``start``: where it ends, and where a ``[`` is inside."""
    i = start + 1
    nested = None
    if regex.startswith("^", i):
        i += 1
    if regex.startswith("]", i):  # a ']' first in a class is a literal
        i += 1
    while i < len(regex):
        if regex[i] == "\\":
            i += 2
        elif regex[i] == "]":
            return i + 1, nested
        else:
            if regex[i] == "[" and nested is None:
                nested = i
            i += 1
    return i, nested  # unterminated: re.compile reports it


@functools.cache
def _native_regex() -> ModuleType | None:
    """Orthanc's own regex engine (boost), when the native module is built."""
    try:
        return importlib.import_module("orthanc_native._regex")
    except ImportError:
        return None


def _check_with_boost(pattern: str, regex: str) -> None:
    engine = _native_regex()
    if engine is None:
        return
    message = engine.check(regex)
    if message is not None:
        raise RoutePatternError(pattern, f"Orthanc's regex engine (boost) refuses it: {message}")
