"""The never-arrows (CONTRIBUTING.md): which of our packages may never import which.

- ``greeter`` never imports ``authorizer``: they share only ``shared``.
- ``shared`` imports nothing of ours: it is the contract both Lambdas ship.
- Lambda code (``authorizer/``, ``greeter/``, ``shared/``) never imports the
  offline stack (``local/``) or the tests: neither is in an artifact.
- Inside ``authorizer/``, each group imports only the groups below it:
  ``app`` -> ``api`` -> ``tables`` -> ``verification`` -> ``operations`` ->
  ``exceptions``, and ``signout`` (a Lambda of its own) -> ``tables``; nothing
  imports ``signout``. No circle can form, and no arrow runs back up.

Read from every .py file of the repository with ``ast``, never by importing it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.imports import imported_modules, imported_packages

ROOT = Path(__file__).resolve().parents[2]
OURS = frozenset({"authorizer", "greeter", "shared", "local", "tests", "scripts", "bench"})
NEVER: dict[str, frozenset[str]] = {
    "authorizer": frozenset({"local", "tests"}),
    "greeter": frozenset({"authorizer", "local", "tests"}),
    "shared": OURS - {"shared"},
}
# The authorizer's groups, each with the groups it may import (besides itself and shared/).
# A module of authorizer/'s top level (app.py, exceptions.py) is a group of its own.
GROUP_MAY_IMPORT: dict[str, frozenset[str]] = {
    "app": frozenset({"api", "tables", "verification", "operations", "exceptions"}),
    "api": frozenset({"tables", "verification", "operations", "exceptions"}),
    "tables": frozenset({"verification", "operations", "exceptions"}),
    "verification": frozenset({"operations", "exceptions"}),
    "operations": frozenset({"exceptions"}),
    "exceptions": frozenset(),
    "signout": frozenset({"tables", "verification", "exceptions"}),
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
        (
            "greeter/app.py",
            "from authorizer.verification.config import load_config",
            {"authorizer"},
        ),
        ("greeter/app.py", "import shared.context\nfrom greeter.http import json_response", set()),
        ("shared/context.py", "import greeter", {"greeter"}),
        ("shared/context.py", "from . import exceptions\nimport json", set()),
        ("authorizer/app.py", "from local.cfn import REGION", {"local"}),
        (
            "authorizer/app.py",
            "import importlib\nimportlib.import_module('tests.forge')",
            {"tests"},
        ),
        (
            "local/stack.py",
            "from authorizer.verification.config import load_config\nimport tests",
            set(),
        ),
    ],
)
def test_the_check_sees_an_arrow(path: str, source: str, forbidden: set[str]) -> None:
    assert forbidden_imports(Path(path), source) == forbidden


def authorizer_group(relative: Path) -> str:
    """The group of a file or module under authorizer/: its folder, or its own name at the top.

    The package's own (empty) ``__init__`` is the entry's: nothing imports it by name.
    """
    name = relative.with_suffix("").parts[1]
    return "app" if name == "__init__" else name


def backward_arrows(relative: Path, source: str | bytes) -> set[str]:
    """The authorizer modules this file imports that its group may not import."""
    group = authorizer_group(relative)
    allowed = GROUP_MAY_IMPORT[group] | {group}
    return {
        name
        for name in imported_modules(source)
        if name.startswith("authorizer.")
        and authorizer_group(Path(*name.split("."))) not in allowed
    }


def test_every_module_of_the_authorizer_is_in_a_group() -> None:
    groups = {
        authorizer_group(relative)
        for path in python_files()
        if (relative := path.relative_to(ROOT)).parts[0] == "authorizer"
    }
    assert groups == set(GROUP_MAY_IMPORT)


def test_the_authorizer_groups_import_only_downwards() -> None:
    drawn = {
        str(relative): sorted(found)
        for path in python_files()
        if (relative := path.relative_to(ROOT)).parts[0] == "authorizer"
        and (found := backward_arrows(relative, path.read_bytes()))
    }
    assert drawn == {}


@pytest.mark.parametrize(
    ("path", "source", "drawn"),
    [
        (
            "authorizer/verification/verify.py",
            "from authorizer.tables import x",
            {"authorizer.tables"},
        ),
        (
            "authorizer/tables/revocation_list.py",
            "from authorizer.api.handler import Authorizer",
            {"authorizer.api.handler"},
        ),
        ("authorizer/operations/metrics.py", "import authorizer.exceptions", set()),
        (
            "authorizer/app.py",
            "from authorizer.signout.handler import SignOut",
            {"authorizer.signout.handler"},
        ),
        ("authorizer/signout/app.py", "from authorizer.signout.handler import SignOut", set()),
        ("authorizer/signout/handler.py", "from authorizer.api import rest", {"authorizer.api"}),
        (
            "authorizer/exceptions.py",
            "from authorizer.operations import metrics",
            {"authorizer.operations"},
        ),
    ],
)
def test_the_group_check_sees_a_backward_arrow(path: str, source: str, drawn: set[str]) -> None:
    assert backward_arrows(Path(path), source) == drawn
