"""Revocation: revoked families and signed-out users are denied, within the bound, failing closed.

Tokens are forged and signed; the table is the writers' own items in a fake
Query (``FakeRevocationTable``) or moto's DynamoDB; one fake clock times the
tokens and the list, so nothing sleeps.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from authorizer.api.handler import Authorizer
from authorizer.api.rest import RestAuthorizer, load_api_settings
from authorizer.exceptions import RevocationUnavailable, Revoked
from authorizer.tables import mirror, revocation_list
from authorizer.tables.revocation import FAMILY, USER, cursor, revocation_item
from authorizer.tables.revocation_list import (
    OVERLAP_SECONDS,
    RETRY_SECONDS,
    SWEEP_SECONDS,
    RevocationList,
    dynamodb_query,
)
from authorizer.verification.config import AuthorizerConfig
from authorizer.verification.verify import Verified
from tests.forge import JWKS_URL, authorizer_event, claims, forged_key, jwks_body, sign
from tests.helpers import (
    BASE_ENV,
    FakeClock,
    FakeRevocationTable,
    WiredAuthorizer,
    create_change_log_table,
    log_records,
    make_config,
    wire_authorizer,
)
from tests.imports import imported_packages

ROOT = Path(__file__).resolve().parents[2]
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
OTHER_SUB = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
FAMILY_ID = "5c3f0b8e-8a1d-4c2e-9f7a-2b6d4e8c1a90"
OTHER_FAMILY = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"
REFRESH = 10  # the defaults: REVOCATION_REFRESH_SECONDS, REVOCATION_MAX_STALE_SECONDS
MAX_STALE = 120
OUTAGE = ConnectionError("DynamoDB is unreachable")


@pytest.fixture
def table() -> FakeRevocationTable:
    return FakeRevocationTable()


def revoking_config(**overrides: str) -> AuthorizerConfig:
    return make_config(REVOCATION_TABLE="revocations", **overrides)


@pytest.fixture
def revoking(
    clock: FakeClock, jwks_endpoint: responses.RequestsMock, table: FakeRevocationTable
) -> WiredAuthorizer:
    """An authorizer with revocation on, its list read at its cold start."""
    return wire_authorizer(revoking_config(), clock, warm=True, revocation_query=table)


def the_list(wired: WiredAuthorizer | Authorizer) -> RevocationList:
    verifier = wired.verifier
    assert isinstance(verifier.revocations, RevocationList)
    return verifier.revocations


def token(
    clock: FakeClock, *, sub: str = SUB, family: str | None = FAMILY_ID, at: float = 0
) -> str:
    """A valid id token issued ``at`` seconds from now (``family`` None: no origin_jti)."""
    return sign(claims(now=clock.now + at, sub=sub, origin_jti=family))


def decide(wired: WiredAuthorizer, jwt: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The decision's reason code, checked against the response and the metric line."""
    capsys.readouterr()
    response = wired.handle(authorizer_event(jwt))
    out = capsys.readouterr().out
    [record] = [r for r in log_records(out) if r["message"] == "authorization decision"]
    [metric] = [json.loads(line) for line in out.splitlines() if '"Decisions"' in line]
    assert response["isAuthorized"] is (record["reason"] == "ok")
    assert (metric["Decision"], metric["Reason"]) == (record["decision"], record["reason"])
    if record["reason"] == "revoked":
        # Named like every deny of a signature-checked token.
        assert (record["decision"], record["kid"]) == ("deny", "key-1")
        assert record["sub"] in (SUB, OTHER_SUB)
    return str(record["reason"])


