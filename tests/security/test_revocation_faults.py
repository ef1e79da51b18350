"""The revocation list's DynamoDB fault matrix, against a real socket server on 127.0.0.1.

The authorizer reads its list through its own ``dynamodb_query``: botocore's
client, made by the product with its own timeouts and retries, pointed at a
local server that speaks enough of DynamoDB's JSON protocol (``Query``, paged
by ``LastEvaluatedKey``) through the SDK's usual ``AWS_ENDPOINT_URL_DYNAMODB``.
Each fault (a refused or hanging connection, a read timeout, throttling, a
5xx, a malformed answer, a failure on the first or a later page, an item of
the wrong shape) is run in the two situations the list can meet it in, each
followed by recovery:

- a warm instance: the list is used as it is until it is
  ``REVOCATION_MAX_STALE_SECONDS`` old, and from then on every decision raises
  (API Gateway answers 500), until DynamoDB answers again;
- a cold start: no decision is made (every one raises) until the list is read.

At every decision: a token revoked before the last successful read is never
allowed; one revoked since is allowed only within the stale bound; a read
that fails after some pages changes nothing (it could otherwise move the
cursor past what it never read, and a revocation would be lost for good); and
no request waits longer than the function's timeout allows.

Time is real for the network (the client's timeouts and retries run for real)
and fake for the list's age: the fake clock jumps over the refresh interval
and the stale bound.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
import responses

from authorizer.exceptions import RevocationUnavailable
from authorizer.tables.mirror import READ_TIMEOUT_SECONDS
from authorizer.tables.revocation import FAMILY, USER, revocation_item
from authorizer.tables.revocation_list import RETRY_SECONDS, dynamodb_query
from tests.forge import authorizer_event, claims, sign
from tests.helpers import (
    AUTHORIZER_TIMEOUT_SECONDS,
    FakeClock,
    WiredAuthorizer,
    log_records,
    make_config,
    wire_authorizer,
)

TABLE: Final = "revocations"
REFRESH: Final = 10  # the defaults: REVOCATION_REFRESH_SECONDS, REVOCATION_MAX_STALE_SECONDS
MAX_STALE: Final = 120
PAGE_ITEMS: Final = 2  # items per page: every read here spans several pages
TARGET: Final = "DynamoDB_20120810.Query"
INNOCENT: Final = ("0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21", "5c3f0b8e-8a1d-4c2e-9f7a-2b6d4e8c1a90")


# --- a DynamoDB that answers Query -------------------------------------------------------

Answer = Callable[["Handler"], None]


class Handler(http.server.BaseHTTPRequestHandler):
    server: DynamoDbHttpServer

    def do_POST(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length))
        later_page = "ExclusiveStartKey" in request
        owner.requests.append((self.headers.get("X-Amz-Target", ""), later_page))
        fault = owner.fault
        with contextlib.suppress(ConnectionError):  # the client may have given up: fine
            if fault is not None and fault.answer is not None and fault.hits(later_page=later_page):
                fault.answer(self)
            else:
                self.reply(200, owner.page(request))
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(self, status: int, body: bytes | dict[str, Any], length: int | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def pause(self, seconds: float) -> bool:
        """Sleep unless the fault ends (or the server stops) meanwhile; True if it did."""
        return self.server.owner.waking.wait(seconds)


class DynamoDbHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalDynamoDb


@dataclass
class LocalDynamoDb:
    """The revocation table behind a DynamoDB endpoint on 127.0.0.1, on a port it keeps.

    The port is the client's for its whole life (its endpoint is set when it is
    made), so a connection fault is played on the same port: a socket bound
    there without listening refuses, one listening that never accepts (its
    queue filled) lets a connection time out.
    """

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    fault: Fault | None = None
    requests: list[tuple[str, bool]] = field(default_factory=list)
    waking: threading.Event = field(default_factory=threading.Event)  # ends every pause
    port: int = 0
    _server: DynamoDbHttpServer | None = None
    _thread: threading.Thread | None = None
    _held: list[socket.socket] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def put(self, item: dict[str, Any]) -> None:
        self.items[item["sk"]["S"]] = item

    def page(self, request: dict[str, Any]) -> dict[str, Any]:
        """One page of ``sk > :cursor`` (after ``ExclusiveStartKey``), projected as asked."""
        assert request["TableName"] == TABLE
        assert request["ConsistentRead"] is True
        after = request["ExpressionAttributeValues"][":cursor"]["S"]
        start = request.get("ExclusiveStartKey")
        if start is not None:
            after = max(after, start["sk"]["S"])
        keys = [key for key in sorted(self.items) if key > after]
        names = request["ExpressionAttributeNames"]
        projected = [names[name.strip()] for name in request["ProjectionExpression"].split(",")]
        page = [
            {name: self.items[key][name] for name in projected if name in self.items[key]}
            for key in keys[:PAGE_ITEMS]
        ]
        answer: dict[str, Any] = {"Items": page, "Count": len(page), "ScannedCount": len(page)}
        if len(keys) > PAGE_ITEMS:
            answer["LastEvaluatedKey"] = {"pk": {"S": "revoked"}, "sk": {"S": keys[PAGE_ITEMS - 1]}}
        return answer

    def serve(self) -> None:
        self._release()
        server = DynamoDbHttpServer(("127.0.0.1", self.port), Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def refuse(self) -> None:
        """Bound, not listening: every connection is refused (RST)."""
        self._release()
        self._held.append(self._bound())

    def hang(self) -> None:
        """Listening, never accepting, its queue full: a connection is never established."""
        self._release()
        listener = self._bound()
        listener.listen(0)
        self._held.append(listener)
        filler = socket.create_connection(("127.0.0.1", self.port), timeout=1)
        self._held.append(filler)

    def stop(self) -> None:
        self.waking.set()
        self._release()

    def _bound(self) -> socket.socket:
        held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", self.port))
        return held

    def _release(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None
        while self._held:
            self._held.pop().close()


# --- the faults ------------------------------------------------------------------------


def aws_error(status: int, error_type: str) -> Answer:
    def answer(handler: Handler) -> None:
        handler.reply(status, {"__type": error_type, "message": "injected"})

    return answer


def body(data: bytes, *, length: int | None = None) -> Answer:
    def answer(handler: Handler) -> None:
        handler.reply(200, data, length)

    return answer


def silent(handler: Handler) -> None:
    """Accepts, then says nothing for longer than the client's read timeout."""
    handler.pause(READ_TIMEOUT_SECONDS + 1)


