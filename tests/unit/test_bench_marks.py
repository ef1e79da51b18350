"""make bench marks each target met or missed beside its figure."""

from __future__ import annotations

from bench.run import verdict


def test_a_figure_at_or_under_its_target_is_met_and_over_it_missed() -> None:
    assert verdict(1.2, 1.2) == "<= 1.2x: met"
    assert verdict(1.21, 1.2) == "<= 1.2x: MISSED"
    assert verdict(0.2, 0.25, "of the RSA check") == "<= 0.25x of the RSA check: met"


def test_a_row_without_a_target_has_no_mark() -> None:
    assert verdict(3.0, None) == ""
    assert verdict(None, 1.0) == ""
