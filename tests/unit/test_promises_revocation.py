"""What docs/revocation.md, docs/configuration.md and SECURITY.md promise about revocation.

As in test_promises.py: each value is a literal, as the docs state it, and each
test first checks that the docs still say it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import responses

from authorizer import exceptions
from authorizer.exceptions import RevocationUnavailable
from authorizer.operations import metrics
from authorizer.tables.revocation import FAMILY, USER, cursor, revocation_item
from authorizer.tables.revocation_list import RevocationList
from shared.exceptions import ConfigurationError
from tests.docs.pages import documented
from tests.forge import authorizer_event, claims, sign
from tests.helpers import FakeClock, FakeRevocationTable, WiredAuthorizer, make_config
from tests.helpers import wire_authorizer as wire

SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"


@pytest.fixture
def table() -> FakeRevocationTable:
    return FakeRevocationTable()


@pytest.fixture
def revoking(
    clock: FakeClock, jwks_endpoint: responses.RequestsMock, table: FakeRevocationTable
) -> WiredAuthorizer:
    config = make_config(REVOCATION_TABLE="revocations")
    return wire(config, clock, warm=True, revocation_query=table)


def revocations_of(wired: WiredAuthorizer) -> RevocationList:
    revocations = wired.verifier.revocations
    assert isinstance(revocations, RevocationList)
    return revocations


def allowed(wired: WiredAuthorizer, token: str) -> bool:
    return bool(wired.handle(authorizer_event(token))["isAuthorized"])


def test_the_reason_codes_are_documented_and_are_the_products() -> None:
    documented(
        "`revoked` (with revocation on: the token's family or its user is on the revocation list)",
        "`revocation_unavailable` (the revocation list could not be read for "
        "`REVOCATION_MAX_STALE_SECONDS`)",
    )
    assert exceptions.Revoked.reason == "revoked"
    assert issubclass(exceptions.Revoked, exceptions.TokenError)  # a deny
    assert exceptions.RevocationUnavailable.reason == "revocation_unavailable"
    assert not issubclass(exceptions.RevocationUnavailable, exceptions.TokenError)  # a raise


@pytest.mark.parametrize(
    ("name", "lowest", "highest", "default"),
    [("REVOCATION_REFRESH_SECONDS", 1, 300, 10), ("REVOCATION_MAX_STALE_SECONDS", 10, 3600, 120)],
)
def test_documented_ranges_and_defaults(name: str, lowest: int, highest: int, default: int) -> None:
    documented(
        "| `REVOCATION_REFRESH_SECONDS` | authorizer, connections | `10` | 1 to 300 |",
        "| `REVOCATION_MAX_STALE_SECONDS` | authorizer, connections | `120`, or the refresh "
        "interval if longer "
        "| from `REVOCATION_REFRESH_SECONDS` to 3600 |",
        where="docs/configuration.md",
    )
    attribute = name.lower()
    assert getattr(make_config(), attribute) == default
    assert getattr(make_config(**{name: str(lowest)}), attribute) == lowest
    assert getattr(make_config(**{name: str(highest)}), attribute) == highest
    for outside in (lowest - 1, highest + 1):
        with pytest.raises(ConfigurationError, match=name):
            make_config(**{name: str(outside)})
    assert make_config(REVOCATION_REFRESH_SECONDS="300").revocation_max_stale_seconds == 300


def test_a_revocation_holds_within_the_refresh_interval(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    documented(
        "no decision is made with a list older than `REVOCATION_REFRESH_SECONDS` (default 10)",
        "at most twice the refresh interval (20 s with the defaults)",
    )
    payload = claims(now=clock.now)
    token = sign(payload)
    assert allowed(revoking, token)
    table.put(FAMILY, payload["origin_jti"], clock.now)
    clock.advance(4.999)
    assert allowed(revoking, token)  # the list read under half an interval ago, no Query
    assert len(table.queries) == 1
    clock.advance(5.001)
    assert not allowed(revoking, token)


def test_a_user_entry_covers_tokens_issued_at_or_before_its_second_and_no_later(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    documented(
        "every token of that user whose `iat` is at or before that second",
        "A token without `origin_jti` is checked by `sub` and `iat` only.",
        "the writer's clock, rounded down to the second",
    )
    read_at = clock.now  # the list was read when the authorizer was made
    second = float(int(read_at))
    before = sign(claims(now=second, origin_jti=None))
    table.put(USER, SUB, second + 0.999)
    clock.now = read_at + 10
    later = sign(claims(now=second + 1, origin_jti=None))
    assert revocation_item(USER, SUB, second + 0.999)["revokedAt"] == {"N": str(int(second))}
    assert (allowed(revoking, before), allowed(revoking, later)) == (False, True)


def test_entries_expire_a_day_and_300_s_after_the_revocation_and_leave_memory_within_5_minutes(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    documented(
        "by default a day, Cognito's longest token lifetime, plus 300 s, after the revocation",
        "is swept from memory within about 5 minutes of it (a sweep runs with a refresh, "
        "at most every 300 s)",
    )
    revoked_at = float(int(clock.now))
    assert revocation_item(FAMILY, "f", revoked_at)["expiresAt"] == {
        "N": str(int(revoked_at) + 86400 + 300)
    }
    table.put(FAMILY, "f", revoked_at, revoked_at + 20)
    clock.advance(10)
    allowed(revoking, sign(claims(now=clock.now)))
    revocations = revocations_of(revoking)
    assert len(revocations) == 1
    clock.now = revoked_at + 20 + 5 * 60
    allowed(revoking, sign(claims(now=clock.now)))
    assert len(revocations) == 0


def test_one_query_reads_again_the_last_60_s_and_a_failed_one_is_retried_once_a_second(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    documented(
        "it reads again the last 60 s before the previous read",
        "retrying at most once a second",
        "during an outage, the bound is `REVOCATION_MAX_STALE_SECONDS` + the result cache TTL",
    )
    token = sign(claims(now=clock.now, origin_jti=None, sub="someone-else"))
    read_at = clock.now
    clock.advance(10)
    assert allowed(revoking, token)
    assert table.queries[-1] == cursor(read_at - 60)
    table.failing = ConnectionError("down")
    clock.advance(10)
    count = len(table.queries)
    for _ in range(10):
        clock.advance(0.099)
        assert allowed(revoking, token)
    assert len(table.queries) == count + 1  # within that second, one retry
    clock.now = read_at + 10 + 120  # REVOCATION_MAX_STALE_SECONDS after the last read began
    with pytest.raises(RevocationUnavailable):
        revoking.handle(authorizer_event(token))


def test_a_request_waits_at_most_2_s_for_the_query_it_needs(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    documented("waits for that Query (at most 2 s) first")
    answer = threading.Event()

    def hung(after: str) -> list[dict[str, Any]]:
        assert answer.wait(10)
        return table(after)

    monkeypatch.setattr(revocations_of(revoking), "_query", hung)
    clock.advance(10)
    started = time.monotonic()
    try:
        # The Query it needs hangs: it waits its whole budget, then decides with the list
        # it has (within the stale bound).
        assert allowed(revoking, sign(claims(now=clock.now, origin_jti=None, sub="x")))
    finally:
        waited = time.monotonic() - started
        answer.set()
    assert 1.9 <= waited < 3.0


def test_the_documented_metric_names_are_the_ones_written() -> None:
    documented(
        "`RevocationListAge`, `RevocationRefreshes`, `RevocationRefreshFailures`, "
        "`RevocationListEntries`"
    )
    assert {
        "RevocationListAge",
        "RevocationRefreshes",
        "RevocationRefreshFailures",
        "RevocationListEntries",
    } == metrics.REVOCATION_METRIC_NAMES