DYNAMODB: Final = "com.amazonaws.dynamodb.v20120810#"


@dataclass(frozen=True)
class Fault:
    name: str
    answer: Answer | None = None  # what the server answers instead of a page
    pages: str = "every"  # which pages it hits: every, first or later
    port: str = "serve"  # serve, refuse or hang
    bad_items: bool = False  # the table holds items of the wrong shape; reads succeed
    logged: str = ""  # what the failed refresh's warning names as its error

    def __str__(self) -> str:
        return self.name

    def hits(self, *, later_page: bool) -> bool:
        return self.pages == "every" or (self.pages == "later") is later_page

    @property
    def fails_reads(self) -> bool:
        return not self.bad_items


PTE: Final = "ProvisionedThroughputExceededException"
ISE: Final = "InternalServerError"
# botocore raises a modelled AWS error as its own class (named as its code), any other
# as ClientError: the log line names the class, then the code.
FAULTS: Final = [
    Fault("connection-refused", port="refuse", logged="EndpointConnectionError"),
    Fault("connect-timeout", port="hang", logged="ConnectTimeoutError"),
    Fault("read-timeout", silent, logged="ReadTimeoutError"),
    Fault("throttled", aws_error(400, DYNAMODB + PTE), logged=f"{PTE}:{PTE}"),
    Fault(
        "throttling-exception",
        aws_error(400, "com.amazon.coral.availability#ThrottlingException"),
        logged="ThrottlingException:ThrottlingException",
    ),
    Fault("http-500", aws_error(500, DYNAMODB + ISE), logged=f"{ISE}:{ISE}"),
    Fault(
        "http-503",
        aws_error(503, "com.amazon.coral.availability#ServiceUnavailableException"),
        logged="ClientError:ServiceUnavailableException",
    ),
    Fault("not-json", body(b"<html>captive portal</html>"), logged="MalformedAnswer"),
    Fault("empty-body", body(b""), logged="MalformedAnswer"),
    Fault("no-items-member", body(b'{"Count": 0, "ScannedCount": 0}'), logged="MalformedAnswer"),
    # botocore's own parser fails on it.
    Fault(
        "items-not-a-list",
        body(b'{"Items": {"sk": {"S": "x"}}, "Count": 1}'),
        logged="AttributeError",
    ),
    Fault("truncated-body", body(b'{"Items": [], "Cou', length=64), logged="MalformedAnswer"),
    Fault("first-page-fails", aws_error(500, DYNAMODB + ISE), pages="first", logged=f"{ISE}:{ISE}"),
    Fault("later-page-fails", aws_error(500, DYNAMODB + ISE), pages="later", logged=f"{ISE}:{ISE}"),
    Fault(
        "later-page-throttled",
        aws_error(400, DYNAMODB + "ThrottlingException"),
        pages="later",
        logged="ThrottlingException:ThrottlingException",
    ),
    Fault("later-page-past-read-timeout", silent, pages="later", logged="ReadTimeoutError"),
    Fault("items-of-the-wrong-shape", bad_items=True),
]
# A cold start meets the same faults the same way (its read fails whole, or it does
# not fail); these are the ones that could leave it with part of a list.
COLD_START_FAULTS: Final = [
    fault
    for fault in FAULTS
    if fault.name
    in {
        "connection-refused",
        "http-503",
        "not-json",
        "first-page-fails",
        "later-page-fails",
        "later-page-past-read-timeout",
        "items-of-the-wrong-shape",
    }
]