def fails_closed(wired: WiredAuthorizer, jwt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The request raises (API Gateway 500), logged and counted as revocation_unavailable."""
    capsys.readouterr()
    with pytest.raises(RevocationUnavailable):
        wired.handle(authorizer_event(jwt))
    out = capsys.readouterr().out
    [record] = [r for r in log_records(out) if r["message"] == "authorization decision"]
    assert (record["decision"], record["reason"]) == ("error", "revocation_unavailable")
    assert '"Reason":"revocation_unavailable"' in out


# --- what is revoked ------------------------------------------------------------------


def test_a_revoked_family_is_denied_fresh_and_remembered_alike(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    remembered = token(clock)
    other_family = token(clock, family=OTHER_FAMILY)
    assert decide(revoking, remembered, capsys) == "ok"
    assert revoking.verifier.verify(remembered)[1] is True  # in the verified-token cache

    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    verified_afresh: list[str] = []
    original = revoking.verifier._verify_fresh

    def counted(jwt: str) -> Verified:
        verified_afresh.append(jwt)
        return original(jwt)

    monkeypatch.setattr(revoking.verifier, "_verify_fresh", counted)
    assert decide(revoking, remembered, capsys) == "revoked"
    assert verified_afresh == []  # answered from the cache, and still denied
    # A token the instance never saw, refreshed from the same sign-in (same origin_jti).
    sibling = token(clock)
    assert decide(revoking, sibling, capsys) == "revoked"
    assert verified_afresh == [sibling]
    assert decide(revoking, other_family, capsys) == "ok"


def test_a_signed_out_user_is_denied_up_to_the_sign_out_and_a_later_sign_in_allowed(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = token(clock, family=OTHER_FAMILY)
    same_second = token(clock, family="f-2", at=0.9)  # iat rounds down to the sign-out second
    someone_else = token(clock, sub=OTHER_SUB)
    assert decide(revoking, before, capsys) == "ok"  # remembered from now on
    table.put(USER, SUB, clock.now + 0.95)
    clock.advance(REFRESH)
    after = token(clock)  # a fresh sign-in, same family id even: the user entry does not cover it
    assert decide(revoking, before, capsys) == "revoked"
    assert decide(revoking, same_second, capsys) == "revoked"
    assert decide(revoking, after, capsys) == "ok"
    assert decide(revoking, someone_else, capsys) == "ok"


def test_a_token_without_origin_jti_is_checked_by_sub_and_iat_only(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    familyless = token(clock, family=None)
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    assert decide(revoking, familyless, capsys) == "ok"
    table.put(USER, SUB, clock.now)
    clock.advance(REFRESH)
    assert decide(revoking, familyless, capsys) == "revoked"


def test_entries_stop_revoking_at_their_expiry_and_are_then_dropped(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    family_token, user_token = token(clock), token(clock, sub=OTHER_SUB, family=OTHER_FAMILY)
    table.put(FAMILY, FAMILY_ID, clock.now, clock.now + 30)
    table.put(USER, OTHER_SUB, clock.now, clock.now + 30)
    table.put(USER, "still-valid", clock.now)
    clock.advance(REFRESH)
    assert decide(revoking, family_token, capsys) == "revoked"
    assert decide(revoking, user_token, capsys) == "revoked"
    assert len(the_list(revoking)) == 3
    clock.now = float(int(clock.now) - REFRESH + 30 + 1)  # the second after expiresAt
    assert decide(revoking, family_token, capsys) == "ok"
    assert decide(revoking, user_token, capsys) == "ok"
    # DynamoDB's TTL deletes lazily: the items are still there, and still not read as revoking.
    assert len(the_list(revoking)) == 3
    clock.advance(SWEEP_SECONDS)  # the next refresh sweeps the expired entries out
    assert decide(revoking, family_token, capsys) == "ok"
    assert len(table.items) == 3
    assert len(the_list(revoking)) == 1


def test_an_item_already_expired_when_read_is_never_held(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    table.put(FAMILY, FAMILY_ID, clock.now - 100, clock.now - 1)
    clock.advance(REFRESH)
    revoking.handle(authorizer_event(token(clock)))
    assert len(the_list(revoking)) == 0


def test_items_the_reader_cannot_read_are_ignored_and_reported(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = revocation_item(USER, SUB, clock.now)
    broken["kind"] = {"S": "session"}
    table.items["0~broken"] = broken  # sorts after every real key
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    assert decide(revoking, token(clock), capsys) == "revoked"
    capsys.readouterr()
    clock.advance(REFRESH)
    revoking.handle(authorizer_event(token(clock, family=OTHER_FAMILY)))
    [warning] = [r for r in log_records(capsys.readouterr().out) if "cannot read" in r["message"]]
    assert warning["invalidItems"] == 1
    assert SUB not in json.dumps(warning)


# --- refresh ------------------------------------------------------------------------


def test_one_query_per_refresh_for_what_changed_never_one_per_request(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    started = clock.now
    jwt = token(clock)
    assert table.queries == [cursor(0)]  # the cold start read the whole list
    for _ in range(50):
        clock.advance(REFRESH / 2 / 50 * 0.99)
        assert revoking.handle(authorizer_event(jwt))["isAuthorized"] is True
    assert len(table.queries) == 1
    clock.advance(REFRESH)
    revoking.handle(authorizer_event(jwt))
    # What changed since the last read began, with an overlap for writers' clocks.
    assert table.queries == [cursor(0), cursor(started - OVERLAP_SECONDS)]


def test_a_refresh_picks_up_a_revocation_written_after_the_list_was_read(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    jwt = token(clock)
    clock.advance(REFRESH * 3)
    assert decide(revoking, jwt, capsys) == "ok"  # the list was read as of now
    # Written since, by a writer whose clock lags ours by most of the overlap.
    table.put(FAMILY, FAMILY_ID, clock.now - OVERLAP_SECONDS + 1)
    clock.advance(REFRESH)
    assert decide(revoking, jwt, capsys) == "revoked"


def test_the_list_is_refreshed_by_the_wall_clock_after_a_pause(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    # A Lambda freeze (or a SnapStart restore) moves the wall clock on: the next
    # request finds the list old and reads it before deciding.
    jwt = token(clock)
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(1800)
    assert revoking.handle(authorizer_event(jwt))["isAuthorized"] is False
    assert len(table.queries) == 2


def test_a_clock_stepped_back_refreshes_rather_than_trusting_the_age(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    jwt = token(clock)
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(-5)
    assert revoking.handle(authorizer_event(jwt))["isAuthorized"] is False
    assert len(table.queries) == 2


# --- failures: stale up to the bound, then 500 ----------------------------------------


def test_an_unreadable_list_is_used_up_to_the_stale_bound_then_every_decision_raises(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    revoked, valid = token(clock), token(clock, sub=OTHER_SUB, family=OTHER_FAMILY)
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    assert decide(revoking, revoked, capsys) == "revoked"
    read_at = clock.now
    table.failing = OUTAGE
    clock.advance(REFRESH)
    capsys.readouterr()
    assert revoking.handle(authorizer_event(valid))["isAuthorized"] is True
    out = capsys.readouterr().out
    [warning] = [r for r in log_records(out) if "refresh failed" in r["message"]]
    assert warning["error"] == "ConnectionError"
    assert "unreachable" not in out  # the error's class, never its text
    [refresh] = [json.loads(line) for line in out.splitlines() if "RevocationListAge" in line]
    assert (refresh["RevocationRefreshFailures"], refresh["RevocationListAge"]) == (1, REFRESH)

    queries = len(table.queries)
    clock.now = read_at + MAX_STALE - 0.001
    assert decide(revoking, revoked, capsys) == "revoked"
    assert decide(revoking, valid, capsys) == "ok"
    # Retried at most once a RETRY_SECONDS, never per request (on a thread: it
    # may not have begun yet; the recovery below shows the retries do happen).
    assert len(table.queries) <= queries + 1
    clock.now = read_at + MAX_STALE
    fails_closed(revoking, valid, capsys)
    fails_closed(revoking, revoked, capsys)
    table.failing = None
    clock.advance(RETRY_SECONDS)
    assert decide(revoking, valid, capsys) == "ok"
    assert decide(revoking, revoked, capsys) == "revoked"


def test_a_cold_start_that_cannot_read_the_list_raises_until_it_can(
    clock: FakeClock,
    jwks_endpoint: responses.RequestsMock,
    table: FakeRevocationTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table.failing = OUTAGE
    wired = wire_authorizer(revoking_config(), clock, warm=True, revocation_query=table)
    assert len(table.queries) == 1
    never = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "Revocat" in line]
    assert [m["RevocationListAge"] for m in never if "_aws" in m] == [86400.0]
    jwt = token(clock, sub=OTHER_SUB, family=OTHER_FAMILY)
    fails_closed(wired, jwt, capsys)
    fails_closed(wired, jwt, capsys)
    assert len(table.queries) == 1  # a retry waits RETRY_SECONDS
    clock.advance(RETRY_SECONDS)
    fails_closed(wired, jwt, capsys)
    assert len(table.queries) == 2
    table.failing = None
    clock.advance(RETRY_SECONDS)
    assert decide(wired, jwt, capsys) == "ok"


def test_a_first_request_reads_the_list_when_the_cold_start_did_not(
    clock: FakeClock,
    jwks_endpoint: responses.RequestsMock,
    table: FakeRevocationTable,
    capsys: pytest.CaptureFixture[str],
) -> None:
    table.put(FAMILY, FAMILY_ID, clock.now)
    wired = wire_authorizer(revoking_config(), clock, revocation_query=table)
    assert table.queries == []
    assert decide(wired, token(clock), capsys) == "revoked"


def test_never_an_allow_of_a_revoked_token_past_the_bound_whatever_fails(
    revoking: WiredAuthorizer, table: FakeRevocationTable, clock: FakeClock
) -> None:
    chance = random.Random(20)
    outcomes = {"allowed": 0, "denied": 0, "raised": 0}
    for trial in range(40):
        jwt = token(clock, family=f"family-{trial}")
        bystander = token(clock, sub=OTHER_SUB, family=OTHER_FAMILY)
        assert revoking.handle(authorizer_event(bystander))["isAuthorized"]  # the list is read
        revoked_at = clock.now
        table.put(FAMILY, f"family-{trial}", revoked_at)
        healthy_until = revoked_at + chance.uniform(0, 2 * MAX_STALE)
        while clock.now < revoked_at + 2 * MAX_STALE:
            clock.advance(chance.uniform(0, REFRESH))
            table.failing = None if clock.now < healthy_until or chance.random() < 0.1 else OUTAGE
            try:
                allowed = revoking.handle(authorizer_event(jwt))["isAuthorized"]
            except RevocationUnavailable:
                outcomes["raised"] += 1
                continue
            outcomes["allowed" if allowed else "denied"] += 1
            if allowed:
                assert clock.now < revoked_at + MAX_STALE
                # With DynamoDB answering since, within one refresh interval.
                assert clock.now < revoked_at + REFRESH or clock.now >= healthy_until
        table.failing = None
        clock.advance(MAX_STALE)
    # The schedule reached every outcome: allows before the bound, denies, and 500s.
    assert min(outcomes.values()) > 0, outcomes


# --- the background refresh -------------------------------------------------------------


class GatedTable(FakeRevocationTable):
    """A Query that answers only once the test opens the gate (a slow or frozen network)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.began: list[str] = []  # each Query as it begins (queries: as it answers)

    def __call__(self, after: str) -> list[dict[str, Any]]:
        self.began.append(after)
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        return super().__call__(after)


@pytest.fixture
def verified(wired: WiredAuthorizer, clock: FakeClock) -> Verified:
    return wired.verifier.verify(token(clock))[0]


def background_list(query: FakeRevocationTable, clock: FakeClock) -> RevocationList:
    from shared.jsonlog import get_logger

    revocations = RevocationList(
        query,
        refresh_seconds=REFRESH,
        max_stale_seconds=MAX_STALE,
        logger=get_logger("authorizer", "INFO"),
        clock=clock,
    )
    assert revocations.load()
    return revocations


def test_a_due_refresh_runs_beside_the_request_which_does_not_wait(
    clock: FakeClock, verified: Verified
) -> None:
    table = GatedTable()
    revocations = background_list(table, clock)
    table.put(FAMILY, FAMILY_ID, clock.now)
    table.gate.clear()
    table.entered.clear()
    clock.advance(REFRESH / 2 + 1)
    revocations.check(verified)  # returned while the Query hangs: the list it has is fresh enough
    assert table.entered.wait(10)
    table.gate.set()
    # Past the interval since the last read, it waits for that refresh and uses it
    # (which began less than half an interval ago: no other is started).
    clock.advance(REFRESH / 2 - 0.5)
    with pytest.raises(Revoked):
        revocations.check(verified)
    assert len(table.queries) == 2


def test_a_refresh_that_hangs_past_the_wait_leaves_the_list_stale_within_the_bound(
    clock: FakeClock, verified: Verified, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 0.01)
    table = GatedTable()
    revocations = background_list(table, clock)
    table.gate.clear()
    clock.advance(REFRESH)
    revocations.check(verified)  # waited, gave up, decided with the list it has
    clock.advance(20)
    revocations.check(verified)  # still hanging, the list 30 s old: within the stale bound
    table.gate.set()
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 10.0)  # time enough to see it end
    clock.advance(0.001)
    revocations.check(verified)
    # Its list counts as of when it began, not when it answered.
    assert revocations.age(clock.now) == pytest.approx(20.001)


