"""The documentation as tests read it: README.md, SECURITY.md, CONTRIBUTING.md and docs/.

A fact lives on one page; a test that pins a fact to its page reads that page
(``page``, ``section``, ``table_rows``), and a test that only needs the docs
to say something reads them all (``CORPUS``, whitespace collapsed, since line
breaks fall anywhere in prose).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
DOCS: Final = ROOT / "docs"
PAGES: Final = (
    ROOT / "README.md",
    ROOT / "SECURITY.md",
    ROOT / "CONTRIBUTING.md",
    *sorted(DOCS.glob("*.md")),
)


def page(name: str) -> str:
    """One page's text, by its path from the repository root (``docs/configuration.md``)."""
    return (ROOT / name).read_text()


def collapsed(text: str) -> str:
    return " ".join(text.split())


CORPUS: Final = " ".join(collapsed(path.read_text()) for path in PAGES)


def documented(*phrases: str, where: str | None = None) -> None:
    """The promise is still written, in these words: on that page, or anywhere in the docs."""
    text = CORPUS if where is None else collapsed(page(where))
    for phrase in phrases:
        assert collapsed(phrase) in text, f"{where or 'the docs'} no longer say {phrase!r}"


def headings(text: str) -> list[tuple[int, str, int]]:
    """(level, title, line index) of each heading outside fenced code blocks."""
    found = []
    fenced = False
    for index, line in enumerate(text.splitlines()):
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = re.match(r"(#+) (.+)$", line)
        if not fenced and heading:
            found.append((len(heading[1]), heading[2].strip(), index))
    return found


def section(name: str, title: str) -> str:
    """The text of one section of a page, up to the next heading of its level or above."""
    text = page(name)
    lines = text.splitlines(keepends=True)
    marks = headings(text)
    for position, (level, heading, start) in enumerate(marks):
        if heading == title:
            end = next((i for lvl, _, i in marks[position + 1 :] if lvl <= level), len(lines))
            return "".join(lines[start:end])
    raise AssertionError(f"{name} has no section {title!r}")


def cells(line: str) -> list[str]:
    """A table row's cells, ``\\|`` (an escaped bar) kept inside its cell."""
    inner = line.strip()[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", inner)]


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of every table whose first header cell is ``first_header``."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("|") and cells(line)[0] == first_header:
            for row in lines[index + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(cells(row))
    return rows


def slug(title: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces as -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title).lower()
    kept = []
    for char in text:
        if char in "-_ " or unicodedata.category(char)[0] in "LN":
            kept.append("-" if char == " " else char)
    return "".join(kept)


def anchors(path: Path) -> set[str]:
    """Every anchor a page offers: its headings' slugs (repeats numbered, as GitHub does)."""
    seen: dict[str, int] = {}
    found = set()
    for _, title, _ in headings(path.read_text()):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found
