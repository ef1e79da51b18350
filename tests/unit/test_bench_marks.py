"""make bench marks each target met or missed beside its figure."""

from __future__ import annotations

from bench.run import REVOCATION_COLD_START_ROW, REVOCATION_COLD_START_TARGET, verdict
from tests.docs.pages import documented


def test_a_figure_at_or_under_its_target_is_met_and_over_it_missed() -> None:
    assert verdict(1.2, 1.2) == "<= 1.2x: met"
    assert verdict(1.21, 1.2) == "<= 1.2x: MISSED"
    assert verdict(0.2, 0.25, "of the RSA check") == "<= 0.25x of the RSA check: met"


def test_a_row_without_a_target_has_no_mark() -> None:
    assert verdict(3.0, None) == ""
    assert verdict(None, 1.0) == ""


def test_the_revocation_cold_start_row_is_the_one_the_docs_name_with_its_target() -> None:
    documented(
        f"in its row `{REVOCATION_COLD_START_ROW}` (target: at most "
        f"{REVOCATION_COLD_START_TARGET:g}x)",
        where="docs/performance.md",
    )
    assert verdict(REVOCATION_COLD_START_TARGET, REVOCATION_COLD_START_TARGET).endswith(": met")
