"""The revocation list an authorizer instance holds in memory, refreshed from DynamoDB.

Imported only when ``REVOCATION_TABLE`` is set; the AWS SDK (botocore, in the
Lambda runtime, never in the artifact) only when the DynamoDB client is made.

A decision costs two dictionary lookups: the token's ``origin_jti`` among the
revoked families, its ``sub`` among the signed-out users (revoked when the
token's ``iat`` is at or before the sign-out). The list is brought up to date
by one Query for what changed (``sk > cursor``, consistent, paginated), never
a read per request:

- age < refresh / 2: the list is used as it is (one comparison per request);
- refresh / 2 <= age: a request starts a refresh on a thread and goes on with
  the list it has, so a busy instance never waits for DynamoDB;
- refresh <= age: the request waits (at most ``WAIT_SECONDS``) for that
  refresh, so no decision uses a list older than the refresh interval while
  DynamoDB answers. An instance seeing a request less than every refresh / 2
  (or thawed by Lambda after a pause, which freezes any thread too) pays the
  Query itself;
- refresh failed (or still running after ``ABANDON_SECONDS``): the list it
  has is used, with a retry at most every ``RETRY_SECONDS`` (which only the
  request that starts it waits for), until it is ``max_stale`` old; from then on every
  decision raises ``RevocationUnavailable`` (API Gateway answers 500, and
  caches nothing), never an allow the list was not checked for.

Age is measured on the wall clock from when the last successful Query began
(everything written before then is in it): a Lambda freeze or a SnapStart
restore moves the wall clock on, as it must, where a monotonic clock may not.

Only the request's thread changes the dictionaries: the refresh thread reads
and parses, and a request applies its result. Expired entries (``expiresAt``)
never revoke anything, and are dropped at most ``SWEEP_SECONDS`` after they
expire, so the list's size is what is still valid.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from authorizer.exceptions import RevocationUnavailable, Revoked
from authorizer.operations.metrics import MetricsEmitter
from authorizer.tables.revocation import (
    EXPIRES_AT,
    FAMILY,
    PARTITION,
    PARTITION_KEY,
    SORT_KEY,
    USER,
    InvalidRevocation,
    cursor,
    parse_item,
)
from authorizer.verification.verify import Verified

# Each refresh re-reads this much of the sort keys before its own start, so an
# item stamped by a writer whose clock lags ours, or that took a while to be
# written, is still seen; the dictionaries make re-reading harmless.
OVERLAP_SECONDS: Final = 60
# After a failed Query, no new one for this long (each may take its timeouts).
RETRY_SECONDS: Final = 1.0
# The longest a request waits for a refresh it needs: well inside the
# authorizer's 5 s timeout, with the JWKS fetch's own bound beside it.
WAIT_SECONDS: Final = 2.0
# A refresh still running after this long (a DNS lookup that hangs, a socket a
# Lambda freeze killed) is given up as failed, so that another may start.
ABANDON_SECONDS: Final = 30.0
# How often the dictionaries are swept of expired entries (each sweep reads them all).
SWEEP_SECONDS: Final = 300
# DynamoDB client timeouts: the whole Query, retries included, fits in WAIT_SECONDS mostly.
CONNECT_TIMEOUT_SECONDS: Final = 0.5
READ_TIMEOUT_SECONDS: Final = 1.0
MAX_ATTEMPTS: Final = 2

Query = Callable[[str], Iterable[dict[str, Any]]]


class MalformedAnswer(ValueError):
    """DynamoDB's answer to a Query is not one: a failed read (fixed text, no values)."""


