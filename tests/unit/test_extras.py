"""`pip install 'orthanc-runtime[test]'` is the script author's kit: exactly what its pytest
plugin (the orthanc_factory and dicom_files fixtures) imports beyond the dependencies.

The kit's imports are read from the sources: the plugin module named by the pytest11 entry
point, every module of the dev kit and of orthanc_native it reaches (all their imports, a
function's too: the fixtures call them), and what importing the other modules of the
project runs at module level (their own lazy imports belong to features with extras of
their own, such as dask).
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT_PACKAGES = {"runtime", "pool", "recipes", "orthanc_native",
                    "orthanc"}  # orthanc: the module the plugin gives a script (and its stubs)
FOLLOWED_WHOLE = ("runtime.devkit", "orthanc_native")
"""Modules whose functions the fixtures run: their imports inside functions count too."""


def module_file(module: str) -> Path | None:
    """The source of a module of this project, None for a name that is no module (an
    attribute imported with ``from``)."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, module: str, whole: bool) -> set[str]:
    """The modules (and ``module.attribute`` names) a source imports; ``whole``: in its
    functions too, else at module level (in an ``if`` or ``try`` there as well)."""
    tree = ast.parse(path.read_text())
    if whole:
        nodes = list(ast.walk(tree))
    else:
        nodes = []
        todo: list[ast.AST] = list(tree.body)
        while todo:
            node = todo.pop()
            nodes.append(node)
            if isinstance(node, ast.If | ast.Try):
                todo.extend(ast.iter_child_nodes(node))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "__import__" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def third_party_imports(start: str) -> dict[str, str]:
    """The top-level names of the third-party modules the kit imports, each with a module of
    the project that imports it."""
    found: dict[str, str] = {}
    seen: set[str] = set()
    todo = [(start, True)]
    while todo:
        module, whole = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = module_file(module)
        if path is None:
            continue
        for name in imported_names(path, module, whole):
            top = name.partition(".")[0]
            if top in PROJECT_PACKAGES:
                parts = name.split(".")
                # importing a.b.c runs a/__init__.py and a/b/__init__.py first
                todo.extend((".".join(parts[:i]), False) for i in range(1, len(parts)))
                todo.append((name, name.startswith(FOLLOWED_WHOLE)))
            elif top and top not in sys.stdlib_module_names and top != "__future__":
                found.setdefault(top, module)
    return found


def distributions(import_names: dict[str, str]) -> dict[str, str]:
    """The installed distributions that provide these modules, by canonical name."""
    providers = importlib.metadata.packages_distributions()
    found = {}
    for name, importer in import_names.items():
        assert name in providers, f"{importer} imports {name}, which no installed distribution provides"
        for distribution in providers[name]:
            found[canonicalize_name(distribution)] = f"{name} (imported by {importer})"
    return found


def requirement_names(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(each).name) for each in requirements}


def plugin_module() -> str:
    return str(PYPROJECT["project"]["entry-points"]["pytest11"]["orthanc_runtime"])


KIT = distributions(third_party_imports(plugin_module()))
DEPENDENCIES = requirement_names(PYPROJECT["project"]["dependencies"])
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def test_the_kit_is_the_testing_plugin_and_its_imports_are_found():
    assert plugin_module() == "runtime.devkit.testing"
    # what the plugin visibly imports: the walk is not empty-handed
    assert {"pytest", "psutil", "pydicom"} <= set(KIT)


def test_every_third_party_import_of_the_kit_is_in_the_test_extra_or_the_dependencies():
    test_extra = requirement_names(EXTRAS["test"])
    missing = {name: why for name, why in KIT.items() if name not in test_extra | DEPENDENCIES}
    assert not missing, f"pip install 'orthanc-runtime[test]' lacks {missing}"


def test_the_test_extra_carries_nothing_the_kit_does_not_import():
    """The project's own tools (ruff, mypy, import-linter, libclang...) are in [dev]."""
    extra = requirement_names(EXTRAS["test"])
    assert extra == set(KIT) - DEPENDENCIES


def test_make_install_installs_the_kit_and_the_projects_own_tools():
    makefile = (ROOT / "Makefile").read_text()
    assert "-e '.[test,dev,dask,docs,otel]'" in makefile
    tools = requirement_names(EXTRAS["dev"])
    assert {"ruff", "mypy", "import-linter", "libclang", "pytest-xdist"} <= tools


def test_the_readme_names_the_command_of_the_kit():
    readme = (ROOT / "README.md").read_text()
    assert "pip install 'orthanc-runtime[test]'" in readme
