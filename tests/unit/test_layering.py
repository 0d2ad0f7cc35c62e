"""The layering is checked by import-linter (pyproject.toml, [tool.importlinter]), and it bites.

`make lint` runs lint-imports on the tree; these tests run it on a copy of the
tree with one forbidden import added, and see the contract that names it
broken. They also check what ``import runtime`` may not do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# lint-imports on the copy: the editable install's finder would lead `runtime` back to the
# checkout, so it is left out; PYTHONPATH then finds the copy first.
LINT_IMPORTS = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "Redirecting" not in type(f).__name__]
sys.argv = ["lint-imports", "--no-cache"]
from importlinter.cli import lint_imports_command
lint_imports_command()
"""
PACKAGES = ("runtime", "pool", "recipes", "orthanc_native")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python files of the four packages and pyproject.toml, copied."""
    folder = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", folder)
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            target = folder / source.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return folder


def lint(folder: Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run([sys.executable, "-c", LINT_IMPORTS], cwd=folder, env=environment,
                          capture_output=True, text=True, timeout=120)


def with_import(tree: Path, tmp_path: Path, module: str, line: str) -> Path:
    """A copy of ``tree`` where ``module``'s file ends with ``line``."""
    folder = tmp_path / "tree"
    shutil.copytree(tree, folder)
    path = folder / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = folder / module.replace(".", "/") / "__init__.py"
    path.write_text(path.read_text() + "\n" + line + "\n")
    return folder


def test_the_tree_as_it_is_keeps_every_contract(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("pool.errors", "import runtime.http  # noqa", "the pool knows nothing of Orthanc"),
    ("runtime.sdk.transport", "from runtime import registry  # noqa", "runtime flows down"),
    ("runtime.backends.executor", "import runtime.callbacks.rest  # noqa", "runtime flows down"),
    ("runtime.callbacks.rest", "import runtime.devkit.cli  # noqa",
     "nothing loaded inside Orthanc imports the dev kit"),
    ("orthanc_native.codegen.emit", "import runtime.compat  # noqa",
     "the generator imports nothing of the runtime"),
    ("pool.shm", "import pool.pool  # noqa", "no import cycle among the modules of a package"),
])
def test_a_forbidden_import_breaks_its_contract(tree: Path, tmp_path: Path, module: str,
                                                line: str, contract: str) -> None:
    result = lint(with_import(tree, tmp_path, module, line))
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout


def test_import_runtime_loads_no_pool_and_leaves_the_orthanc_name_alone() -> None:
    code = ("import sys, runtime\n"
            "print(sorted(m for m in sys.modules if m == 'pool' or m.startswith('pool.')))\n"
            "print('orthanc' in sys.modules, 'runtime.compat' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split("\n")[:2] == ["[]", "False False"], result.stdout