def bad_items(now: float) -> list[dict[str, Any]]:
    """Items no reader can take, written ``now``: each is ignored and counted, the read goes on."""
    no_expiry = revocation_item(FAMILY, "no-expiry", now)
    del no_expiry["expiresAt"]
    return [
        {"pk": {"S": "revoked"}, "sk": {"S": "zz-not-a-sort-key"}, "expiresAt": {"N": "1"}},
        {**revocation_item(USER, "bad-expiry", now), "expiresAt": {"S": "soon"}},
        no_expiry,
    ]


# --- the authorizer under test -----------------------------------------------------------


@dataclass
class Token:
    """A token and, when it is revoked, when."""

    jwt: str
    revoked_at: float | None = None


@dataclass
class Rig:
    table: LocalDynamoDb
    clock: FakeClock
    wired: WiredAuthorizer | None = None
    last_read: float | None = None  # when the last read the test knows succeeded began
    decisions: list[str] = field(default_factory=list)

    def wire(self) -> None:
        config = make_config(REVOCATION_TABLE=TABLE)
        self.wired = wire_authorizer(
            config, self.clock, warm=True, revocation_query=dynamodb_query(TABLE)
        )

    def inject(self, fault: Fault) -> None:
        if fault.bad_items:
            for item in bad_items(self.clock.now):
                self.table.put(item)
        self.table.fault = fault
        self.table.waking.clear()
        if fault.port == "refuse":
            self.table.refuse()
        elif fault.port == "hang":
            self.table.hang()

    def recover(self) -> None:
        self.table.fault = None
        self.table.waking.set()  # a request the fault holds is let go (unanswered)
        if self.table._server is None:
            self.table.serve()

    def token(self, sub: str, family: str) -> Token:
        return Token(sign(claims(now=self.clock.now, sub=sub, origin_jti=family)))

    def revoke(self, sub: str, family: str, *, at: float | None = None) -> Token:
        """A token of ``family``, and the family revoked (by the writers' own item) ``at``."""
        token = self.token(sub, family)
        token.revoked_at = self.clock.now if at is None else at
        self.table.put(revocation_item(FAMILY, family, token.revoked_at))
        return token

    def decide(self, token: Token) -> str:
        """ok, revoked or unavailable (raised: API Gateway's 500), checked against the bound."""
        assert self.wired is not None
        started = time.monotonic()
        try:
            answer = self.wired.handle(authorizer_event(token.jwt))
        except RevocationUnavailable:
            outcome = "unavailable"
        else:
            outcome = "ok" if answer["isAuthorized"] else "revoked"
        elapsed = time.monotonic() - started
        # Past the function's timeout Lambda kills it: API Gateway's own 500.
        assert elapsed < AUTHORIZER_TIMEOUT_SECONDS, f"answered after {elapsed:.2f} s"
        if outcome == "ok" and token.revoked_at is not None:
            # Never an allow of a revoked token the last good read saw, nor past the bound.
            assert self.last_read is None or token.revoked_at >= self.last_read, "unrevoked"
            assert self.clock.now < token.revoked_at + MAX_STALE, "allowed past the bound"
        self.decisions.append(outcome)
        return outcome

    def decide_once_recovered(self, token: Token) -> str:
        """The first decision made once DynamoDB answers again (a refresh the fault
        left running may still end in failure first: those requests raise)."""
        for _ in range(4):
            self.clock.advance(RETRY_SECONDS)  # a new read may start
            outcome = self.decide(token)
            if outcome != "unavailable":
                return outcome
        raise AssertionError("the list was never read again after DynamoDB recovered")


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalDynamoDb]:
    local = LocalDynamoDb()
    local.serve()
    for name, value in {
        "AWS_ENDPOINT_URL_DYNAMODB": local.endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def rig(table: LocalDynamoDb, clock: FakeClock, jwks_endpoint: responses.RequestsMock) -> Rig:
    return Rig(table, clock)


def warnings(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [r for r in log_records(capsys.readouterr().out) if r["level"] == "WARNING"]


# --- the matrix -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_a_warm_instance_keeps_its_list_within_the_bound_then_fails_closed_then_recovers(
    rig: Rig, fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    # Revoked long ago, on every page of the cold start's read.
    old = [rig.revoke(f"user-{n}", f"family-old-{n}", at=rig.clock.now - 600) for n in range(5)]
    innocent = rig.token(*INNOCENT)
    rig.wire()
    rig.last_read = rig.clock.now
    assert [rig.decide(token) for token in old] == ["revoked"] * 5
    assert rig.decide(innocent) == "ok"

    # Revoked since: the next refresh reads them, over two pages.
    rig.clock.advance(1)
    since = [rig.revoke(f"user-new-{n}", f"family-new-{n}") for n in range(3)]
    rig.inject(fault)
    capsys.readouterr()
    rig.clock.advance(REFRESH)
    if not fault.fails_reads:
        # Each unreadable item is ignored and counted; the read goes on.
        assert [rig.decide(token) for token in since] == ["revoked"] * 3
        [warning] = warnings(capsys)
        assert (warning["message"], warning["invalidItems"]) == (
            "revocation list has items it cannot read; ignored",
            len(bad_items(0)),
        )
        rig.last_read = rig.clock.now
        rig.clock.advance(MAX_STALE)
        assert rig.decide(innocent) == "ok"
        assert [rig.decide(token) for token in old + since] == ["revoked"] * 8
        return

    # Within the bound: the list it has, stale, never less than it had.
    for token in old:
        assert rig.decide(token) == "revoked"
    assert rig.decide(innocent) == "ok"
    for token in since:
        rig.decide(token)  # either: the bound allows a revocation this recent to wait
    failed = [w for w in warnings(capsys) if w["message"].startswith("revocation list refresh")]
    assert failed, "the failed refresh was not reported"
    assert {w["message"] for w in failed} == {
        "revocation list refresh failed; using the list it has"
    }
    assert failed[0]["error"] == fault.logged  # the error's class and AWS code: never its text

    # At the bound: every decision raises, whatever the token.
    rig.clock.now = rig.last_read + MAX_STALE
    assert rig.decide(since[-1]) == "unavailable"
    assert rig.decide(old[0]) == "unavailable"

    # DynamoDB answers again: every revocation is there, the one on the failed page too.
    rig.recover()
    assert rig.decide_once_recovered(innocent) == "ok"
    rig.last_read = rig.clock.now - 1
    assert [rig.decide(token) for token in old + since] == ["revoked"] * 8


@pytest.mark.parametrize("fault", COLD_START_FAULTS, ids=str)
def test_a_cold_start_decides_nothing_until_the_whole_list_is_read(rig: Rig, fault: Fault) -> None:
    # Enough revocations for three pages: a later page's failure leaves two unread.
    revoked = [rig.revoke(f"user-{n}", f"family-{n}", at=rig.clock.now - 600) for n in range(5)]
    innocent = rig.token(*INNOCENT)
    rig.inject(fault)
    rig.wire()
    if not fault.fails_reads:
        rig.last_read = rig.clock.now
        assert rig.decide(innocent) == "ok"
        assert [rig.decide(token) for token in revoked] == ["revoked"] * 5
        return
    # Not read, not even in part: nothing is decided, so nothing revoked is allowed.
    for token in [innocent, *revoked]:
        assert rig.decide(token) == "unavailable"
    rig.recover()
    assert rig.decide_once_recovered(innocent) == "ok"
    rig.last_read = rig.clock.now - 1
    assert [rig.decide(token) for token in revoked] == ["revoked"] * 5


# --- the rig itself ----------------------------------------------------------------------


def test_the_local_table_pages_like_dynamodb(table: LocalDynamoDb) -> None:
    """Guards the matrix: the real client reads every page of the local server."""
    items = [revocation_item(USER, f"user-{n}", 1_760_000_000 + n) for n in range(5)]
    for item in items:
        table.put(item)
    read = list(dynamodb_query(TABLE)("0"))
    assert [item["sk"] for item in read] == [item["sk"] for item in items]
    assert all(set(item) == {"sk", "expiresAt"} for item in read)
    assert table.requests == [(TARGET, False), (TARGET, True), (TARGET, True)]


@pytest.mark.parametrize("port", ["refuse", "hang"])
def test_the_connection_faults_are_real(table: LocalDynamoDb, port: str) -> None:
    """Guards the matrix: a refused port refuses, a hanging one never connects."""
    getattr(table, port)()
    expected = ConnectionRefusedError if port == "refuse" else TimeoutError
    with pytest.raises(expected), socket.create_connection(("127.0.0.1", table.port), 0.3):
        pass
