"""Prints how many fuzz examples ran (``tests/security/fuzzing.py`` sets the budgets).

The local JWKS endpoint and the authorizer rigged to it are defined with the
fault matrix and shared with the recovery tests.
"""

from __future__ import annotations

import pytest

from tests.security.fuzzing import EXAMPLES, PROFILE
from tests.security.test_jwks_faults import jwks_server, rig

__all__ = ["jwks_server", "rig"]  # fixtures for every test module here


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EXAMPLES:
        total = sum(EXAMPLES.values())
        per_test = ", ".join(f"{name} {count}" for name, count in sorted(EXAMPLES.items()))
        terminalreporter.write_line(f"handler fuzz ({PROFILE}): {total} examples run ({per_test})")
