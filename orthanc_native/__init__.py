"""Where the built Orthanc plugin lives.

The plugin (``libOrthancRuntime.so``) is installed beside the ``_regex``
extension module of this package, so the extension's location tells where it
is, in a regular install as in an editable one.
"""

from __future__ import annotations

from pathlib import Path

PLUGIN_FILENAME = "libOrthancRuntime.so"


def plugin_path() -> Path:
    """The absolute path of the installed plugin library.

    Raises FileNotFoundError, saying how to build it, if it is missing.
    """
    try:
        from orthanc_native import _regex  # type: ignore[attr-defined]
    except ImportError as error:
        raise FileNotFoundError(
            "the orthanc-runtime plugin is not built: run `make install` (or `pip install .`)"
        ) from error
    path = Path(_regex.__file__).resolve().parent / PLUGIN_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `make install` (or `pip install .`)")
    return path
