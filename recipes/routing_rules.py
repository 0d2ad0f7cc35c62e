"""Auto-routing rules: the AutoRouting settings checked and compiled, and the tags rules look at.

Used by recipes.autorouting; kept apart so that the rules can be read (and
tested) without the thread that sends studies.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

from pydicom.datadict import tag_for_keyword

from runtime import sdk

# -- the configuration, compiled ---------------------------------------------------------------

@dataclass(frozen=True)
class Destination:
    """A DICOM modality or an Orthanc peer, by its name in Orthanc's configuration."""

    kind: Literal["modality", "peer"]
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def store_uri(self) -> str:
        collection = "modalities" if self.kind == "modality" else "peers"
        return f"/{collection}/{quote(self.name, safe='')}/store"


@dataclass(frozen=True)
class Rule:
    """Filters on DICOM tags, all of which must match, and where a matching resource goes."""

    name: str
    globs: Mapping[str, str]
    regexes: Mapping[str, re.Pattern[str]]
    destinations: tuple[Destination, ...]

    @property
    def tags(self) -> set[str]:
        return set(self.globs) | set(self.regexes)

    def matches(self, tags: Mapping[str, list[str]]) -> bool:
        """True if every filter matches one of the tag's values (an absent tag is empty)."""
        for keyword, pattern in self.globs.items():
            values = tags.get(keyword) or [""]
            if not any(fnmatch.fnmatchcase(v.lower(), pattern.lower()) for v in values):
                return False
        for keyword, regex in self.regexes.items():
            values = tags.get(keyword) or [""]
            if not any(regex.fullmatch(v) for v in values):
                return False
        return True


@dataclass(frozen=True)
class Plan:
    """The AutoRouting settings, checked and compiled once."""

    level: Literal["Study", "Series"]
    rules: tuple[Rule, ...]
    retries: int
    retry_delay: float
    retry_max_delay: float
    poll_interval: float
    history: int

    def delay(self, attempts: int) -> float:
        """Seconds to wait before attempt ``attempts + 1``: RetryDelay, doubling, capped."""
        return float(min(self.retry_max_delay, self.retry_delay * 2 ** (attempts - 1)))


def _keyword(where: str, keyword: str) -> str:
    if tag_for_keyword(keyword) is None:
        raise ValueError(f"{where}: {keyword!r} is not a DICOM keyword (such as StudyDescription)")
    return keyword


def compile_rule(index: int, rule: Mapping[str, Any]) -> Rule:
    """A rule of the configuration, checked: keywords, regular expressions, destinations."""
    where = f"Recipes.AutoRouting.Rules[{index}]"
    globs = {_keyword(f"{where}.Match", k): str(v) for k, v in rule.get("Match", {}).items()}
    regexes = {}
    for keyword, pattern in rule.get("MatchRegex", {}).items():
        _keyword(f"{where}.MatchRegex", keyword)
        try:
            regexes[keyword] = re.compile(pattern)
        except re.error as error:
            raise ValueError(f"{where}.MatchRegex.{keyword}: bad regular expression "
                             f"{pattern!r}: {error}") from None
    destinations = tuple(
        [Destination("modality", name) for name in rule.get("Modalities", [])]
        + [Destination("peer", name) for name in rule.get("Peers", [])]
    )
    if not destinations:
        raise ValueError(f"{where}: no destination; give Modalities or Peers")
    return Rule(str(rule.get("Name") or f"rule {index}"), globs, regexes, destinations)


def compile_settings(section: Mapping[str, Any]) -> Plan:
    """The Plan of an AutoRouting section; ValueError naming the setting if one is wrong."""
    return Plan(
        level=section["Level"],
        rules=tuple(compile_rule(i, rule) for i, rule in enumerate(section["Rules"])),
        retries=int(section["Retries"]),
        retry_delay=float(section["RetryDelay"]),
        retry_max_delay=float(section["RetryMaxDelay"]),
        poll_interval=float(section["PollInterval"]),
        history=int(section["History"]),
    )


# -- the tags a rule looks at -------------------------------------------------------------------

def _add(tags: dict[str, list[str]], source: Mapping[str, Any]) -> None:
    for keyword, value in source.items():
        if isinstance(value, str) and value not in tags.setdefault(keyword, []):
            tags[keyword].append(value)


def resource_tags(level: str, resource_id: str, wanted: set[str]) -> dict[str, list[str]]:
    """Every value of each tag in the resource: main tags first, one instance's if still missing."""
    tags: dict[str, list[str]] = {}
    if level == "Study":
        study = sdk.rest_get(f"/studies/{resource_id}")
        series = sdk.rest_get(f"/studies/{resource_id}/series")
    else:
        one = sdk.rest_get(f"/series/{resource_id}")
        study = sdk.rest_get(f"/studies/{one['ParentStudy']}")
        series = [one]
    _add(tags, study.get("PatientMainDicomTags", {}))
    _add(tags, study.get("MainDicomTags", {}))
    for item in series:
        _add(tags, item.get("MainDicomTags", {}))
    if wanted - set(tags):
        instance = next((s["Instances"][0] for s in series if s.get("Instances")), None)
        if instance is not None:
            _add(tags, sdk.rest_get(f"/instances/{instance}/simplified-tags"))
    return tags
