"""tests/mutation/report.py: the whole score, and each held module's own score, enforced."""

from __future__ import annotations

import pytest

from tests.mutation.report import MODULE_TARGETS, Mutant, module_report


def mutant(module: str, status: str, number: int) -> Mutant:
    return Mutant(f"{module}.x_f__mutmut_{number}", module, "f", "a => b", status)


def mutants_of(module: str, killed: int, survived: int) -> list[Mutant]:
    made = [mutant(module, "killed", n) for n in range(killed)]
    return made + [mutant(module, "survived", killed + n) for n in range(survived)]


def test_the_revocation_and_sign_out_code_is_held_to_the_target_on_its_own() -> None:
    assert set(MODULE_TARGETS) == {
        "authorizer.tables.revocation_list",
        "authorizer.tables.mirror",
        "authorizer.tables.revocation",
        "authorizer.tables.changelog",
        "authorizer.signout",
        "authorizer.operations.metrics",
    }
    assert set(MODULE_TARGETS.values()) == {95.0}


def test_a_module_under_its_target_fails_the_report_whatever_the_rest_scores(
    capsys: pytest.CaptureFixture[str],
) -> None:
    targets = {"pkg.held": 95.0}
    others = mutants_of("pkg.other", 1000, 0)
    # 94 of 100: under; the whole would be 99.4 %.
    assert module_report(others + mutants_of("pkg.held", 94, 6), [], targets) is False
    assert "module pkg.held: 94.0% (94 killed of 100 non-equivalent; 0 triaged; 6 open" in (
        capsys.readouterr().out
    )
    assert module_report(mutants_of("pkg.held", 95, 5), [], targets) is True


def test_a_triaged_mutant_leaves_the_modules_candidates_and_a_package_counts_its_modules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = mutants_of("pkg.held.handler", 18, 1)
    entry = mutants_of("pkg.held.app", 1, 1)
    equivalent = [entry[-1]]
    assert module_report(handler + entry, equivalent, {"pkg.held": 95.0}) is True
    assert "module pkg.held: 95.0% (19 killed of 20 non-equivalent; 1 triaged; 1 open" in (
        capsys.readouterr().out
    )
    assert module_report(mutants_of("pkg.heldout", 5, 0), [], {"pkg.held": 95.0}) is False
    assert "no mutants found" in capsys.readouterr().out
