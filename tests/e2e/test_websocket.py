"""A WebSocket API through the offline stack with a real WebSocket client (``websockets``).

template-websocket.yaml with Revocation=true, as docs/websocket.md walks
through it: no token is refused before the upgrade (401), a forged one too
(403), a valid one connects and is greeted on the ``hello`` route, and a
sign-out (``make revoke``, or any writer of a revocation item) closes the open
connection within the bound: the revocation list's refresh interval. And with an
authorizer whose list is not refreshed yet, a token revoked meanwhile is still
refused at ``$connect``: the connections function checks the revocation table.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from authorizer.tables.revocation import FAMILY, revocation_item
from local.cognito import aws_client
from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process
from tests.e2e.websocket_walkthrough import walkthrough
from tests.leakcheck import assert_clean

REFRESH_SECONDS = 2
# A connection is closed within the list's refresh interval (the stream is read
# four times a second); the slack is a loaded 2-core machine's.
BOUND_SECONDS = REFRESH_SECONDS
SLACK_SECONDS = 3.0
HELLO = {"action": "hello", "firstName": "Brian", "lastName": "Morrison"}
DOCS = (ROOT / "docs" / "websocket.md").read_text()


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("websocket"),
        ROOT / "template-websocket.yaml",
        parameters={"Revocation": "true", "RevocationRefreshSeconds": str(REFRESH_SECONDS)},
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def stale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    """The same stack, its authorizer reading the revocation list every 150 s at most."""
    running = start_stack_process(
        tmp_path_factory.mktemp("websocket-stale"),
        ROOT / "template-websocket.yaml",
        parameters={"Revocation": "true", "RevocationRefreshSeconds": "300"},
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def tokens() -> list[str]:
    """Every token a test of this module used: none may show in the stack's output."""
    return []


def url(offline: StackProcess, token: str | None = None) -> str:
    base = f"{offline.url}/prod"
    return base if token is None else f"{base}?token={token}"


def fresh_token(offline: StackProcess, tokens: list[str]) -> str:
    """A new sign-in (a new token family), in a second after any user revocation's."""
    time.sleep(1 - time.time() % 1 + 0.05)
    token = offline.token("id")
    tokens.append(token)
    return token


def refused(address: str) -> tuple[int, Any]:
    with pytest.raises(InvalidStatus) as raised, connect(address, open_timeout=15):
        pass
    response = raised.value.response
    return response.status_code, json.loads(bytes(response.body or b"null"))


def greet(socket: ClientConnection) -> dict[str, Any]:
    socket.send(json.dumps(HELLO))
    return dict(json.loads(socket.recv(timeout=15)))


def connection_id(offline: StackProcess, before: int, status: int = 101) -> str:
    """The id of the connection the authorizer allowed after the ``before``-th output line,
    answered with ``status`` (101: accepted, and still open).

    The reader thread lags: a line an earlier test's connection wrote may come after
    ``before``. Ours is the newest, and an accepted one is still open while the test holds
    it, so the newest line of an open connection is ours (the management API knows which).
    """
    management = aws_client("apigatewaymanagementapi", offline.state["connectionsUrl"])
    deadline = time.monotonic() + 5
    pattern = rf"ws\s+\| \$connect {status} authorizer=allow .* connectionId=(\S+)$"
    while time.monotonic() < deadline:
        found = [m[1] for line in offline.output()[before:] if (m := re.match(pattern, line))]
        for candidate in reversed(found):
            if status != 101 or is_open(management, candidate):
                return candidate
        time.sleep(0.02)
    raise AssertionError(f"no connection allowed and answered {status} in the output")


def is_open(management: Any, connection: str) -> bool:
    try:
        management.get_connection(ConnectionId=connection)
    except management.exceptions.GoneException:
        return False
    return True


def family_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["origin_jti"])


def revoke_family(offline: StackProcess, token: str) -> None:
    """As an operator's own writer would: the documented item format, straight into the table."""
    aws_client("dynamodb", offline.cognito["endpoint"]).put_item(
        TableName=offline.state["tables"]["RevocationTable"],
        Item=revocation_item(FAMILY, family_of(token), time.time()),
    )


def closed_within(socket: ClientConnection, since: float) -> float:
    """Seconds from ``since`` until the server closed ``socket`` (it must, within the bound)."""
    with pytest.raises(ConnectionClosed):
        _read_until_closed(socket)
    took = time.monotonic() - since
    assert took <= BOUND_SECONDS + SLACK_SECONDS
    return took


def _read_until_closed(socket: ClientConnection) -> None:
    while True:
        socket.recv(timeout=BOUND_SECONDS + SLACK_SECONDS)


def test_the_walkthrough_is_the_docs(offline: StackProcess, tokens: list[str]) -> None:
    """docs/websocket.md's transcript, run again: no token, a forged one, hello, make revoke."""
    lines = walkthrough(offline.state_file)
    api_port = offline.url.rsplit(":", 1)[1]
    cognito_port = offline.cognito["endpoint"].rsplit(":", 1)[1]
    shown = [
        line.replace(f"127.0.0.1:{api_port}", "127.0.0.1:3000").replace(
            f"127.0.0.1:{cognito_port}", "127.0.0.1:9229"
        )
        for line in lines
    ]
    block = DOCS.split("```text\n", 1)[1].split("```", 1)[0].splitlines()
    assert shown[:-1] == block[:-1]
    assert shown[-1].startswith("closed by the server: 1000, ")
    assert block[-1].startswith("closed by the server: 1000, ")


