"""Semantic mutants: hand-written, realistic bugs, planted one at a time in a scratch copy.

mutmut's operators are syntactic (a number, a comparison, a string). The bugs a
reviewer misses are not: a whole match loosened to a prefix match, ``all``
turned into ``any``, a byte cap counted in characters, an error state that
outlives the outage. ``tests/mutation/semantic.toml`` lists such bugs, each as
an exact snippet of today's code and its replacement. For each one this copies
the repository once to a temporary directory (never touching the work tree),
plants the bug there, runs the tests the mutant names (by default mutmut's
fast selection from pyproject.toml), and records whether a test failed
(killed) or none did (survived). ``tests/mutation/report.py`` then scores the
results against the triage, as it does mutmut's.

A mutant whose snippet is not in its file exactly once is an error, not a
skip: the set must follow the code (``tests/unit/test_semantic_mutants.py``
checks this in ``make test``).

Standard library only, besides pytest in the interpreter that runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess  # nosec B404 - runs pytest, a fixed command, in our own scratch copy
import sys
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
MUTANTS: Final = Path(__file__).resolve().parent / "semantic.toml"
RESULTS: Final = ROOT / "mutants" / "semantic.json"
# The classes of bug the set covers: each is a rule the docs state that a
# plausible change could loosen without any syntactic oddity.
KINDS: Final = frozenset(
    {
        "whole-match",  # a validator accepting what merely starts or ends like a valid value
        "refused-setting",  # a setting that must be refused, silently accepted
        "claim-rule",  # a documented claim rule loosened at its edge
        "size-unit",  # a size counted in the wrong unit
        "prefix-match",  # a prefix match where a whole match is meant, outside the validators
        "key-lifecycle",  # the key set's state after a fault, a rotation or a bake
        "list-refresh",  # the revocation list's cursor, a failed, partial or hung read, its bounds
        "entry-bound",  # a revocation entry's edge: its expiry, the issued-at it covers, its time
        "sign-out",  # the sign-out's order (Cognito first), its time stamp, what it refuses
        "one-answer",  # a token's answer depending on the path (the fast path, a re-derived deny)
        "partial-match",  # a key matched on part of itself (a REST route by its resource alone)
        "template-grant",  # a template's promise loosened: a role, a coupling, a unit, a range
        "tenancy",  # which tenant a token belongs to, and in which state, after a change
        "sdk-shortcut",  # a shortcut making the AWS SDK cheaper that changes what it does
        "scope",  # a policy, a permission, a source or a reach wider than the one it is for
    }
)
# Copied nowhere: environments, caches, mutmut's own working copy, build output.
NOT_COPIED: Final = (
    ".git",
    ".venv*",
    "mutants",
    "__pycache__",
    ".hypothesis",
    ".aws-sam",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".local-state",
    "node_modules",
)
TIMEOUT_SECONDS: Final = 180
# The baseline runs every test any selected mutant names, once, in one run.
BASELINE_TIMEOUT_SECONDS: Final = 1200
# pytest's exit codes: 1 a test failed, 2 interrupted (a collection error: the
# mutant broke an import), 3 internal error; 0 all passed; 4 usage, 5 no tests.
KILLED_CODES: Final = frozenset({1, 2, 3})


class SnippetError(ValueError):
    """A mutant's original snippet is not in its file exactly once."""


@dataclass(frozen=True)
class SemanticMutant:
    name: str
    kind: str
    file: str
    original: str
    replacement: str
    tests: tuple[str, ...]
    bug: str  # what a reviewer would have let through

    def apply(self, source: str) -> str:
        count = source.count(self.original)
        if count != 1:
            raise SnippetError(
                f"{self.name}: the original snippet occurs {count} times in {self.file}, "
                "not once: update tests/mutation/semantic.toml to the current code"
            )
        return source.replace(self.original, self.replacement)


def fast_selection(root: Path = ROOT) -> tuple[str, ...]:
    """mutmut's test selection (pyproject.toml): the unit and security tests, fuzz and slow off."""
    document = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return tuple(document["tool"]["mutmut"]["pytest_add_cli_args_test_selection"])


def load_mutants(path: Path = MUTANTS) -> list[SemanticMutant]:
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    # [tests]: the test files run for a mutant of each source file, unless it names its own.
    selections: dict[str, list[str]] = document.get("tests", {})
    mutants = []
    for entry in document.get("mutant", []):
        missing = {"name", "kind", "file", "original", "replacement", "bug"} - set(entry)
        if missing:
            raise ValueError(f"{entry.get('name', entry)}: missing {sorted(missing)}")
        if entry["kind"] not in KINDS:
            raise ValueError(f"{entry['name']}: kind must be one of {sorted(KINDS)}")
        if entry["original"] == entry["replacement"]:
            raise ValueError(f"{entry['name']}: the replacement changes nothing")
        mutants.append(
            SemanticMutant(
                name=entry["name"],
                kind=entry["kind"],
                file=entry["file"],
                original=entry["original"],
                replacement=entry["replacement"],
                tests=tuple(entry.get("tests", selections.get(entry["file"], ()))),
                bug=entry["bug"].strip(),
            )
        )
    names = [m.name for m in mutants]
    if len(set(names)) != len(names):
        raise ValueError("two semantic mutants share a name")
    return mutants