def test_a_refresh_that_never_finishes_is_given_up_and_another_started(
    clock: FakeClock, verified: Verified, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 0.01)
    table = GatedTable()
    revocations = background_list(table, clock)
    read_at = clock.now
    table.gate.clear()
    clock.advance(REFRESH)
    revocations.check(verified)  # started, waited for briefly, still hanging
    clock.advance(revocation_list.ABANDON_SECONDS - 0.001)
    revocations.check(verified)
    assert len(table.began) == 2  # the cold start's and the hung one: none beside it
    clock.advance(0.001)
    revocations.check(verified)  # given up as a failed read; another Query begins at once
    assert len(table.began) == 3
    table.put(FAMILY, FAMILY_ID, clock.now - 1)
    table.gate.set()  # the hung Query's answer, whenever it comes, is never read
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 10.0)
    clock.now = read_at + MAX_STALE  # at the stale bound it waits for the new Query
    with pytest.raises(Revoked):
        revocations.check(verified)


def test_a_refresh_that_failed_long_ago_is_retried_and_waited_for_at_once(
    clock: FakeClock, verified: Verified
) -> None:
    # A Query begun before a Lambda freeze, failed by it: the first request after
    # the thaw retries at once and waits, rather than deciding with an old list.
    table = FakeRevocationTable()
    revocations = background_list(table, clock)
    table.failing = OUTAGE
    clock.advance(REFRESH / 2 + 1)
    revocations.check(verified)  # starts the Query that fails, not waiting for it
    table.failing = None
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    with pytest.raises(Revoked):
        revocations.check(verified)
    assert revocations.age(clock.now) == 0