def dynamodb_query(table: str, client: Any = None) -> Query:
    """``changes_since(cursor)``: every item with ``sk > cursor``, all pages of one Query.

    The client is made by the first Query, so that a failure to make it is a
    failed read like any other (logged, counted, retried), not a failed init.
    """
    clients = [client] if client is not None else []

    def changes_since(after: str) -> Iterator[dict[str, Any]]:
        if not clients:
            clients.append(_client(table))
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND #sk > :cursor",
            # READ_ATTRIBUTES: a third of the item, and of the SDK's parsing, the
            # bulk of a large read's time.
            "ProjectionExpression": "#sk, #expiresAt",
            "ExpressionAttributeNames": {
                "#pk": PARTITION_KEY,
                "#sk": SORT_KEY,
                "#expiresAt": EXPIRES_AT,
            },
            "ExpressionAttributeValues": {":pk": {"S": PARTITION}, ":cursor": {"S": after}},
            # Strongly consistent: whatever a writer's PutItem stored before this
            # Query began is in its answer.
            "ConsistentRead": True,
        }
        while True:
            page = clients[0].query(**request)
            items = page.get("Items")
            # Every answer to a Query has Items. botocore reads a body that is not
            # DynamoDB's JSON (empty, cut short, a proxy's HTML page) as one without
            # them: a failed read, never an empty one, which would move the cursor
            # past what it never read.
            if not isinstance(items, list):
                raise MalformedAnswer("DynamoDB's answer to a Query has no Items list")
            yield from items  # page by page: one page in memory at a time
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    return changes_since


def _client(table: str) -> Any:
    # botocore is the SDK in the Lambda runtime that boto3 wraps: its client is
    # boto3's very client, without importing boto3's resource layer on top
    # (about a fifth of the SDK's import time). Imported only with revocation on.
    import botocore.session
    from botocore.config import Config

    # A table ARN names its region; a table name is in the function's own.
    region = table.split(":")[3] if table.startswith("arn:") else None
    return botocore.session.get_session().create_client(
        "dynamodb",
        region_name=region,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            # total_max_attempts counts the first try; max_attempts would not.
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        ),
    )


class _Refresh:
    """One Query and its parse, on a thread or inline; the request applies its result.

    Items are parsed page by page into the same compact dictionaries the list
    keeps, so a whole list read at a cold start is never held twice, and is
    adopted as it is when the list is empty.
    """

    def __init__(
        self,
        query: Query,
        after: str,
        started: float,
        sweep: Callable[[], list[tuple[str, str]]] | None,
    ) -> None:
        self.query = query
        self.after = after
        self.started = started
        self.sweep = sweep
        self.families: dict[str, int] = {}
        self.users: dict[str, tuple[int, int]] = {}
        self.expired: list[tuple[str, str]] = []
        self.invalid = 0
        self.error: Exception | None = None
        # Set when run() has ended, its result complete (a thread is still alive a
        # moment after its target returns).
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            for item in self.query(self.after):
                try:
                    revocation = parse_item(item)
                except InvalidRevocation:
                    self.invalid += 1
                    continue
                if revocation.expires_at <= self.started:
                    continue  # it covers nothing any more
                if revocation.kind == FAMILY:
                    _remember_family(self.families, revocation.value, revocation.expires_at)
                else:
                    _remember_user(
                        self.users, revocation.value, revocation.revoked_at, revocation.expires_at
                    )
            if self.sweep is not None:
                self.expired = self.sweep()
        except Exception as err:  # noqa: BLE001 - whatever the client raises: stale, never wrong
            self.error = err
        finally:
            self.finished.set()

    def start(self) -> None:
        # A daemon: one a hung Query holds never keeps the process from exiting.
        threading.Thread(target=self.run, name="revocation-refresh", daemon=True).start()

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def wait(self, seconds: float) -> bool:
        """Whether it is done, waiting at most ``seconds`` for it (none, if not positive)."""
        return self.finished.wait(seconds)


