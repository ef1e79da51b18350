"""The semantic mutant set follows the code: a refactor must update it, never silently void it.

``make mutate`` plants each mutant of tests/mutation/semantic.toml by exact
text; a snippet that is gone or ambiguous would make the run an error hours
later, so it is checked here, in ``make test``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

from tests.mutation.report import TRIAGE, load_semantic_triage
from tests.mutation.semantic import (
    KINDS,
    MUTANTS,
    ROOT,
    SemanticMutant,
    SnippetError,
    check_snippets,
    load_mutants,
)

SET = load_mutants()
# make mutate's mutmut runs the tests in its own copy, where it has rewritten every function:
# the snippets are checked against the real tree (make test), not that copy.
pytestmark = pytest.mark.skipif(
    any(
        "__mutmut_" in (ROOT / path).read_text(encoding="utf-8")
        for path in {m.file for m in SET if m.file.endswith(".py")}
    ),
    reason="mutmut's rewritten copy of the tree",
)


@pytest.mark.parametrize("mutant", SET, ids=lambda m: m.name)
def test_each_snippet_is_in_its_file_exactly_once_and_the_bug_still_parses(
    mutant: SemanticMutant,
) -> None:
    source = (ROOT / mutant.file).read_text(encoding="utf-8")
    mutated = mutant.apply(source)  # SnippetError unless exactly once
    if mutant.file.endswith(".py"):
        ast.parse(mutated, mutant.file)
    elif mutant.file.endswith(".yaml"):  # a template: still one the reader reads
        pytest.importorskip("samtranslator")  # the template reader's: not in mutmut's venv
        from local.cfn import _CfnLoader

        yaml.load(mutated, Loader=_CfnLoader)  # noqa: S506
    assert mutated != source


@pytest.mark.parametrize("mutant", SET, ids=lambda m: m.name)
def test_each_mutant_runs_tests_that_exist(mutant: SemanticMutant) -> None:
    assert mutant.tests, "name the tests that can kill it, or [tests] for its file"
    for test in mutant.tests:
        assert (ROOT / test).exists(), test


def test_every_class_of_bug_and_every_package_is_covered() -> None:
    assert {m.kind for m in SET} == KINDS
    files = {m.file for m in SET}
    for where in (
        "authorizer/verification/config.py",
        "authorizer/verification/rules.py",
        "authorizer/verification/verify.py",
    ):
        assert where in files
    for where in ("authorizer/verification/jwks.py", "authorizer/api/rest.py", "local/cors.py"):
        assert where in files
    assert {f.split("/")[0] for f in files} >= {"authorizer", "greeter", "shared", "local"}


def test_every_triaged_semantic_mutant_exists() -> None:
    assert set(load_semantic_triage(TRIAGE)) <= {m.name for m in SET}


def test_a_snippet_that_is_gone_or_twice_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("a = 1\nb = 1\n")
    gone = SemanticMutant("gone", "whole-match", "m.py", "c = 1", "c = 2", (), "")
    twice = SemanticMutant("twice", "whole-match", "m.py", "= 1", "= 2", (), "")
    for mutant in (gone, twice):
        with pytest.raises(SnippetError):
            check_snippets([mutant], tmp_path)
    check_snippets(
        [SemanticMutant("once", "whole-match", "m.py", "a = 1", "a = 2", (), "")], tmp_path
    )


def test_a_malformed_entry_is_refused(tmp_path: Path) -> None:
    entry = '[[mutant]]\nname = "x"\nkind = "{kind}"\nfile = "m.py"\noriginal = "a"\n'
    entry += 'replacement = "{replacement}"\nbug = "b"\n'
    problems = {("no-such-kind", "b"): "kind must be", ("whole-match", "a"): "changes nothing"}
    for (kind, replacement), problem in problems.items():
        path = tmp_path / "set.toml"
        path.write_text(entry.format(kind=kind, replacement=replacement))
        with pytest.raises(ValueError, match=problem):
            load_mutants(path)
    assert MUTANTS.is_file()
