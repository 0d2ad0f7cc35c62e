"""The operator page: ``GET /runtime/ui/index.html`` (HTML, one script, one style sheet), and
its link in Orthanc Explorer; ``/runtime/ui`` redirects there.

The page is three files of this package (``page/``), read once at start and
served as they are: nothing comes from the internet, nothing is built. Its
script polls ``../status`` (runtime.callbacks.status) and ``../../jobs?expand``
every two seconds while the page is open (never while it is hidden), with
relative URLs (Orthanc matches a route without its trailing slash, so the page has a file
name of its own, from which ``../status`` is /runtime/status), so that Orthanc's authentication and a reverse proxy's prefix
apply; with no page open nothing of it runs in the master.

Orthanc Explorer gets a button on its home page (``ExtendOrthancExplorer``).
Orthanc Explorer 2 (Orthanc 1.12.4 and later) is not packaged in Debian; the
page is reached there by its address.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from runtime.http import Request, Response
from runtime.registry import Registry

UI_ROUTE = "/runtime/ui"
_FOLDER = Path(__file__).with_name("page")
_FILES = {"index.html": ("index.html", "text/html; charset=utf-8"),
          "page.js": ("page.js", "text/javascript; charset=utf-8"),
          "page.css": ("page.css", "text/css; charset=utf-8")}

EXPLORER_LINK = """
// orthanc-runtime: a button to the operator page on Orthanc Explorer's home page
$('#lookup').live('pagebeforeshow', function () {
  if ($('#orthanc-runtime-page').length > 0) {
    return;
  }
  $('<a id="orthanc-runtime-page" data-role="button" data-icon="grid" rel="external" ' +
    'href="../runtime/ui/index.html">Python runtime: live status</a>')
    .insertAfter('#lookup-result')
    .button();
});
"""
"""jQuery Mobile, as Orthanc Explorer is; the href is relative to /app/explorer.html."""


class Page:
    """The page's files, read once."""

    def __init__(self) -> None:
        self.files = {name: Response((_FOLDER / file).read_bytes(), 200, kind,
                                     {"Cache-Control": "no-cache"})
                      for name, (file, kind) in _FILES.items()}

    def index(self, request: Request) -> Response:
        return self.files["index.html"]

    @staticmethod
    def to_index(request: Request) -> Response:
        """``/runtime/ui``: to the page (relative, for a reverse proxy's prefix)."""
        return Response(b"", 301, headers={"Location": "ui/index.html"})

    def script(self, request: Request) -> Response:
        return self.files["page.js"]

    def style(self, request: Request) -> Response:
        return self.files["page.css"]


def add_routes(handlers: Registry) -> None:
    page = Page()
    handlers.add_route(UI_ROUTE, page.to_index, ["GET"])
    handlers.add_route(UI_ROUTE + "/index.html", page.index, ["GET"])
    handlers.add_route(UI_ROUTE + "/page.js", page.script, ["GET"])
    handlers.add_route(UI_ROUTE + "/page.css", page.style, ["GET"])


class ExplorerExtensions:
    """Orthanc Explorer's extension by this plugin: the button to the page, and what the
    scripts add with ``ExtendOrthancExplorer``.

    Orthanc keeps one Orthanc Explorer script per plugin, a property of the plugin that each
    call replaces (seen on 1.10.1: a script's call after ours left only the script's). So the
    calls are kept here and Orthanc is given them all, joined, at each: ``native_view`` is the
    native binding with ``ExtendOrthancExplorer`` going through :meth:`extend`, for
    runtime.sdk.transport, which every SDK call of a script goes through.
    """

    def __init__(self, native: Any) -> None:
        self.native = native
        self.scripts = [EXPLORER_LINK]

    def native_view(self) -> types.ModuleType:
        """The binding's functions (copied: an SDK call looks up its function by name on
        whatever transport holds, so a lookup must cost no more than on the module itself),
        less ``ExtendOrthancExplorer``; anything added to the module later is still found."""
        native = self.native
        view = types.ModuleType(getattr(native, "__name__", "_orthanc_native"))
        view.__dict__.update({k: v for k, v in vars(native).items() if not k.startswith("__")})
        view.ExtendOrthancExplorer = self.extend  # type: ignore[attr-defined]
        view.__getattr__ = lambda name: getattr(native, name)  # type: ignore[method-assign]
        return view

    def extend(self, javascript: str) -> None:
        self.scripts.append(javascript)
        self.install()

    def install(self) -> None:
        """Gives Orthanc every script kept, the button's first."""
        self.native.ExtendOrthancExplorer("\n".join(self.scripts))
