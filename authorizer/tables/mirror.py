"""A DynamoDB table kept in memory: one mechanism for every table the authorizer checks.

A table's items form a change log in one partition, ordered by a sort key that
starts with the change's time (``<epoch ms, 15 digits>#...``), so "what
changed since T" is one Query (``sk > cursor``, consistent, paginated), never
a read per request. What the items mean, and how they fold into memory, is
each table's own (a ``Ledger``: the revocation list, the tenant registry); the
schedule, the bound and the failure rule are this module's, the same for all:

- age < refresh / 2: the table is used as it is (one comparison per request);
- refresh / 2 <= age: a request starts a refresh on a thread and goes on with
  what it has, so a busy instance never waits for DynamoDB;
- refresh <= age: the request waits (at most ``WAIT_SECONDS`` in all) for that
  refresh, so no decision uses a copy older than the refresh interval while
  DynamoDB answers. An instance seeing a request less than every refresh / 2
  (or thawed by Lambda after a pause, which freezes any thread too) pays the
  Query itself;
- refresh failed (or still running after ``ABANDON_SECONDS``): the copy it
  has is used, with a retry at most every ``RETRY_SECONDS`` (which only the
  request that starts it waits for), until it is ``max_stale`` old; from then
  on every check raises the table's ``unavailable`` error (API Gateway answers
  500, and caches nothing), never an answer the table was not read for.

Age is measured on the wall clock from when the last successful Query began
(everything written before then is in it): a Lambda freeze or a SnapStart
restore moves the wall clock on, as it must, where a monotonic clock may not.

Only the request's thread changes what is held: the refresh thread reads and
parses, and a request applies its result. A read that fails after some pages
applies nothing of them: the next one reads them again from the same cursor.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final, Generic, Protocol, TypeVar

from authorizer.tables.changelog import SORT_KEY, cursor

# Each refresh re-reads this much of the sort keys before its own start, so an
# item stamped by a writer whose clock lags ours, or that took a while to be
# written, is still seen; a ledger makes re-reading harmless.
OVERLAP_SECONDS: Final = 60
# After a failed Query, no new one for this long (each may take its timeouts).
RETRY_SECONDS: Final = 1.0
# The longest a request waits for a refresh it needs: well inside the
# authorizer's 5 s timeout, with the JWKS fetch's own bound beside it.
WAIT_SECONDS: Final = 2.0
# A refresh still running after this long (a DNS lookup that hangs, a socket a
# Lambda freeze killed) is given up as failed, so that another may start.
ABANDON_SECONDS: Final = 30.0
# How often a ledger is swept of what no longer matters (each sweep reads it all).
SWEEP_SECONDS: Final = 300
# DynamoDB client timeouts: the whole Query, retries included, fits in WAIT_SECONDS mostly.
CONNECT_TIMEOUT_SECONDS: Final = 0.5
READ_TIMEOUT_SECONDS: Final = 1.0
MAX_ATTEMPTS: Final = 2
SERVICE: Final = "dynamodb"

Query = Callable[[str], Iterable[dict[str, Any]]]
Batch = TypeVar("Batch")
Expired = list[tuple[str, str]]


class MalformedAnswer(ValueError):
    """DynamoDB's answer to a Query is not one: a failed read (fixed text, no values)."""


class Ledger(Protocol[Batch]):
    """What one table's items make in memory (the revocation list, the tenant registry)."""

    # Named in logs: "<name> refresh failed; using the <noun> it has" (noun: its last word).
    name: str

    def batch(self) -> Batch:
        """An empty collection for one refresh's items (filled on the refresh thread)."""
        ...

    def add(self, batch: Batch, item: dict[str, Any], started: float) -> bool:
        """Parse one item into ``batch``; False when the item cannot be read (it is skipped)."""
        ...

    def sweep(self, now: float) -> Callable[[], Expired] | None:
        """What to compute on the refresh thread for ``apply`` to drop, or None."""
        ...

    def apply(self, batch: Batch, expired: Expired, now: float) -> None:
        """Fold a finished refresh into what is held (on the request's thread)."""
        ...

    def __len__(self) -> int: ...


class Emit(Protocol):
    """Counts one refresh: its outcome, the copy's age after it, the entries held."""

    def __call__(self, *, ok: bool, age_seconds: float, entries: int) -> None: ...