class FailsOnce(GatedTable):
    """A Query that fails (when ``failing`` is set) once: the next one answers."""

    def __call__(self, after: str) -> list[dict[str, Any]]:
        try:
            return super().__call__(after)
        finally:
            self.failing = None


def test_a_request_whose_awaited_refresh_fails_retries_once_at_once(
    clock: FakeClock, verified: Verified
) -> None:
    table = FailsOnce()
    revocations = background_list(table, clock)
    table.gate.clear()
    clock.advance(REFRESH / 2 + 1)
    revocations.check(verified)  # a Query begins, and hangs (a Lambda freeze, say)
    assert table.entered.wait(10)
    table.failing = OUTAGE  # ... and fails once it resumes
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    table.gate.set()
    with pytest.raises(Revoked):  # it waited, saw the failure, retried at once and waited again
        revocations.check(verified)
    assert len(table.began) == 3


def test_refresh_and_stale_bounds_are_checked() -> None:
    with pytest.raises(ValueError, match="refresh_seconds <= max_stale_seconds"):
        RevocationList(
            FakeRevocationTable(),
            refresh_seconds=30,
            max_stale_seconds=20,
            logger=None,  # type: ignore[arg-type]
            clock=FakeClock(),
        )


# --- the REST path -------------------------------------------------------------------------