def test_a_revoked_user_s_token_no_longer_connects_and_a_new_sign_in_does(
    offline: StackProcess, tokens: list[str]
) -> None:
    token = fresh_token(offline, tokens)
    with connect(url(offline, token), open_timeout=15) as socket:
        greet(socket)
    done = offline.revoke()
    since = time.monotonic()
    assert done.returncode == 0, done.stderr
    deadline = since + BOUND_SECONDS + SLACK_SECONDS
    while refused_or_none(url(offline, token)) != 403:
        assert time.monotonic() < deadline, "the revoked token still connects"
        time.sleep(0.2)
    with connect(url(offline, fresh_token(offline, tokens)), open_timeout=15) as socket:
        assert greet(socket)["message"] == "Hello Brian Morrison"


def test_the_authorizer_decides_connect_and_its_context_reaches_every_route(
    offline: StackProcess, tokens: list[str]
) -> None:
    token = fresh_token(offline, tokens)
    before = len(offline.output())
    with connect(url(offline, token), open_timeout=15) as socket:
        greet(socket)
        connection = connection_id(offline, before)
    allows = [d for d in offline.decisions() if d.get("connectionId") == connection]
    assert [(d["decision"], d["routeKey"]) for d in allows] == [("allow", "$connect")]
    offline.wait_for_output("$disconnect", f"connectionId={connection}")


def test_the_management_api_posts_to_describes_and_closes_a_connection(
    offline: StackProcess, tokens: list[str]
) -> None:
    management = aws_client("apigatewaymanagementapi", offline.state["connectionsUrl"])
    before = len(offline.output())
    with connect(url(offline, fresh_token(offline, tokens)), open_timeout=15) as socket:
        connection = connection_id(offline, before)
        management.post_to_connection(ConnectionId=connection, Data=b'{"news": "hi"}')
        assert json.loads(socket.recv(timeout=15)) == {"news": "hi"}
        described = management.get_connection(ConnectionId=connection)
        assert described["Identity"]["SourceIp"] == "127.0.0.1"
        management.delete_connection(ConnectionId=connection)
        closed_within(socket, time.monotonic())
    with pytest.raises(management.exceptions.GoneException):
        management.post_to_connection(ConnectionId=connection, Data=b"{}")


def refused_or_none(address: str) -> int | None:
    try:
        with connect(address, open_timeout=15):
            pass
    except InvalidStatus as err:
        return err.response.status_code
    return None


def test_a_revoked_family_closes_its_connection_and_no_other(
    offline: StackProcess, tokens: list[str]
) -> None:
    """An operator's own writer (the documented item format) revokes one sign-in."""
    first = fresh_token(offline, tokens)
    second = fresh_token(offline, tokens)
    with (
        connect(url(offline, first), open_timeout=15) as revoked,
        connect(url(offline, second), open_timeout=15) as kept,
    ):
        revoke_family(offline, first)
        closed_within(revoked, time.monotonic())
        assert greet(kept)["message"] == "Hello Brian Morrison"


def test_a_token_revoked_while_the_authorizer_s_list_is_stale_does_not_connect(
    stale: StackProcess, tokens: list[str]
) -> None:
    """The gap the connections function's check closes: the authorizer allows the revoked
    token (its list is read at its cold start, next in 150 s), the check refuses it."""
    token = fresh_token(stale, tokens)
    with connect(url(stale, token), open_timeout=15) as socket:  # the authorizer's cold start
        greet(socket)
    revoke_family(stale, token)
    before = len(stale.output())
    assert refused(url(stale, token))[0] == 403
    refused_id = connection_id(stale, before, status=403)  # allowed, then refused
    output = stale.wait_for_output("connection refused: its token was revoked")
    refusals = [
        json.loads(line.partition("| ")[2])
        for line in stale.function_lines("ConnectionsFunction")
        if "connection refused" in line
    ]
    assert [(r["connectionId"], r["kind"]) for r in refusals] == [(refused_id, "family")]
    # A new sign-in, a new family: it connects, and is greeted.
    with connect(url(stale, fresh_token(stale, tokens)), open_timeout=15) as socket:
        assert greet(socket)["message"] == "Hello Brian Morrison"
    assert_clean(output, tokens)
    assert family_of(token) not in output


def test_no_token_shows_in_the_stack_s_output(offline: StackProcess, tokens: list[str]) -> None:
    """This one's token and every other test's of this module, in the query string each time."""
    with connect(url(offline, fresh_token(offline, tokens)), open_timeout=15) as socket:
        greet(socket)
    output = offline.wait_for_output("authorization decision")
    assert_clean(output, tokens)
    assert "token=ey" not in output  # a JWT's header always starts so


def test_an_unreadable_token_is_a_401_like_none(offline: StackProcess) -> None:
    assert refused(url(offline, "two%20words")) == (401, {"message": "Unauthorized"})
