"""The mutation score of the last ``mutmut run``, with the survivors checked against the triage.

``make mutate`` runs mutmut (configured in pyproject.toml, ``[tool.mutmut]``),
then this. It reads mutmut's results from ``mutants/`` (the ``.meta`` file
beside each mutated source) and describes each surviving mutant by what it
changed: the function and the changed lines, which stay the same when mutants
are renumbered or code moves. A survivor whose description is in
``tests/mutation/triage.toml`` is equivalent (no test can tell it from the
original, for the reason given there); any other survivor counts against the
score and is printed, to be killed by a new test or triaged. A ``[[rule]]`` in
the triage file covers a whole kind of equivalent mutant (a function and a
change matched by regular expressions, e.g. the text of a deny's message,
which nothing ever shows); ``--equivalent`` lists what each rule covered.

The semantic mutants (hand-written bugs, ``tests/mutation/semantic.py``) are
scored the same way from ``mutants/semantic.json``: a survivor is open unless
a ``[[semantic]]`` entry of the triage names it, with the reason. Both scores
are printed; ``--semantic-only`` prints the second alone.

Standard library only: it runs with any of the project's interpreters.
Exit status 1 when a score is under its target (TARGET, each of MODULE_TARGETS
on its own, SEMANTIC_TARGET) or no results are found.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parents[2]
TRIAGE: Final = Path(__file__).resolve().parent / "triage.toml"
TARGET: Final = 95.0
# Each semantic mutant is a bug someone chose because it is realistic: every one is killed
# or triaged with a reason.
SEMANTIC_TARGET: Final = 100.0
SEMANTIC_RESULTS: Final = ROOT / "mutants" / "semantic.json"
# Code held to the target on its own, not only inside the whole score: the revocation
# list (its ledger, and the mechanism that keeps every table in memory current), its
# item format and sort key, the sign-out functions (their handlers and Lambda entry
# points) and the metrics they write. A module is a dotted prefix: "authorizer.signout"
# is the package.
MODULE_TARGETS: Final = {
    "authorizer.tables.revocation_list": TARGET,
    "authorizer.tables.mirror": TARGET,
    "authorizer.tables.revocation": TARGET,
    "authorizer.tables.changelog": TARGET,
    "authorizer.signout": TARGET,
    "authorizer.operations.metrics": TARGET,
}
# mutmut's exit codes (mutmut/stats.py): a mutant is killed when a test failed or
# timed out on it; 0 is a survivor, 33 and 5 mean no test ran it.
KILLED_CODES: Final = frozenset({1, 3, 36, 37, -24, 24, 152, 255, -11, -9})
SURVIVED_CODES: Final = frozenset({0})
NO_TESTS_CODES: Final = frozenset({5, 33})
SKIPPED_CODES: Final = frozenset({34})
# authorizer.verification.jwks.x_fetch_jwks__mutmut_3,
# authorizer.verification.jwks.xǁJwksCacheǁget_key__mutmut_12
MANGLED_DEF: Final = re.compile(r"def x[_ǁ]\S*?__mutmut_(?:orig|\d+)")
MUTANT_NAME: Final = re.compile(r"^(?P<module>.+)\.(?P<function>x[_ǁ].+)__mutmut_(?P<number>\d+)$")


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    function: str  # as written in the source: fetch_jwks, JwksCache.get_key
    change: str  # "old line => new line", the changed lines only
    status: str  # killed, survived, no tests, skipped, other


def readable(mangled: str) -> str:
    """``x_fetch_jwks`` -> ``fetch_jwks``; ``xǁJwksCacheǁget_key`` -> ``JwksCache.get_key``."""
    if mangled.startswith("xǁ"):
        return ".".join(mangled[2:].split("ǁ"))
    return mangled[2:]


def status_of(code: int | None) -> str:
    if code in KILLED_CODES:
        return "killed"
    if code in SURVIVED_CODES:
        return "survived"
    if code in NO_TESTS_CODES:
        return "no tests"
    if code in SKIPPED_CODES:
        return "skipped"
    return "not checked" if code is None else f"other ({code})"


def function_sources(path: Path) -> dict[str, str]:
    """Every function in the mutated file by name (methods as Class's mangled names)."""
    source = path.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = ast.get_source_segment(source, node) or ""
    return found


def describe(original: str, mutated: str) -> str:
    """The lines the mutant changed, stripped: ``old => new`` (``;`` between several)."""
    removed, added = [], []
    # The def lines differ in the mangled names mutmut gave the copies.
    body_old = MANGLED_DEF.sub("def ", original).splitlines()
    body_new = MANGLED_DEF.sub("def ", mutated).splitlines()
    for line in difflib.ndiff(body_old, body_new):
        if line.startswith("- "):
            removed.append(line[2:].strip())
        elif line.startswith("+ "):
            added.append(line[2:].strip())
    return f"{' ; '.join(removed)} => {' ; '.join(added)}"


def load_mutants(mutants_dir: Path) -> list[Mutant]:
    mutants = []
    for meta in sorted(mutants_dir.rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        sources = function_sources(meta.with_suffix(""))
        for name, code in codes.items():
            match = MUTANT_NAME.match(name)
            if match is None:
                raise ValueError(f"unexpected mutant name {name!r}")
            mangled = match["function"]
            change = describe(
                sources.get(f"{mangled}__mutmut_orig", ""),
                sources.get(f"{mangled}__mutmut_{match['number']}", ""),
            )
            mutants.append(
                Mutant(name, match["module"], readable(mangled), change, status_of(code))
            )
    return mutants


@dataclass(frozen=True)
class Rule:
    name: str
    function: re.Pattern[str]
    change: re.Pattern[str]
    reason: str

    def covers(self, mutant: Mutant) -> bool:
        return bool(
            self.function.fullmatch(f"{mutant.module}.{mutant.function}")
            and self.change.fullmatch(mutant.change)
        )


def load_triage(path: Path) -> tuple[dict[tuple[str, str], str], list[Rule]]:
    """(module.function, change) -> why that mutant is equivalent; and the rules."""
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    triage = {}
    for entry in document.get("equivalent", []):
        key = (entry["function"], entry["change"])
        if key in triage:
            raise ValueError(f"triaged twice: {key}")
        if not entry.get("reason", "").strip():
            raise ValueError(f"no reason given for {key}")
        triage[key] = entry["reason"]
    rules = []
    for entry in document.get("rule", []):
        if not entry.get("reason", "").strip():
            raise ValueError(f"no reason given for rule {entry['name']}")
        rules.append(
            Rule(
                entry["name"],
                re.compile(entry["function"]),
                re.compile(entry["change"]),
                entry["reason"],
            )
        )
    return triage, rules


def load_semantic_triage(path: Path) -> dict[str, str]:
    """Semantic mutant name -> why no test can tell it from the original."""
    triage = {}
    for entry in tomllib.loads(path.read_text(encoding="utf-8")).get("semantic", []):
        if not entry.get("reason", "").strip():
            raise ValueError(f"no reason given for semantic mutant {entry['name']}")
        if entry["name"] in triage:
            raise ValueError(f"semantic mutant triaged twice: {entry['name']}")
        triage[entry["name"]] = entry["reason"]
    return triage


def semantic_report(results_path: Path, triage_path: Path, target: float) -> bool | None:
    """Print the semantic mutants' score; whether it meets ``target`` (None: no results)."""
    if not results_path.is_file():
        print(f"no semantic mutant results at {results_path}", file=sys.stderr)
        return None
    results: dict[str, dict[str, object]] = json.loads(results_path.read_text(encoding="utf-8"))
    triage = load_semantic_triage(triage_path)
    statuses = Counter(str(outcome["status"]) for outcome in results.values())
    equivalent = [name for name, o in results.items() if o["status"] != "killed" and name in triage]
    open_names = [n for n, o in results.items() if o["status"] != "killed" and n not in triage]
    for name in sorted(open_names):
        outcome = results[name]
        print(f"{outcome['status']:9} semantic {name} ({outcome['file']}, {outcome['kind']})")
    for name in sorted(set(triage) - set(equivalent)):
        print(f"semantic triage entry matches no surviving mutant: {name}")
    killed = statuses["killed"]
    candidates = len(results) - len(equivalent)
    score = 100.0 * killed / candidates if candidates else 100.0
    print(
        f"semantic mutants: {len(results)}; "
        + ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))
    )
    kinds = Counter(str(o["kind"]) for o in results.values())
    killed_by_kind = Counter(str(o["kind"]) for o in results.values() if o["status"] == "killed")
    print(
        "semantic mutants killed by kind: "
        + ", ".join(f"{kind} {killed_by_kind[kind]}/{n}" for kind, n in sorted(kinds.items()))
    )
    print(
        f"semantic mutation score: {score:.1f}% ({killed} killed of {candidates} "
        f"non-equivalent; {len(equivalent)} triaged as equivalent; {len(open_names)} open; "
        f"target {target:.0f}%)"
    )
    return score >= target