def test_the_rest_path_denies_revoked_tokens_and_raises_when_it_cannot_decide(
    revoking: WiredAuthorizer,
    table: FakeRevocationTable,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = load_api_settings({"API_TYPE": "rest", "API_ROUTES": "GET /hello"}, {})
    rest = RestAuthorizer(revoking.authorizer, {}, settings.routes)
    prefix = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"
    event = {"type": "TOKEN", "methodArn": prefix + "GET/hello"}
    jwt = token(clock)
    allowed = rest.handle({**event, "authorizationToken": f"Bearer {jwt}"})
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH)
    capsys.readouterr()
    denied = rest.handle({**event, "authorizationToken": f"Bearer {jwt}"})
    assert denied["principalId"] == SUB
    assert denied["policyDocument"]["Statement"] == [
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": [prefix + "*"]}
    ]
    [record] = [r for r in log_records(capsys.readouterr().out) if "decision" in r["message"]]
    assert (record["decision"], record["reason"]) == ("deny", "revoked")
    table.failing = OUTAGE
    clock.advance(MAX_STALE)
    with pytest.raises(RevocationUnavailable):  # a 500, not "Unauthorized" (401)
        rest.handle({**event, "authorizationToken": f"Bearer {jwt}"})


# --- DynamoDB: the Query, and the whole wiring against moto ------------------------------