def check_snippets(mutants: Sequence[SemanticMutant], root: Path = ROOT) -> None:
    """Raise SnippetError unless every mutant's snippet is in its file exactly once."""
    for mutant in mutants:
        mutant.apply((root / mutant.file).read_text(encoding="utf-8"))


def scratch_copy(destination: Path) -> Path:
    tree = destination / "tree"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    return tree


def pytest_in(
    tree: Path, tests: Sequence[str], timeout: float = TIMEOUT_SECONDS
) -> tuple[int | None, str, str | None]:
    """Run ``tests`` in ``tree`` up to the first failure: (exit code, summary, failed test)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider"]
    command += ["-m", "not slow", *tests]
    # No bytecode is written, so a mutated module is never served from a stale .pyc.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        completed = subprocess.run(  # nosec B603 - a fixed pytest command line
            command, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", None
    lines = completed.stdout.strip().splitlines()
    # -rf: "FAILED <node id> - <message>"; a parametrized id may hold spaces itself.
    failed = next(
        (line[len("FAILED ") :].split(" - ")[0] for line in lines if line.startswith("FAILED ")),
        None,
    )
    return completed.returncode, lines[-1] if lines else "", failed


def selected(mutant: SemanticMutant, tree: Path) -> tuple[str, ...]:
    return mutant.tests or fast_selection(tree)


def run_one(mutant: SemanticMutant, tree: Path, killer: str | None = None) -> dict[str, object]:
    """Plant ``mutant`` in ``tree``, run its tests, put the file back; the outcome.

    ``killer`` is the test that killed it last time: run alone first, it
    settles most mutants in a second; only if it passes do the rest run.
    """
    target = tree / mutant.file
    original = target.read_text(encoding="utf-8")
    target.write_text(mutant.apply(original), encoding="utf-8")
    started = time.monotonic()
    try:
        code, summary, failed = (0, "", None) if killer is None else pytest_in(tree, [killer])
        if code == 0 or code in (4, 5):  # passed, or that test no longer exists
            code, summary, failed = pytest_in(tree, selected(mutant, tree))
    finally:
        target.write_text(original, encoding="utf-8")
    if code is None or code in KILLED_CODES:
        status = "killed"
    elif code == 0:
        status = "survived"
    else:
        status = f"error ({code})"
    return {
        "status": status,
        "kind": mutant.kind,
        "file": mutant.file,
        "seconds": round(time.monotonic() - started, 1),
        "pytest": summary,
        "killed_by": failed,
    }


class BaselineError(RuntimeError):
    """The tests fail on the unmutated copy: every mutant would look killed."""


def baseline(mutants: Sequence[SemanticMutant], tree: Path) -> None:
    """Every test a mutant will run passes on the unmutated copy, or nothing is scored."""
    tests = list(dict.fromkeys(test for mutant in mutants for test in selected(mutant, tree)))
    code, summary, _ = pytest_in(tree, tests, BASELINE_TIMEOUT_SECONDS)
    if code != 0:
        raise BaselineError(f"the tests fail without any mutant ({summary}): fix them first")
    print(f"baseline  unmutated copy: {summary}", flush=True)


def run_all(
    mutants: Sequence[SemanticMutant], jobs: int, killers: Mapping[str, str]
) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="semantic-mutants-") as scratch:
        trees: Queue[Path] = Queue()
        for index in range(max(1, min(jobs, len(mutants)))):
            trees.put(scratch_copy(Path(scratch) / str(index)))
        baseline(mutants, trees.queue[0])

        def work(mutant: SemanticMutant) -> tuple[SemanticMutant, dict[str, object]]:
            tree = trees.get()
            try:
                return mutant, run_one(mutant, tree, killers.get(mutant.name))
            finally:
                trees.put(tree)

        with ThreadPoolExecutor(max_workers=trees.qsize()) as pool:
            for mutant, outcome in pool.map(work, mutants):
                results[mutant.name] = outcome
                print(
                    f"{outcome['status']:9} {mutant.name} ({mutant.file}, {outcome['seconds']} s)",
                    flush=True,
                )
    return results


def previous_results(results: Path) -> dict[str, dict[str, object]]:
    try:
        document = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in document.items() if isinstance(v, dict)}


def previous_killers(results: Path) -> dict[str, str]:
    """Mutant name -> the test that killed it in the last run (none after a reset)."""
    return {
        name: killer
        for name, outcome in previous_results(results).items()
        if isinstance(killer := outcome.get("killed_by"), str)
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=MUTANTS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--jobs", type=int, default=1, help="scratch copies run side by side")
    parser.add_argument("names", nargs="*", help="only these mutants (default: all)")
    args = parser.parse_args(argv)

    mutants = load_mutants(args.mutants)
    try:
        check_snippets(mutants)
    except SnippetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.names:
        unknown = set(args.names) - {m.name for m in mutants}
        if unknown:
            print(f"error: no such semantic mutant: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        mutants = [m for m in mutants if m.name in args.names]
    started = time.monotonic()
    try:
        results = run_all(mutants, args.jobs, previous_killers(args.results))
    except BaselineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.names:  # a partial run updates the last full one
        results = {**previous_results(args.results), **results}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(results)} semantic mutants in {time.monotonic() - started:.0f} s: {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