class RevocationList:
    """Revoked families (origin_jti) and signed-out users (sub), as of the last Query."""

    def __init__(
        self,
        query: Query,
        *,
        refresh_seconds: float,
        max_stale_seconds: float,
        logger: logging.Logger,
        metrics: MetricsEmitter | None = None,
        clock: Callable[[], float],
        background: bool = True,
    ) -> None:
        if not 0 < refresh_seconds <= max_stale_seconds:
            raise ValueError("0 < refresh_seconds <= max_stale_seconds")
        self._query = query
        self._refresh_seconds = refresh_seconds
        self._max_stale_seconds = max_stale_seconds
        self._logger = logger
        self._metrics = metrics
        self._clock = clock
        self._background = background
        # origin_jti -> expiresAt; sub -> (revokedAt, expiresAt).
        self._families: dict[str, int] = {}
        self._users: dict[str, tuple[int, int]] = {}
        # The first Query reads every item (DynamoDB refuses "" in a key condition).
        self._cursor = cursor(0)
        self._as_of = -math.inf  # never read yet: older than any bound
        # Until half a refresh interval after the last read began, a request only
        # compares the clock with it (see check); the list is not due for anything.
        self._next_look = -math.inf
        self._in_flight: _Refresh | None = None
        self._failing = False
        self._retry_after = -math.inf
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self._families) + len(self._users)

    def age(self, now: float) -> float:
        """Seconds since the list was last read; infinite before the first read."""
        return now - self._as_of

    def load(self) -> bool:
        """Read the whole list now (the cold start); False when it could not be read.

        A cold start that cannot read it is not fatal: its requests raise
        ``RevocationUnavailable`` and retry until the list is read.
        """
        now = self._clock()
        refresh = self._start(now, inline=True)
        self._collect(refresh, now)
        return not self._failing

    def check(self, verified: Verified) -> None:
        """Raise Revoked for a revoked token, RevocationUnavailable when the list is too old."""
        now = self._clock()
        # Outside [read, next look): a refresh is due, or the clock stepped back.
        if not self._as_of <= now < self._next_look:
            self._keep_current(now)
        origin_jti = verified.origin_jti
        if origin_jti is not None:
            expires_at = self._families.get(origin_jti)
            if expires_at is not None and now < expires_at:
                raise _revoked(verified, "token family is revoked")
        signed_out = self._users.get(verified.context.sub)
        if signed_out is not None and verified.issued_at <= signed_out[0] and now < signed_out[1]:
            raise _revoked(verified, "user signed out after this token was issued")

    def _keep_current(self, now: float) -> None:
        in_flight = self._in_flight
        if in_flight is not None and (in_flight.done or now - in_flight.started >= ABANDON_SECONDS):
            if not in_flight.done:  # its thread ends on its own; its result is never read
                in_flight.error = TimeoutError("revocation list refresh never finished")
            self._collect(in_flight, now)
            in_flight = None
        deadline = time.monotonic() + WAIT_SECONDS  # all the waiting this request may do
        # A refresh, and at most one retry at once when the refresh waited for failed
        # (one begun before a Lambda freeze and lost to it is retried right away).
        for _ in range(2):
            age = self._scheduling_age(now)
            started_here = False
            # A refresh is due: a request gets here only once the list is half a refresh
            # interval old (or was never read, or the clock stepped back).
            if in_flight is None and now >= self._retry_after:
                in_flight = self._start(now, inline=not self._background)
                started_here = True
            # Wait for the refresh the bound needs. After a failure, only the request
            # that started the retry waits (once a RETRY_SECONDS), unless the
            # alternative is to raise (a cold start, or past the stale bound).
            must_wait = age >= self._refresh_seconds and (
                started_here or not self._failing or age >= self._max_stale_seconds
            )
            if in_flight is None or not (
                in_flight.done or (must_wait and in_flight.wait(deadline - time.monotonic()))
            ):
                break
            now = self._clock()
            self._collect(in_flight, now)
            in_flight = None
            if not (self._failing and must_wait):
                break
        age = self._scheduling_age(now)
        if age >= self._max_stale_seconds:
            raise RevocationUnavailable(
                f"revocation list is {age:.0f} s old (limit {self._max_stale_seconds:g} s)"
                if math.isfinite(age)
                else "revocation list has not been read yet"
            )

    def _scheduling_age(self, now: float) -> float:
        age = self.age(now)
        # The clock stepped back: trust nothing about the age but that a refresh is due.
        return self._refresh_seconds if age < 0 else age

    def _start(self, now: float, *, inline: bool) -> _Refresh:
        sweep = None
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            sweep = self._sweep_snapshot(now)
        refresh = _Refresh(self._query, self._cursor, now, sweep)
        if inline:
            refresh.run()
        else:
            self._in_flight = refresh
            refresh.start()
        return refresh

    def _sweep_snapshot(self, now: float) -> Callable[[], list[tuple[str, str]]]:
        families, users = self._families, self._users

        def expired() -> list[tuple[str, str]]:
            # Runs on the refresh thread while no request changes the dictionaries.
            return [(FAMILY, k) for k, e in families.items() if e <= now] + [
                (USER, k) for k, (_, e) in users.items() if e <= now
            ]

        return expired

    def _collect(self, refresh: _Refresh, now: float) -> None:
        """Apply a finished refresh on the request's thread: the only writer of the lists."""
        self._in_flight = None
        if refresh.error is not None:
            self._failing = True
            # From when it began: one that failed long ago (before a freeze) is retried at once.
            self._retry_after = refresh.started + RETRY_SECONDS
            age = self.age(now)
            self._logger.warning(
                "revocation list refresh failed; using the list it has",
                extra={
                    "error": _error_name(refresh.error),
                    "listAgeSeconds": _finite(age),
                    "maxStaleSeconds": self._max_stale_seconds,
                },
            )
            self._emit(ok=False, age=age)
            return
        self._apply(refresh)
        self._failing = False
        self._as_of = refresh.started
        # A refresh starts (and a failing one is retried) only from then on: until
        # then no request has anything to do but look the token up.
        self._next_look = refresh.started + self._refresh_seconds / 2
        self._cursor = max(self._cursor, cursor(max(0.0, refresh.started - OVERLAP_SECONDS)))
        if refresh.invalid:
            self._logger.warning(
                "revocation list has items it cannot read; ignored",
                extra={"invalidItems": refresh.invalid},
            )
        self._emit(ok=True, age=self.age(now))

    def _apply(self, refresh: _Refresh) -> None:
        families, users = self._families, self._users
        # Expired as of the refresh's start: only the request's thread changes the
        # dictionaries, and it has not since (one refresh in flight at a time); what
        # the refresh read again is added back below.
        for kind, value in refresh.expired:
            (families if kind == FAMILY else users).pop(value, None)
        if not families and not users:  # a cold start's whole list: adopted, not copied
            self._families, self._users = refresh.families, refresh.users
            return
        for value, expires_at in refresh.families.items():
            _remember_family(families, value, expires_at)
        for value, (revoked_at, expires_at) in refresh.users.items():
            _remember_user(users, value, revoked_at, expires_at)

    def _emit(self, *, ok: bool, age: float) -> None:
        if self._metrics is not None:
            self._metrics.revocation_refresh(ok=ok, age_seconds=age, entries=len(self))


def _remember_family(families: dict[str, int], value: str, expires_at: int) -> None:
    """A family named twice keeps the later of the two expiries."""
    held = families.get(value)
    families[value] = expires_at if held is None else max(held, expires_at)


def _remember_user(
    users: dict[str, tuple[int, int]], value: str, revoked_at: int, expires_at: int
) -> None:
    """A user named twice keeps the later sign-out and the later expiry."""
    held = users.get(value)
    users[value] = (
        (revoked_at, expires_at)
        if held is None
        else (max(held[0], revoked_at), max(held[1], expires_at))
    )


def _revoked(verified: Verified, message: str) -> Revoked:
    err = Revoked(message)
    err.kid, err.sub = verified.kid, verified.context.sub
    return err


def _finite(seconds: float) -> float | None:
    return round(seconds, 3) if math.isfinite(seconds) else None


def _error_name(err: Exception) -> str:
    """The error's class, and AWS's error code when it has one: never its text."""
    response = getattr(err, "response", None)  # botocore's ClientError carries one
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    name = type(err).__name__
    return f"{name}:{code}" if isinstance(code, str) and code.isidentifier() else name