class PagedClient:
    """A DynamoDB client answering in pages, recording each request."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.requests: list[dict[str, Any]] = []

    def query(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        index = len(self.requests) - 1
        page: dict[str, Any] = {"Items": self.pages[index], "Count": len(self.pages[index])}
        if index + 1 < len(self.pages):
            page["LastEvaluatedKey"] = {"pk": {"S": "revoked"}, "sk": {"S": f"page-{index}"}}
        return page


def test_the_query_reads_every_page_consistently_after_the_cursor() -> None:
    items = [revocation_item(USER, f"user-{n}", 1_760_000_000 + n) for n in range(5)]
    client = PagedClient([items[:2], items[2:4], [], items[4:]])
    assert list(dynamodb_query("revocations", client)("001760000000000")) == items
    first, *rest = client.requests
    assert first == {
        "TableName": "revocations",
        "KeyConditionExpression": "#pk = :pk AND #sk > :cursor",
        "ProjectionExpression": "#sk, #expiresAt",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk", "#expiresAt": "expiresAt"},
        "ExpressionAttributeValues": {":pk": {"S": "revoked"}, ":cursor": {"S": "001760000000000"}},
        "ConsistentRead": True,
    }
    assert [r["ExclusiveStartKey"]["sk"]["S"] for r in rest] == ["page-0", "page-1", "page-2"]
    assert all({k: v for k, v in r.items() if k != "ExclusiveStartKey"} == first for r in rest)


def test_the_client_is_made_in_the_table_arn_region_with_bounded_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    made = mirror._client("arn:aws:dynamodb:eu-west-1:123456789012:table/revocations")
    assert made.meta.region_name == "eu-west-1"
    assert mirror._client("revocations").meta.region_name == "us-east-1"
    config = made.meta.config
    assert (config.connect_timeout, config.read_timeout) == (0.5, 1.0)
    assert config.retries == {"total_max_attempts": 2, "mode": "standard"}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's DynamoDB with the revocation table as the template defines it."""
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        create_change_log_table(client, "revocations")
        yield client


def test_the_lambda_entry_point_reads_the_list_from_dynamodb(
    aws: Any,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aws.put_item(TableName="revocations", Item=revocation_item(USER, SUB, clock.now))
    for name, value in {**BASE_ENV, "REVOCATION_TABLE": "revocations"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "authorizer.app", raising=False)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        app = importlib.import_module("authorizer.app")
        assert len(the_list(app.AUTHORIZER)) == 1  # read during initialisation
        signed_out = app.lambda_handler(authorizer_event(token(clock)), None)
        later = app.lambda_handler(authorizer_event(token(clock, at=2)), None)
    assert (signed_out["isAuthorized"], later["isAuthorized"]) == (False, True)


def test_a_write_lands_in_the_next_refresh_through_moto(
    aws: Any, clock: FakeClock, jwks_endpoint: responses.RequestsMock
) -> None:
    wired = wire_authorizer(
        revoking_config(),
        clock,
        warm=True,
        revocation_query=dynamodb_query("revocations", aws),
    )
    jwt = token(clock)
    assert wired.handle(authorizer_event(jwt))["isAuthorized"] is True
    aws.put_item(TableName="revocations", Item=revocation_item(FAMILY, FAMILY_ID, clock.now))
    clock.advance(REFRESH)
    assert wired.handle(authorizer_event(jwt))["isAuthorized"] is False


# --- what a cold start imports ------------------------------------------------------------


def test_only_the_revocation_list_module_imports_the_aws_sdk() -> None:
    importers = {
        path.relative_to(ROOT / "authorizer").as_posix()
        for path in (ROOT / "authorizer").rglob("*.py")
        if imported_packages(path.read_bytes()) & {"boto3", "botocore"}
    }
    # mirror.py is every table's mechanism (the list's DynamoDB client is made there);
    # signout/ holds the sign-out, connections and hang-up functions (Lambdas of their
    # own): the authorizer never imports it (test_signout.py pins that).
    assert importers == {
        "tables/mirror.py",
        "signout/handler.py",
        "signout/connections.py",
        "signout/hangup.py",
    }


@pytest.mark.parametrize("table_name", ["", "revocations"])
def test_the_list_module_is_imported_only_with_revocation_on(
    monkeypatch: pytest.MonkeyPatch,
    table_name: str,
    clock: FakeClock,
    jwks_endpoint: responses.RequestsMock,
) -> None:
    monkeypatch.delitem(sys.modules, "authorizer.tables.revocation_list", raising=False)
    config = make_config(REVOCATION_TABLE=table_name) if table_name else make_config()
    wired = wire_authorizer(config, clock, revocation_query=FakeRevocationTable())
    on = bool(table_name)
    assert ("authorizer.tables.revocation_list" in sys.modules) is on
    assert (wired.verifier.revocations is not None) is on


def test_a_client_that_cannot_be_made_is_a_failed_read_not_a_failed_cold_start(
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    jwks_endpoint: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(ROOT / "no-such-aws-config"))
    wired = wire_authorizer(revoking_config(), clock, warm=True)  # no region: no client
    [warning] = [
        r for r in log_records(capsys.readouterr().out) if "refresh failed" in r["message"]
    ]
    assert warning["error"] == "NoRegionError"
    fails_closed(wired, token(clock), capsys)
