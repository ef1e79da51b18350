"""Prints how many fuzz examples ran (``tests/security/fuzzing.py`` sets the budgets)."""

from __future__ import annotations

import pytest

from tests.security.fuzzing import EXAMPLES, PROFILE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EXAMPLES:
        total = sum(EXAMPLES.values())
        per_test = ", ".join(f"{name} {count}" for name, count in sorted(EXAMPLES.items()))
        terminalreporter.write_line(f"handler fuzz ({PROFILE}): {total} examples run ({per_test})")