def dynamodb_query(
    table: str,
    *,
    partition_key: str,
    partition: str,
    attributes: tuple[str, ...],
    client: Any = None,
) -> Query:
    """``changes_since(cursor)``: every item of ``partition`` with ``sk > cursor``, all pages.

    ``attributes`` is the projection: only what a reader needs of an item (a
    smaller item is less of the SDK's parsing, the bulk of a large read's
    time). The client is made by the first Query, so that a failure to make
    it is a failed read like any other (logged, counted, retried), not a
    failed init.
    """
    clients = [client] if client is not None else []
    names = {f"#{name}": name for name in attributes}

    def changes_since(after: str) -> Iterator[dict[str, Any]]:
        if not clients:
            clients.append(_client(table))
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND #sk > :cursor",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": {"#pk": partition_key, "#sk": SORT_KEY, **names},
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":cursor": {"S": after}},
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
    # boto3's very client, without importing boto3's resource layer on top.
    # Imported only with a table on.
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    _lighten(session.get_component("data_loader"))
    # A table ARN names its region; a table name is in the function's own.
    region = table.split(":")[3] if table.startswith("arn:") else None
    return session.create_client(
        SERVICE,
        region_name=region,
        config=Config(
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            # total_max_attempts counts the first try; max_attempts would not.
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        ),
    )


def _lighten(loader: Any) -> None:
    """Make botocore's data loader cheaper for a session of one client; it reads the same files.

    Making the client is mostly this loader's work, at every cold start:

    - asked for a service, it first lists every service it has data for (over
      400 directories, each read) to check the name: this session serves one;
    - it parses its JSON into OrderedDicts, three times slower than into dicts
      (ordered too), most of it the 1.2 MB endpoints.json every client reads.

    Should botocore rename either, the client is made its own way, only slower.
    """
    loader.list_available_services = _only_dynamodb
    loader.file_loader = _DictFiles(loader.file_loader)


def _only_dynamodb(type_name: str) -> list[str]:
    """The services a table's session knows of, whatever the data type."""
    return [SERVICE]


class _DictFiles:
    """botocore's JSON file loader (``exists``, ``load_file``), parsing into dicts.

    The same files in the same order as botocore's (``<path>.json``, then
    ``<path>.json.gz``); a file it keeps in any other form is left to botocore's.
    """

    def __init__(self, botocores: Any) -> None:
        self._botocores = botocores

    def exists(self, file_path: str) -> bool:
        return bool(self._botocores.exists(file_path))

    def load_file(self, file_path: str) -> Any:
        # Bytes: json reads UTF-8 itself, as botocore's loader decodes them.
        if os.path.isfile(file_path + ".json"):
            with open(file_path + ".json", "rb") as file:
                return json.loads(file.read())
        if os.path.isfile(file_path + ".json.gz"):
            with gzip.open(file_path + ".json.gz") as file:
                return json.loads(file.read())
        return self._botocores.load_file(file_path)


class _Refresh(Generic[Batch]):
    """One Query and its parse, on a thread or inline; the request applies its result.

    Items are parsed page by page into the ledger's own compact batch, so a
    whole table read at a cold start is never held twice.
    """

    def __init__(
        self,
        query: Query,
        ledger: Ledger[Batch],
        after: str,
        started: float,
        sweep: Callable[[], Expired] | None,
    ) -> None:
        self.query = query
        self.ledger = ledger
        self.after = after
        self.started = started
        self.sweep = sweep
        self.batch = ledger.batch()
        self.expired: Expired = []
        self.invalid = 0
        self.error: Exception | None = None
        # Set when run() has ended, its result complete (a thread is still alive a
        # moment after its target returns).
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            add, batch, started = self.ledger.add, self.batch, self.started
            for item in self.query(self.after):
                if not add(batch, item, started):
                    self.invalid += 1
            if self.sweep is not None:
                self.expired = self.sweep()
        except Exception as err:  # noqa: BLE001 - whatever the client raises: stale, never wrong
            self.error = err
        finally:
            self.finished.set()

    def start(self) -> None:
        # A daemon: one a hung Query holds never keeps the process from exiting.
        name = f"{self.ledger.name.replace(' ', '-')}-refresh"
        threading.Thread(target=self.run, name=name, daemon=True).start()

    @property
    def done(self) -> bool:
        return self.finished.is_set()

    def wait(self, seconds: float) -> bool:
        """Whether it is done, waiting at most ``seconds`` for it (none, if not positive)."""
        return self.finished.wait(seconds)


