"""CONTRIBUTING.md's layout table names every entry of the repository, and every file of the code.

The repository's files are git's (what a clone holds): each top-level entry has
a row, and each file of the product's and the tooling's packages is named in its
row by its path below the package, so a module added, moved or removed fails
here until the table follows.
"""

from __future__ import annotations

import re
import subprocess
from typing import Final

import pytest

from tests.docs.pages import ROOT, page, section, table_rows

LAYOUT: Final = table_rows(section("CONTRIBUTING.md", "Layout"), "path")
# Packages whose every file the table names (their __init__.py aside).
DETAILED: Final = ("authorizer", "greeter", "shared", "local", "scripts", "bench", "examples")


def tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return [path for path in done.stdout.split("\0") if path]


def named(cell: str) -> set[str]:
    return {name.rstrip("/") for name in re.findall(r"`([^`]+)`", cell)}


def row_of(entry: str) -> list[str]:
    [row] = [row for row in LAYOUT if entry in named(row[0])]
    return row


def test_every_top_level_entry_has_its_row_and_no_row_is_extra() -> None:
    entries = {path.split("/")[0] for path in tracked()}
    listed = [name for row in LAYOUT for name in named(row[0])]
    assert len(listed) == len(set(listed))
    assert set(listed) == entries


@pytest.mark.parametrize("package", DETAILED)
def test_every_file_of_a_package_is_named_in_its_row(package: str) -> None:
    files = {
        path.removeprefix(f"{package}/")
        for path in tracked()
        if path.startswith(f"{package}/") and not path.endswith("__init__.py")
    }
    assert files
    described = row_of(package)[1]
    missing = {name for name in files if f"`{name}`" not in described}
    assert not missing, f"CONTRIBUTING.md's {package}/ row does not name {sorted(missing)}"


def test_every_test_folder_is_named_in_the_tests_row() -> None:
    folders = {
        path.split("/")[1]
        for path in tracked()
        if path.count("/") >= 2 and path.startswith("tests/")
    }
    described = row_of("tests")[1]
    missing = {name for name in folders if f"`{name}/`" not in described}
    assert not missing, f"CONTRIBUTING.md's tests/ row does not name {sorted(missing)}"


def test_the_readme_no_longer_holds_the_layout() -> None:
    assert "| path | what lives there |" not in page("README.md")