def in_module(mutant: Mutant, module: str) -> bool:
    return mutant.module == module or mutant.module.startswith(f"{module}.")


def module_report(
    mutants: list[Mutant], equivalent: list[Mutant], targets: dict[str, float]
) -> bool:
    """Print each held module's own score; whether every one meets its target."""
    met = True
    for module, target in targets.items():
        own = [m for m in mutants if in_module(m, module)]
        triaged = sum(1 for m in equivalent if in_module(m, module))
        killed = sum(1 for m in own if m.status == "killed")
        candidates = len(own) - triaged
        score = 100.0 * killed / candidates if candidates else 100.0
        if not own or score < target:
            met = False
        print(
            f"module {module}: {score:.1f}% ({killed} killed of {candidates} non-equivalent; "
            f"{triaged} triaged; {candidates - killed} open; target {target:.0f}%)"
            + ("" if own else " - no mutants found")
        )
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants")
    parser.add_argument("--triage", type=Path, default=TRIAGE)
    parser.add_argument("--target", type=float, default=TARGET)
    parser.add_argument("--semantic", type=Path, default=SEMANTIC_RESULTS)
    parser.add_argument("--semantic-target", type=float, default=SEMANTIC_TARGET)
    parser.add_argument("--semantic-only", action="store_true", help="the semantic score alone")
    parser.add_argument("--equivalent", action="store_true", help="list what each rule covered")
    args = parser.parse_args(argv)

    if args.semantic_only:
        met = semantic_report(args.semantic, args.triage, args.semantic_target)
        return 0 if met else 1
    mutants = load_mutants(args.mutants)
    if not mutants:
        print(f"no mutation results under {args.mutants}: run `make mutate`", file=sys.stderr)
        return 1
    triage, rules = load_triage(args.triage)
    statuses = Counter(m.status for m in mutants)
    by_entry: list[Mutant] = []
    by_rule: dict[str, list[Mutant]] = {rule.name: [] for rule in rules}
    open_mutants: list[Mutant] = []
    for mutant in mutants:
        if mutant.status == "killed":
            continue
        if (f"{mutant.module}.{mutant.function}", mutant.change) in triage:
            by_entry.append(mutant)
            continue
        rule = next((rule for rule in rules if rule.covers(mutant)), None)
        if rule is None:
            open_mutants.append(mutant)
        else:
            by_rule[rule.name].append(mutant)
    equivalent = by_entry + [m for covered in by_rule.values() for m in covered]
    candidates = len(mutants) - len(equivalent)
    killed = statuses["killed"]
    score = 100.0 * killed / candidates if candidates else 100.0

    for mutant in sorted(open_mutants, key=lambda m: (m.module, m.function, m.change)):
        print(f"{mutant.status:9} {mutant.module}.{mutant.function}: {mutant.change}")
        print(f"          ({mutant.name})")
    used = {(f"{m.module}.{m.function}", m.change) for m in by_entry}
    for function, change in sorted(set(triage) - used):
        print(f"triage entry matches no surviving mutant (code changed?): {function}: {change}")
    for name, covered in by_rule.items():
        print(f"rule {name!r}: {len(covered)} equivalent mutant(s)")
        if args.equivalent:
            for mutant in covered:
                print(f"    {mutant.module}.{mutant.function}: {mutant.change}")
    print(
        f"mutants: {len(mutants)}; "
        + ", ".join(f"{status} {count}" for status, count in sorted(statuses.items()))
    )
    print(
        f"mutation score: {score:.1f}% ({killed} killed of {candidates} non-equivalent; "
        f"{len(equivalent)} triaged as equivalent; {len(open_mutants)} open; "
        f"target {args.target:.0f}%)"
    )
    modules_met = module_report(mutants, equivalent, MODULE_TARGETS)
    semantic_met = semantic_report(args.semantic, args.triage, args.semantic_target)
    return 0 if score >= args.target and modules_met and semantic_met else 1


if __name__ == "__main__":
    sys.exit(main())