class TableMirror(Generic[Batch]):
    """A table's ledger as of the last Query, kept current by the requests that use it."""

    def __init__(
        self,
        query: Query,
        ledger: Ledger[Batch],
        *,
        refresh_seconds: float,
        max_stale_seconds: float,
        logger: logging.Logger,
        unavailable: Callable[[str], Exception],
        emit: Emit | None = None,
        clock: Callable[[], float],
        background: bool = True,
    ) -> None:
        if not 0 < refresh_seconds <= max_stale_seconds:
            raise ValueError("0 < refresh_seconds <= max_stale_seconds")
        self._query = query
        self.ledger = ledger
        self._refresh_seconds = refresh_seconds
        self._max_stale_seconds = max_stale_seconds
        self._logger = logger
        self._unavailable = unavailable
        self._emit_refresh = emit
        self._clock = clock
        self._background = background
        noun = ledger.name.split()[-1]
        self._failed_message = f"{ledger.name} refresh failed; using the {noun} it has"
        self._age_field = f"{noun}AgeSeconds"
        self._invalid_message = f"{ledger.name} has items it cannot read; ignored"
        # The first Query reads every item (DynamoDB refuses "" in a key condition).
        self._cursor = cursor(0)
        self._as_of = -math.inf  # never read yet: older than any bound
        # Until half a refresh interval after the last read began, a request only
        # compares the clock with it (see current): nothing is due before then.
        self._next_look = -math.inf
        self._in_flight: _Refresh[Batch] | None = None
        self._failing = False
        self._retry_after = -math.inf
        self._next_sweep = -math.inf

    def __len__(self) -> int:
        return len(self.ledger)

    def age(self, now: float) -> float:
        """Seconds since the table was last read; infinite before the first read."""
        return now - self._as_of

    def load(self) -> bool:
        """Read the whole table now (the cold start); False when it could not be read.

        A cold start that cannot read it is not fatal: the checks that need it
        raise the table's ``unavailable`` error and retry until it is read.
        """
        now = self._clock()
        refresh = self._start(now, inline=True)
        self._collect(refresh, now)
        return not self._failing

    def current(self) -> float:
        """Bring the copy within the bound (or raise ``unavailable``); returns the time now."""
        now = self._clock()
        # Outside [read, next look): a refresh is due, or the clock stepped back.
        if not self._as_of <= now < self._next_look:
            self._keep_current(now)
        return now

    def _keep_current(self, now: float) -> None:
        in_flight = self._in_flight
        if in_flight is not None and (in_flight.done or now - in_flight.started >= ABANDON_SECONDS):
            if not in_flight.done:  # its thread ends on its own; its result is never read
                in_flight.error = TimeoutError(f"{self.ledger.name} refresh never finished")
            self._collect(in_flight, now)
            in_flight = None
        deadline = time.monotonic() + WAIT_SECONDS  # all the waiting this request may do
        # A refresh, and at most one retry at once when the refresh waited for failed
        # (one begun before a Lambda freeze and lost to it is retried right away).
        for _ in range(2):
            age = self._scheduling_age(now)
            started_here = False
            # A refresh is due: a request gets here only once the copy is half a refresh
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
            raise self._unavailable(
                f"{self.ledger.name} is {age:.0f} s old (limit {self._max_stale_seconds:g} s)"
                if math.isfinite(age)
                else f"{self.ledger.name} has not been read yet"
            )

    def _scheduling_age(self, now: float) -> float:
        age = self.age(now)
        # The clock stepped back: trust nothing about the age but that a refresh is due.
        return self._refresh_seconds if age < 0 else age

    def _start(self, now: float, *, inline: bool) -> _Refresh[Batch]:
        sweep = None
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            sweep = self.ledger.sweep(now)
        refresh = _Refresh(self._query, self.ledger, self._cursor, now, sweep)
        if inline:
            refresh.run()
        else:
            self._in_flight = refresh
            refresh.start()
        return refresh

    def _collect(self, refresh: _Refresh[Batch], now: float) -> None:
        """Apply a finished refresh on the request's thread: the only writer of the ledger."""
        self._in_flight = None
        if refresh.error is not None:
            self._failing = True
            # From when it began: one that failed long ago (before a freeze) is retried at once.
            self._retry_after = refresh.started + RETRY_SECONDS
            age = self.age(now)
            self._logger.warning(
                self._failed_message,
                extra={
                    "error": _error_name(refresh.error),
                    self._age_field: _finite(age),
                    "maxStaleSeconds": self._max_stale_seconds,
                },
            )
            self._emit(ok=False, age=age)
            return
        self.ledger.apply(refresh.batch, refresh.expired, now)
        self._failing = False
        self._as_of = refresh.started
        # A refresh starts (and a failing one is retried) only from then on: until
        # then no request has anything to do but look up what it needs.
        self._next_look = refresh.started + self._refresh_seconds / 2
        self._cursor = max(self._cursor, cursor(max(0.0, refresh.started - OVERLAP_SECONDS)))
        if refresh.invalid:
            self._logger.warning(
                self._invalid_message,
                extra={"invalidItems": refresh.invalid},
            )
        self._emit(ok=True, age=self.age(now))

    def _emit(self, *, ok: bool, age: float) -> None:
        if self._emit_refresh is not None:
            self._emit_refresh(ok=ok, age_seconds=age, entries=len(self.ledger))


def _finite(seconds: float) -> float | None:
    return round(seconds, 3) if math.isfinite(seconds) else None


def _error_name(err: Exception) -> str:
    """The error's class, and AWS's error code when it has one: never its text."""
    response = getattr(err, "response", None)  # botocore's ClientError carries one
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    name = type(err).__name__
    return f"{name}:{code}" if isinstance(code, str) and code.isidentifier() else name
