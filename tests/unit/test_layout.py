"""The never-arrows (CONTRIBUTING.md): which of our packages may never import which.

- ``greeter`` never imports ``authorizer``: they share only ``shared``.
- ``shared`` imports nothing of ours: it is the contract both Lambdas ship.
- Lambda code (``authorizer/``, ``greeter/``, ``shared/``) never imports the
  offline stack (``local/``) or the tests: neither is in an artifact.

Read from every .py file of the repository with ``ast``, never by importing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported_packages

ROOT = Path(__file__).resolve().parents[2]
OURS = frozenset({"authorizer", "greeter", "shared", "local", "tests", "scripts", "bench"})
NEVER: dict[str, frozenset[str]] = {
    "authorizer": frozenset({"local", "tests"}),
    "greeter": frozenset({"authorizer", "local", "tests"}),
    "shared": OURS - {"shared"},
}
# Hidden directories (.venv, .venv-scan, .git, .aws-sam, ...) hold no code of ours, nor
# does mutants/, the mutation tester's working copy (make mutate).
SKIPPED_DIRS = {"__pycache__", "node_modules", "mutants"}


def python_files() -> list[Path]:
    return sorted(
        path
        for path in ROOT.rglob("*.py")
        if not SKIPPED_DIRS & set(path.relative_to(ROOT).parts)
        and not any(part.startswith(".") for part in path.relative_to(ROOT).parts)
    )


def forbidden_imports(relative: Path, source: str | bytes) -> set[str]:
    """The packages this file imports that its own package may never import."""
    package = relative.parts[0] if len(relative.parts) > 1 else ""
    return imported_packages(source) & NEVER.get(package, frozenset())


def test_every_package_of_ours_is_read() -> None:
    # A new top-level package must be placed in OURS (and in NEVER if it ships in a Lambda).
    packages = {path.relative_to(ROOT).parts[0] for path in python_files()}
    assert set(NEVER) <= packages
    assert packages <= OURS


def test_no_never_arrow_is_drawn() -> None:
    drawn = {
        str(path.relative_to(ROOT)): sorted(found)
        for path in python_files()
        if (found := forbidden_imports(path.relative_to(ROOT), path.read_bytes()))
    }
    assert drawn == {}


@pytest.mark.parametrize(
    ("path", "source", "forbidden"),
    [
        ("greeter/app.py", "from authorizer.config import load_config", {"authorizer"}),
        ("greeter/app.py", "import shared.context\nfrom greeter.http import json_response", set()),
        ("shared/context.py", "import greeter", {"greeter"}),
        ("shared/context.py", "from . import exceptions\nimport json", set()),
        ("authorizer/app.py", "from local.cfn import REGION", {"local"}),
        (
            "authorizer/app.py",
            "import importlib\nimportlib.import_module('tests.forge')",
            {"tests"},
        ),
        ("local/stack.py", "from authorizer.config import load_config\nimport tests", set()),
    ],
)
def test_the_check_sees_an_arrow(path: str, source: str, forbidden: set[str]) -> None:
    assert forbidden_imports(Path(path), source) == forbidden
