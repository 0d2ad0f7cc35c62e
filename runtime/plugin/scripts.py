"""The script and the recipes a start of the plugin imports: where they are, under which
module name, and the checks that come first.

A script is imported as a module named after its file, its folder first on ``sys.path``,
so that a worker finds an offloaded handler by module and name.
"""

from __future__ import annotations

import importlib
import importlib.util
import multiprocessing
import sys
from pathlib import Path
from typing import Any

RECIPES_GROUP = "orthanc_runtime.recipes"


def script_path(script: str, configuration_path: str) -> Path:
    """A relative script path is taken relative to the configuration file's folder."""
    path = Path(script)
    if path.is_absolute() or not configuration_path:
        return path
    base = Path(configuration_path)
    if not base.is_dir():
        base = base.parent
    return base / path


# The modules the runtime itself imports by these names: a script of the same name
# would replace them (a script named pool.py broke every offloaded handler).
RESERVED_MODULES = frozenset({"runtime", "pool", "recipes", "orthanc", "orthanc_native",
                              "_orthanc_native"})


class ModuleNameClash(ImportError):
    """The script's file name would shadow a module the runtime or Python needs."""


def check_module_name(name: str, path: Path) -> None:
    """Refuses a script whose module name is taken: by the runtime, the standard library,
    or an installed package (the script's folder goes first on ``sys.path``)."""
    taken = None
    if name in RESERVED_MODULES:
        taken = "orthanc-runtime"
    elif name in sys.stdlib_module_names:
        taken = "Python's standard library"
    else:
        existing = sys.modules.get(name)
        origin = getattr(existing, "__file__", None) if existing is not None else None
        if existing is None:
            if not name.isidentifier():
                return  # "changes-deadlock-3.0": no installed module has such a name
            spec = importlib.util.find_spec(name)
            origin = spec.origin if spec is not None else None
            if spec is None:
                return
        if origin is not None and Path(origin).resolve() == path.resolve():
            return
        taken = f"the installed module {origin or name}"
    raise ModuleNameClash(
        f"the script {path} would be imported as the module {name!r}, which is taken by "
        f"{taken}; rename the file (the names of orthanc-runtime's own modules are: "
        f"{', '.join(sorted(RESERVED_MODULES))})")


def keep_fork_as_default_start_method() -> None:
    """Python 3.14 made ``forkserver`` the default start method on Linux; inside Orthanc
    a script's own ``multiprocessing.Pool()`` keeps ``fork``, the default up to 3.13.

    A script is a module imported by name, never ``__main__``: a forkserver (or spawn)
    child that unpickles one of its functions imports the script again and runs its top
    level, so the seed's module-level ``POOL = multiprocessing.Pool(4)`` runs again in a
    daemonic child, which fails, and the pool replaces that child for ever. A forked
    child inherits the script as it is. A script that chose a start method keeps it; the
    ``@offload`` pool uses its own forkserver context whatever the default.
    """
    if sys.version_info >= (3, 14) and multiprocessing.get_start_method(allow_none=True) is None:
        multiprocessing.set_start_method("fork")


def import_script(path: Path) -> str:
    """Imports the script as a module named after its file; returns that name."""
    if path.suffix != ".py":
        raise ValueError(f"the script must be a .py file: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"the script {path} does not exist")
    name = path.stem
    check_module_name(name, path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: handlers pickle by reference
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return name


def enabled_recipes(section: dict[str, Any], scripts: list[Path]) -> list[tuple[str, str]]:
    """(name, module) of each recipe enabled in ``Recipes``, found by its entry point.

    A recipe that is itself the script is not imported twice.
    """
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group=RECIPES_GROUP)}
    result = []
    for name, recipe in section.get("Recipes", {}).items():
        if not recipe.get("Enabled"):
            continue
        if name not in found:
            raise LookupError(f"no recipe named {name} is installed (known: {sorted(found)})")
        spec = importlib.util.find_spec(found[name])
        if spec is not None and spec.origin and \
                any(Path(spec.origin).resolve() == script.resolve() for script in scripts):
            continue
        result.append((name, found[name]))
    return result
