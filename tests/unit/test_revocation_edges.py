"""Revocation at its edges: each rule the docs state, tested where a plausible bug would break it.

Each test here kills one or more semantic mutants (tests/mutation/semantic.toml):
the list's cursor (where a refresh reads from, and its rounding), a read that
fails after some pages, an item no reader can take, a refresh given up as
hung, the stale bound whatever happened before, the total wait of a request,
and the entries' bounds (the issued-at a sign-out covers, the expiry with the
leeway). The sign-out's own edges are in test_signout.py.

The list is driven directly (``RevocationList.check``) with tokens verified by
a real verifier; the table is the writers' own items behind a fake Query.
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Final

import pytest
from botocore.exceptions import ClientError

from authorizer.exceptions import RevocationUnavailable, Revoked
from authorizer.operations.metrics import MetricsEmitter
from authorizer.tables import mirror, revocation_list
from authorizer.tables.mirror import MalformedAnswer
from authorizer.tables.revocation import FAMILY, USER, cursor, parse_item, revocation_item
from authorizer.tables.revocation_list import (
    ABANDON_SECONDS,
    RETRY_SECONDS,
    RevocationList,
    dynamodb_query,
)
from authorizer.verification.verify import Verified
from shared.jsonlog import get_logger
from tests.forge import authorizer_event, claims, sign
from tests.helpers import (
    FakeClock,
    FakeRevocationTable,
    WiredAuthorizer,
    log_records,
    make_config,
    wire_authorizer,
)

SUB: Final = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
FAMILY_ID: Final = "5c3f0b8e-8a1d-4c2e-9f7a-2b6d4e8c1a90"
REFRESH: Final = 10
MAX_STALE: Final = 120
OUTAGE: Final = ConnectionError("DynamoDB is unreachable")


class Table(FakeRevocationTable):
    """A fake Query whose answers the test can hold back or fail, one Query at a time.

    ``plan`` holds, for each Query in turn, what it does before answering: None
    answers at once; an Event is waited for (then it answers, or raises
    ``failing`` if set by then).
    """

    def __init__(self) -> None:
        super().__init__()
        self.plan: list[threading.Event | None] = []
        self.released: list[threading.Event] = []
        self.threads: list[threading.Thread] = []  # each Query's

    def __call__(self, after: str) -> list[dict[str, Any]]:
        self.threads.append(threading.current_thread())
        step = self.plan.pop(0) if self.plan else None
        if step is not None:
            self.released.append(step)
            step.wait(10)
        return super().__call__(after)

    def release_all(self) -> None:
        for event in [*self.plan, *self.released]:
            if event is not None:
                event.set()


def listing(table: Table, clock: FakeClock, *, load: bool = True) -> RevocationList:
    revocations = RevocationList(
        table,
        refresh_seconds=REFRESH,
        max_stale_seconds=MAX_STALE,
        logger=get_logger("authorizer", "INFO"),
        clock=clock,
    )
    if load:
        assert revocations.load()
    return revocations


@pytest.fixture
def table() -> Any:
    made = Table()
    yield made
    made.release_all()  # no thread of a test outlives it waiting


def refreshes_finish() -> None:
    """Wait until every refresh running beside a request has ended (each on its own thread,
    a daemon: one a hung Query holds never keeps the process from exiting). A thread no
    longer listed has returned from its work."""
    running = [t for t in threading.enumerate() if t.name == "revocation-list-refresh"]
    assert all(thread.daemon for thread in running)
    for thread in running:
        thread.join(10)
        assert not thread.is_alive()


def verified_as(
    wired: WiredAuthorizer, *, sub: str = SUB, family: str | None = FAMILY_ID, iat: float
) -> Verified:
    token = sign(claims(now=iat, sub=sub, origin_jti=family))
    return wired.verifier.verify(token)[0]


def allowed(revocations: RevocationList, verified: Verified) -> bool:
    """True when the list lets the token through; False when it is revoked (raises the rest)."""
    try:
        revocations.check(verified)
    except Revoked:
        return False
    return True


# --- the cursor: where each refresh reads from -------------------------------------------


def test_a_refresh_collected_long_after_it_ran_reads_on_from_when_it_began(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now)
    started = clock.now
    clock.advance(REFRESH / 2 + 1)
    answer = threading.Event()
    table.plan = [answer]
    assert allowed(revocations, token)  # starts a refresh beside the request, not waited for
    answer.set()
    refreshes_finish()  # it ends after the request: collected by the next one
    # Written after that refresh read the table; no request for ten minutes.
    table.put(FAMILY, FAMILY_ID, clock.now + 1)
    clock.now = started + 600
    assert not allowed(revocations, token)
    assert table.queries[-1] == cursor(started + REFRESH / 2 + 1 - 60)


def test_after_an_outage_longer_than_the_overlap_what_it_hid_is_read(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    revocations = listing(table, clock)
    read_at = clock.now
    token = verified_as(wired, iat=clock.now)
    table.put(FAMILY, FAMILY_ID, clock.now + 1)
    table.failing = OUTAGE
    for at in (REFRESH, 40, 80, MAX_STALE - 10):  # failed refreshes, minutes apart
        clock.now = read_at + at
        revocations.check(token)
    table.failing = None
    clock.advance(RETRY_SECONDS)
    assert not allowed(revocations, token)
    clock.advance(600)
    assert not allowed(revocations, token)


def test_a_sign_out_in_a_seconds_last_millisecond_names_that_second() -> None:
    second = 1_800_000_000
    item = revocation_item(USER, SUB, second + 0.9996)
    assert item["revokedAt"] == {"N": str(second)}
    milliseconds = f"{second}999".zfill(15)
    assert item["sk"]["S"].startswith(f"{milliseconds}#")
    assert cursor(second + 0.9996) == milliseconds
    assert parse_item(item).revoked_at == second


def test_a_token_issued_the_second_after_a_sign_out_is_not_covered(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    second = math.floor(clock.now) + 1
    table.put(USER, SUB, second + 0.9996)
    clock.now = second + 2
    revocations = listing(table, clock)
    assert not allowed(revocations, verified_as(wired, family=None, iat=second))
    assert allowed(revocations, verified_as(wired, family=None, iat=second + 1))


# --- reads that fail or hold what no reader can take ----------------------------------------


class PagedClient:
    """A DynamoDB client: pages in turn, each a page or an error to raise."""

    def __init__(self, *pages: dict[str, Any] | Exception) -> None:
        self.pages = list(pages)

    def query(self, **request: Any) -> dict[str, Any]:
        page = self.pages.pop(0)
        if isinstance(page, Exception):
            raise page
        return page


def page(*items: dict[str, Any], more: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"Items": list(items), "Count": len(items)}
    if more:
        answer["LastEvaluatedKey"] = {"pk": {"S": "revoked"}, "sk": items[-1]["sk"]}
    return answer


def test_a_query_that_fails_on_a_later_page_fails_whole() -> None:
    first = revocation_item(FAMILY, "family-1", 1_800_000_000)
    client = PagedClient(page(first, more=True), TimeoutError("read timeout"))
    read = dynamodb_query("revocations", client)("0")
    with pytest.raises(TimeoutError):
        list(read)


@pytest.mark.parametrize(
    "answer",
    [{}, {"Count": 0, "ScannedCount": 0}, {"message": "<html>"}, {"Items": None}],
    ids=["empty", "no-items", "not-dynamodb", "items-null"],
)
def test_an_answer_without_items_is_a_failed_read_not_an_empty_one(answer: dict[str, Any]) -> None:
    with pytest.raises(MalformedAnswer, match=r"^DynamoDB's answer to a Query has no Items list$"):
        list(dynamodb_query("revocations", PagedClient(answer))("0"))


def test_an_item_no_reader_can_take_is_skipped_and_the_read_goes_on(
    wired: WiredAuthorizer, clock: FakeClock, table: Table, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = revocation_item(USER, "someone", clock.now - 2)
    broken["kind"] = {"S": "session"}  # disagrees with its sort key
    table.items[broken["sk"]["S"]] = broken  # sorts before the revocation below
    table.put(FAMILY, FAMILY_ID, clock.now - 1)
    capsys.readouterr()
    revocations = listing(table, clock)
    assert not allowed(revocations, verified_as(wired, iat=clock.now - 5))
    [warning] = [r for r in log_records(capsys.readouterr().out) if r["level"] == "WARNING"]
    assert (warning["message"], warning["invalidItems"]) == (
        "revocation list has items it cannot read; ignored",
        1,
    )


# --- a refresh given up as hung, and the stale bound whatever came before ---------------------


@pytest.fixture
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 0.01)


@pytest.mark.usefixtures("short_wait")
def test_a_refresh_given_up_as_hung_leaves_the_list_as_old_as_it_was(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    revocations = listing(table, clock)
    read_at = clock.now
    token = verified_as(wired, iat=clock.now)
    table.put(FAMILY, FAMILY_ID, clock.now + 5)
    table.plan = [threading.Event() for _ in range(10)]  # every later Query hangs
    clock.now = read_at + REFRESH
    assert allowed(revocations, token)  # the refresh hangs; the list it has is used
    clock.now = read_at + REFRESH + ABANDON_SECONDS
    assert allowed(revocations, token)  # given up as failed: another begins, and hangs
    clock.now = read_at + MAX_STALE - 0.001
    assert allowed(revocations, token)  # still within the bound
    clock.now = read_at + MAX_STALE  # the list is as old as its last read, whatever began since
    with pytest.raises(RevocationUnavailable):
        revocations.check(token)


@pytest.mark.usefixtures("short_wait")
def test_a_thawed_instance_whose_refresh_hangs_never_decides_with_its_old_list(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now)
    table.put(FAMILY, FAMILY_ID, clock.now + 1)
    table.plan = [threading.Event()]
    clock.advance(3600)  # frozen for an hour; its first refresh hangs past the wait
    with pytest.raises(
        RevocationUnavailable, match=r"^revocation list is 3600 s old \(limit 120 s\)$"
    ):
        revocations.check(token)


@pytest.mark.usefixtures("short_wait")
def test_a_list_never_read_never_decides_while_its_first_read_hangs(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    table.put(FAMILY, FAMILY_ID, clock.now - 1)
    table.plan = [threading.Event()]
    revocations = listing(table, clock, load=False)
    with pytest.raises(RevocationUnavailable, match=r"^revocation list has not been read yet$"):
        revocations.check(verified_as(wired, iat=clock.now - 10))


def test_a_request_waits_at_most_the_wait_bound_in_all(
    wired: WiredAuthorizer, clock: FakeClock, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refresh it waits for that fails, then the retry it starts: one bound for both."""
    bound = 1.0
    monkeypatch.setattr(mirror, "WAIT_SECONDS", bound)
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now)
    fails_later, hangs = threading.Event(), threading.Event()
    table.plan = [fails_later, hangs]
    clock.advance(REFRESH / 2 + 1)
    assert allowed(revocations, token)  # starts the first refresh beside the request
    table.failing = OUTAGE
    clock.advance(REFRESH)  # now it must wait for it (and retry it: it began long ago)
    threading.Timer(0.7 * bound, fails_later.set).start()
    started = time.monotonic()
    assert allowed(revocations, token)  # gave up waiting; the list it has is within the bound
    waited = time.monotonic() - started
    assert len(table.released) == 2  # the retry began
    assert 0.9 * bound <= waited < 1.35 * bound


