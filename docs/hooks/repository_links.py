"""Links from pages to the repository's own files (`../runtime/answers.py`) work in the site.

A page may link to any file of the repository beside docs/ with a relative link, as it would
on a forge. This hook adds each file so linked to the site under `repository/`, with its path
(mkdocs then copies it and checks the links to it), and points the link there, so the site
stays whole offline. A link to a file that does
not exist fails the build (mkdocs runs in strict mode), naming the page and the link.
Markdown files linked this way (benchmarks/results/*.md) are copied as they are, not
rendered: they are records of runs, with links of their own that only make sense in the
repository.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
SITE_FOLDER = "repository"
# [text](../path) or [text](../path#anchor), outside code spans and blocks (see _prose).
LINK = re.compile(r"\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)



def _prose(markdown: str) -> list[tuple[int, int]]:
    """The spans of the page outside fenced blocks, where links are links."""
    spans, start = [], 0
    for block in FENCE.finditer(markdown):
        spans.append((start, block.start()))
        start = block.end()
    spans.append((start, len(markdown)))
    return spans


class RepositoryFile(File):
    """A file of the repository, copied as it is: never rendered, whatever its suffix."""

    def is_documentation_page(self) -> bool:
        return False

    def is_static_page(self) -> bool:
        return False

    def is_media_file(self) -> bool:
        return True


def _targets(markdown: str, src_uri: str) -> list[tuple[re.Match[str], str | None]]:
    """Each link of a page to `../something`, with the repository file it names (None: a page)."""
    page_dir = posixpath.dirname(src_uri)
    found = []
    for start, end in _prose(markdown):
        for match in LINK.finditer(markdown, start, end):
            target = posixpath.normpath(posixpath.join("docs", page_dir, match.group(1)))
            if target.startswith("docs/"):
                found.append((match, None))
                continue
            if target.startswith("..") or not (ROOT / target).is_file():
                raise PluginError(f"{src_uri} links to {match.group(1)}, which is not a file of the repository")
            found.append((match, target))
    return found


def on_files(files: Files, config: Any) -> Files:
    linked: set[str] = set()
    for page in files.documentation_pages():
        linked.update(target for _, target in _targets(Path(page.abs_src_path).read_text(), page.src_uri) if target)
    for target in sorted(linked):
        file = RepositoryFile(f"{SITE_FOLDER}/{target}", str(ROOT), config["site_dir"], config["use_directory_urls"])
        file.abs_src_path = str(ROOT / target)
        files.append(file)
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    page_dir = posixpath.dirname(page.file.src_uri)
    out, last = [], 0
    for match, target in _targets(markdown, page.file.src_uri):
        if target is None:
            continue
        link = posixpath.relpath(f"{SITE_FOLDER}/{target}", page_dir or ".")
        out += [markdown[last:match.start()], f"]({link}{match.group(2) or ''})"]
        last = match.end()
    out.append(markdown[last:])
    return "".join(out)
