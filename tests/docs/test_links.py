"""Every relative link in the docs resolves: the file exists, and its #anchor is a heading there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs.pages import PAGES, ROOT, anchors, slug

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def links(path: Path) -> list[str]:
    """The targets of a page's markdown links, outside fenced code blocks."""
    found: list[str] = []
    fenced = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            found += LINK.findall(re.sub(r"`[^`]*`", "", line))
    return found


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(path: Path) -> None:
    for target in links(path):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        assert resolved.exists(), f"{path.name}: {target} names no file"
        assert resolved.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
        if anchor:
            assert resolved.suffix == ".md", f"{path.name}: {target}: an anchor into a non-page"
            assert anchor in anchors(resolved), f"{path.name}: {target}: no such heading"


def test_the_anchor_rule_is_githubs() -> None:
    assert slug("`make revoke USER=<username>` (incident response)") == (
        "make-revoke-userusername-incident-response"
    )
    assert slug("A method missing from `API_ROUTES` is denied, below parameters too") == (
        "a-method-missing-from-api_routes-is-denied-below-parameters-too"
    )
    assert (
        slug("Your API's shape: the example templates") == "your-apis-shape-the-example-templates"
    )


def test_every_page_of_the_manual_is_in_its_index() -> None:
    index = (ROOT / "docs" / "README.md").read_text()
    for path in (ROOT / "docs").glob("*.md"):
        if path.name != "README.md":
            assert f"]({path.name})" in index, path.name