# --- what an entry covers, and until when ------------------------------------------------------


def test_a_user_entry_covers_a_token_issued_in_the_very_second_of_the_sign_out(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    second = math.floor(clock.now) - 10
    table.put(USER, SUB, second + 0.5)  # revokedAt: that second
    revocations = listing(table, clock)
    assert not allowed(revocations, verified_as(wired, family=None, iat=second + 0.2))
    assert allowed(revocations, verified_as(wired, family=None, iat=second + 1))


def test_a_user_signed_out_twice_is_covered_up_to_the_later_sign_out(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    first = math.floor(clock.now) - 100
    table.put(USER, SUB, first)
    table.put(USER, SUB, first + 50)
    revocations = listing(table, clock)
    between = verified_as(wired, family=None, iat=first + 20)
    assert not allowed(revocations, between)
    # The same, the second sign-out read by a later refresh.
    fresh = Table()
    fresh.put(USER, SUB, first)
    again = listing(fresh, clock)
    assert allowed(again, between)
    fresh.put(USER, SUB, first + 50)
    clock.advance(REFRESH)
    assert not allowed(again, between)


@pytest.mark.usefixtures("jwks_endpoint")
def test_a_revoked_token_inside_its_leeway_is_still_denied(table: Table) -> None:
    """The longest-lived token (a day) accepted LEEWAY_SECONDS past its exp: still revoked."""
    clock = FakeClock(1_800_000_000.0)
    issued = clock.now
    table.put(USER, SUB, issued)
    jwt = sign(claims(now=issued, exp=int(issued) + 86400, origin_jti=None))
    config = make_config(REVOCATION_TABLE="revocations", LEEWAY_SECONDS="300")
    wired = wire_authorizer(config, clock, warm=True, revocation_query=table)
    for after_exp in (-1, 1, 299):
        clock.now = issued + 86400 + after_exp
        assert wired.handle(authorizer_event(jwt))["isAuthorized"] is False, after_exp


# --- its settings, its metric lines and its log lines ---------------------------------------


def test_the_refresh_interval_must_be_positive_and_at_most_the_stale_bound() -> None:
    def made(refresh: float, max_stale: float) -> RevocationList:
        return RevocationList(
            Table(),
            refresh_seconds=refresh,
            max_stale_seconds=max_stale,
            logger=get_logger("authorizer", "INFO"),
            clock=FakeClock(),
        )

    assert made(120, 120) is not None
    assert made(0.5, 120) is not None
    for refresh, max_stale in ((0, 120), (-1, 120), (121, 120)):
        with pytest.raises(ValueError, match=r"^0 < refresh_seconds <= max_stale_seconds$"):
            made(refresh, max_stale)


class Lines:
    """The metric and log lines a list writes, by kind."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def metrics(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.written]


def measured(table: Table, clock: FakeClock, lines: Lines) -> RevocationList:
    revocations = RevocationList(
        table,
        refresh_seconds=REFRESH,
        max_stale_seconds=MAX_STALE,
        logger=get_logger("authorizer", "INFO"),
        metrics=MetricsEmitter("authorizer", write=lines.written.append, clock=clock),
        clock=clock,
    )
    revocations.load()
    return revocations


def test_each_refresh_writes_one_metric_line_with_its_outcome_age_and_size(
    wired: WiredAuthorizer, table: Table, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FakeClock(1_800_000_000.0)
    table.put(FAMILY, FAMILY_ID, clock.now - 1)
    lines = Lines()
    revocations = measured(table, clock, lines)
    token = verified_as(wired, iat=clock.now - 5)
    table.failing = OUTAGE
    clock.advance(REFRESH + 0.12345)
    capsys.readouterr()
    assert not allowed(revocations, token)
    [warning] = [r for r in log_records(capsys.readouterr().out) if r["level"] == "WARNING"]
    assert warning == {
        **{k: warning[k] for k in ("timestamp", "logger", "requestId")},
        "level": "WARNING",
        "message": "revocation list refresh failed; using the list it has",
        "error": "ConnectionError",
        "listAgeSeconds": 10.123,
        "maxStaleSeconds": 120,
    }
    table.failing = None
    clock.advance(RETRY_SECONDS)
    assert not allowed(revocations, token)
    outcomes = [
        (m["RevocationRefreshes"], m["RevocationRefreshFailures"], m["RevocationListEntries"])
        for m in lines.metrics()
    ]
    assert outcomes == [(1, 0, 1), (1, 1, 1), (1, 0, 1)]
    assert [m["RevocationListAge"] for m in lines.metrics()] == [0.0, 10.123, 0.0]


def test_a_list_never_read_logs_no_age(
    wired: WiredAuthorizer, clock: FakeClock, table: Table, capsys: pytest.CaptureFixture[str]
) -> None:
    table.failing = OUTAGE
    capsys.readouterr()
    revocations = listing(table, clock, load=False)
    assert revocations.load() is False
    [warning] = [r for r in log_records(capsys.readouterr().out) if r["level"] == "WARNING"]
    assert "listAgeSeconds" not in warning  # infinite: left out, never a made-up number
    assert warning["maxStaleSeconds"] == MAX_STALE


class AwsError(Exception):
    def __init__(self, response: Any) -> None:
        super().__init__("text that is never logged")
        self.response = response


THROTTLED: Final = "ProvisionedThroughputExceededException"


@pytest.mark.parametrize(
    ("error", "logged"),
    [
        (ClientError({"Error": {"Code": THROTTLED}}, "Query"), f"ClientError:{THROTTLED}"),
        (AwsError({"Error": {"Code": "ThrottlingException"}}), "AwsError:ThrottlingException"),
        (AwsError({"Error": {"Code": "not an identifier"}}), "AwsError"),
        (AwsError({"Error": {"Code": 503}}), "AwsError"),
        (AwsError({"Error": "Throttling"}), "AwsError"),
        (AwsError("Throttling"), "AwsError"),
        (TimeoutError("read timeout"), "TimeoutError"),
    ],
)
def test_a_failed_refresh_logs_the_errors_class_and_aws_code_never_its_text(
    clock: FakeClock,
    table: Table,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    logged: str,
) -> None:
    table.failing = error
    capsys.readouterr()
    listing(table, clock, load=False).load()
    out = capsys.readouterr().out
    [warning] = [r for r in log_records(out) if r["level"] == "WARNING"]
    assert warning["error"] == logged
    assert "never logged" not in out


def test_items_no_reader_can_take_are_counted_one_by_one(
    clock: FakeClock, table: Table, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        broken = revocation_item(USER, f"someone-{n}", clock.now - 2)
        broken["kind"] = {"S": "session"}
        table.items[broken["sk"]["S"]] = broken
    capsys.readouterr()
    listing(table, clock)
    [warning] = [r for r in log_records(capsys.readouterr().out) if r["level"] == "WARNING"]
    assert (warning["message"], warning["invalidItems"]) == (
        "revocation list has items it cannot read; ignored",
        3,
    )


# --- when a refresh starts, and who waits for it --------------------------------------------


def test_a_refresh_starts_at_half_the_interval_and_not_before(
    wired: WiredAuthorizer, table: Table
) -> None:
    clock = FakeClock(1_800_000_000.0)
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now - 5)
    assert allowed(revocations, token)  # the very instant the read began: nothing due
    clock.advance(REFRESH / 2 - 0.001)
    assert allowed(revocations, token)
    refreshes_finish()
    assert len(table.queries) == 1
    clock.advance(0.001)
    assert allowed(revocations, token)
    refreshes_finish()
    assert len(table.queries) == 2


def test_without_a_background_thread_the_request_reads_the_list_itself(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    revocations = RevocationList(
        table,
        refresh_seconds=REFRESH,
        max_stale_seconds=MAX_STALE,
        logger=get_logger("authorizer", "INFO"),
        clock=clock,
        background=False,
    )
    revocations.load()
    token = verified_as(wired, iat=clock.now)
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(REFRESH / 2)  # due, not yet needed: read inline all the same
    assert not allowed(revocations, token)
    assert table.threads == [threading.current_thread()] * 2


def test_a_due_refresh_runs_on_a_daemon_thread_and_the_request_does_not_wait_for_it(
    wired: WiredAuthorizer, clock: FakeClock, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 30.0)
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now)
    table.plan = [threading.Event()]  # the Query hangs
    clock.advance(REFRESH - 0.001)
    started = time.monotonic()
    assert allowed(revocations, token)
    assert time.monotonic() - started < 5  # did not wait for the hung Query
    [thread] = [t for t in threading.enumerate() if t.name == "revocation-list-refresh"]
    assert thread.daemon


def test_after_a_failure_only_the_request_that_starts_the_retry_waits_for_it(
    wired: WiredAuthorizer, clock: FakeClock, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 0.2)
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now)
    table.put(FAMILY, FAMILY_ID, clock.now + 1)
    table.failing = OUTAGE
    clock.advance(REFRESH)
    assert allowed(revocations, token)  # failed; the list it has
    table.failing = None
    slow = threading.Event()
    table.plan = [slow]
    clock.advance(RETRY_SECONDS)
    assert allowed(revocations, token)  # starts the retry, waits 0.2 s for it, decides
    threading.Timer(0.05, slow.set).start()
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 5.0)
    started = time.monotonic()
    assert allowed(revocations, token)  # another request: decides at once, no waiting
    assert time.monotonic() - started < 0.05
    refreshes_finish()
    assert not allowed(revocations, token)  # the retry's list, once it answered


def test_at_the_stale_bound_a_request_waits_for_the_retry_in_flight(
    wired: WiredAuthorizer, clock: FakeClock, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 0.01)
    revocations = listing(table, clock)
    read_at = clock.now
    token = verified_as(wired, iat=clock.now)
    table.put(FAMILY, FAMILY_ID, clock.now + 1)
    table.failing = OUTAGE
    clock.advance(REFRESH)
    assert allowed(revocations, token)
    table.failing = None
    slow = threading.Event()
    table.plan = [slow]
    clock.now = read_at + MAX_STALE - 1
    assert allowed(revocations, token)  # starts the retry; it hangs past the short wait
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 5.0)
    threading.Timer(0.05, slow.set).start()
    clock.now = read_at + MAX_STALE  # the alternative is to raise: it waits, and decides
    assert not allowed(revocations, token)


class Slow(Table):
    """A Query that takes ``seconds`` of the list's clock, and fails while ``failing``."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def __call__(self, after: str) -> list[dict[str, Any]]:
        self.clock.advance(self.seconds)
        return super().__call__(after)


def test_a_request_retries_a_failed_refresh_once_whatever_time_its_waits_took(
    wired: WiredAuthorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 5.0)
    clock = FakeClock(1_800_000_000.0)
    table = Slow(clock, 0)
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now - 5)
    gate = threading.Event()
    table.plan = [gate]
    clock.advance(REFRESH / 2)
    assert allowed(revocations, token)  # a refresh begins, and hangs
    table.failing, table.seconds = OUTAGE, 1.5  # each Query now takes 1.5 s, and fails
    clock.advance(REFRESH)
    before = len(table.queries)  # the hung one not yet among them: it answers once let go
    gate.set()
    assert allowed(revocations, token)  # waited for it (failed), retried once (failed)
    assert len(table.queries) == before + 2


# --- what an entry is kept for ----------------------------------------------------------------


def test_a_sweep_at_an_entrys_very_expiry_drops_it(wired: WiredAuthorizer, table: Table) -> None:
    clock = FakeClock(1_800_000_000.0)
    lines = Lines()
    table.put(FAMILY, FAMILY_ID, clock.now - 10, clock.now + revocation_list.SWEEP_SECONDS)
    table.put(USER, SUB, clock.now - 10, clock.now + revocation_list.SWEEP_SECONDS)
    table.put(FAMILY, "expires-now", clock.now - 10, clock.now + REFRESH)
    revocations = measured(table, clock, lines)
    assert len(revocations) == 3
    clock.advance(REFRESH)  # "expires-now" expires now: the refresh it is read again by skips it
    bystander = verified_as(wired, sub="someone", iat=clock.now - 20, family="someone")
    revocations.check(bystander)
    refreshes_finish()
    # The sweep is due, and the family and the user expire.
    clock.advance(revocation_list.SWEEP_SECONDS - REFRESH)
    revocations.check(bystander)
    refreshes_finish()
    assert [m["RevocationListEntries"] for m in lines.metrics()][-1] == 0


def test_an_item_that_expires_as_the_read_begins_is_not_held(table: Table) -> None:
    clock = FakeClock(1_800_000_000.0)
    table.put(FAMILY, FAMILY_ID, clock.now - 10, clock.now)
    table.put(USER, SUB, clock.now - 10, clock.now + 1)
    assert len(listing(table, clock)) == 1


def test_a_refresh_that_brings_families_keeps_the_users_held(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    table.put(USER, SUB, clock.now - 10)
    revocations = listing(table, clock)
    user_token = verified_as(wired, family=None, iat=clock.now - 20)
    table.put(FAMILY, "another-family", clock.now)
    clock.advance(REFRESH)
    assert not allowed(revocations, user_token)
    assert len(revocations) == 2


@pytest.mark.parametrize("later_read", [False, True], ids=["one-read", "two-reads"])
def test_a_family_or_user_named_twice_keeps_the_widest_of_the_two(
    wired: WiredAuthorizer, table: Table, later_read: bool
) -> None:
    clock = FakeClock(1_800_000_000.0)
    first, second = clock.now - 100, clock.now - 50
    # The first entries last longer than the second ones (custom expiries).
    table.put(FAMILY, FAMILY_ID, first, clock.now + 1000)
    table.put(USER, SUB, first, clock.now + 1000)
    later = [(FAMILY, FAMILY_ID, second, clock.now + 500), (USER, SUB, second, clock.now + 500)]
    if not later_read:
        for entry in later:
            table.put(*entry)
    revocations = listing(table, clock)
    if later_read:
        for entry in later:
            table.put(*entry)
        clock.advance(REFRESH)
        revocations.check(verified_as(wired, iat=clock.now, family="someone"))
        refreshes_finish()
    between = verified_as(wired, family=None, iat=second - 10)
    family_token = verified_as(wired, sub="someone-else", iat=first - 10)  # the family alone
    clock.now = 1_800_000_000.0 + 700  # past the second entries' expiry, not the first's
    assert not allowed(revocations, between)  # the later sign-out, the later expiry
    assert not allowed(revocations, family_token)
    # A token issued after the later sign-out is the user's own again.
    assert allowed(revocations, verified_as(wired, family=None, iat=second + 1))


def test_with_a_one_second_interval_a_refresh_due_at_half_of_it_is_not_waited_for(
    wired: WiredAuthorizer, table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mirror, "WAIT_SECONDS", 5.0)
    clock = FakeClock(1_800_000_000.0)
    revocations = RevocationList(
        table,
        refresh_seconds=1,
        max_stale_seconds=MAX_STALE,
        logger=get_logger("authorizer", "INFO"),
        clock=clock,
    )
    revocations.load()
    token = verified_as(wired, iat=clock.now - 5)
    table.put(FAMILY, FAMILY_ID, clock.now)
    answer = threading.Event()
    table.plan = [answer]
    threading.Timer(0.1, answer.set).start()
    clock.advance(0.6)  # due, not needed: the request goes on with the list it has
    assert allowed(revocations, token)
    refreshes_finish()
    clock.advance(0.5)  # needed now: it is read (the refresh already in hand)
    assert not allowed(revocations, token)


def test_a_clock_stepped_back_waits_for_the_refresh_as_one_that_is_due(
    wired: WiredAuthorizer, clock: FakeClock, table: Table
) -> None:
    # Beside the requests: the age a clock stepped back gives (negative) is not trusted,
    # the list counts as due, and the request waits for its refresh as for any due one.
    revocations = listing(table, clock)
    token = verified_as(wired, iat=clock.now - 5)
    table.put(FAMILY, FAMILY_ID, clock.now)
    answer = threading.Event()
    table.plan = [answer]
    threading.Timer(0.2, answer.set).start()  # answers after the request has looked
    clock.advance(-5)
    assert not allowed(revocations, token)
    assert table.threads[-1] is not threading.current_thread()


@pytest.mark.parametrize("background", [False, True])
def test_a_refresh_interval_equal_to_the_stale_bound_decides_right_after_each_read(
    wired: WiredAuthorizer, table: Table, background: bool
) -> None:
    clock = FakeClock(1_800_000_000.0)
    revocations = RevocationList(
        table,
        refresh_seconds=MAX_STALE,
        max_stale_seconds=MAX_STALE,
        logger=get_logger("authorizer", "INFO"),
        clock=clock,
        background=background,
    )
    revocations.load()
    token = verified_as(wired, iat=clock.now - 5)
    table.put(FAMILY, FAMILY_ID, clock.now)
    clock.advance(MAX_STALE)  # read again now, and decided with: the list is 0 s old
    assert not allowed(revocations, token)
