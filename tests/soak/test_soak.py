"""The short soak in make test: the offline stack under a few hundred mixed requests.

``make soak`` runs the long version (tests/soak/run.py); this one keeps the same
checks on a small budget: zero wrong decisions, zero 5xx, no token in any log
line, and the authorizer processes' memory within a bound.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak.run import KIB, soak, summary

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="RSS is read from /proc (Linux)"
)


def test_short_soak_through_the_offline_stack() -> None:
    result = soak(
        requests=400,
        # A ceiling, not a target: 400 requests take a few seconds, but a busy
        # machine may take several times that and must not fail the count.
        seconds=60,
        concurrency=4,
        distinct_valid=150,
        warmup=100,
        max_growth_kib=8 * KIB,
    )
    report = result.report
    assert result.ok, summary(result)
    assert report["sent"] == report["checked"] == 400
    assert report["wrong"] == 0
    assert report["status5xx"] == 0
    assert set(report["byKind"]) == {"valid", "expired", "forged", "garbage", "missing"}
    # Result cache off: every request that carried a token was decided by the authorizer.
    expected = report["sent"] + result.warmup["sent"] - report["byKind"]["missing"]
    assert result.decisions_logged == expected
    assert result.leak is None
