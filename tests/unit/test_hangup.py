"""Sign-out that hangs up: the connections function records and forgets (and refuses a token
revoked while the authorizer's list was stale), the hang-up function closes what a revocation
covers. Against moto's DynamoDB with the connections and revocation tables exactly as
authorizer/template.yaml defines them (their keys and indexes), and a fake management API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from authorizer.signout.connections import Connections, ConnectionsSettings, load_table
from authorizer.signout.connections import load_settings as connections_settings
from authorizer.signout.hangup import HangUp, HangUpSettings, load_settings
from authorizer.tables.connections import (
    MAX_CONNECTION_SECONDS,
    connection_id_of,
    connection_item,
)
from authorizer.tables.revocation import FAMILY, USER, revocation_item
from shared.exceptions import ConfigurationError
from tests.helpers import log_records, template_source

TABLE = "connections"
REVOCATIONS = "revocations"
APP_TEMPLATE = Path(__file__).resolve().parents[2] / "authorizer" / "template.yaml"
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
OTHER_SUB = "9f8e7d6c-5b4a-4321-8fed-cba987654321"
NOW = 1_800_000_000.0
# The token's iat in the connect events: signed in a minute before it connects.
ISSUED_AT = int(NOW) - 60
# REVOCATION_MAX_STALE_SECONDS' default plus the revocation list's overlap.
WINDOW = 180


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    resources = template_source(APP_TEMPLATE)["Resources"]
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        for name, resource in ((TABLE, "ConnectionsTable"), (REVOCATIONS, "RevocationTable")):
            properties = resources[resource]["Properties"]
            client.create_table(
                TableName=name,
                **{
                    key: properties[key]
                    for key in (
                        "KeySchema",
                        "AttributeDefinitions",
                        "BillingMode",
                        "GlobalSecondaryIndexes",
                    )
                    if key in properties
                },
            )
        yield client


class FakeManagement:
    """The connections management API: which connections were closed; some gone, some failing."""

    def __init__(self, gone: set[str] | None = None, failing: set[str] | None = None) -> None:
        self.closed: list[str] = []
        self.gone = gone or set()
        self.failing = failing or set()

    def delete_connection(self, ConnectionId: str) -> None:
        if ConnectionId in self.gone:
            raise ClientError({"Error": {"Code": "GoneException"}}, "DeleteConnection")
        if ConnectionId in self.failing:
            raise ClientError({"Error": {"Code": "LimitExceededException"}}, "DeleteConnection")
        self.closed.append(ConnectionId)


def hang_up(dynamodb: Any, management: FakeManagement) -> HangUp:
    settings = HangUpSettings(
        TABLE, "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod", "INFO"
    )
    return HangUp(settings, dynamodb, management, clock=lambda: NOW)


def record(
    dynamodb: Any,
    connection_id: str,
    sub: str,
    family: str | None,
    at: float,
    issued_at: int | None = None,
) -> None:
    """A recorded connection; its token issued a minute before it connected unless told."""
    issued = int(at) - 60 if issued_at is None else issued_at
    item = connection_item(connection_id, sub, family, issued, at)
    dynamodb.put_item(TableName=TABLE, Item=item)


def connections(
    dynamodb: Any, *, log_level: str = "INFO", clock: float = NOW, window: int = WINDOW
) -> Connections:
    settings = ConnectionsSettings(TABLE, REVOCATIONS, window, log_level)
    return Connections(settings, dynamodb, clock=lambda: clock)


def stream(*items: dict[str, Any], event: str = "INSERT") -> dict[str, Any]:
    """A DynamoDB stream event as Lambda delivers it (NEW_IMAGE)."""
    return {
        "Records": [
            {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": item}}
            for item in items
        ]
    }


# --- the item ------------------------------------------------------------------------


def test_a_connection_item_names_the_user_the_family_and_its_two_hours() -> None:
    assert connection_item("c1", SUB, "fam", ISSUED_AT, NOW + 0.9) == {
        "connectionId": {"S": "c1"},
        "sub": {"S": SUB},
        "family": {"S": "fam"},
        "issuedAt": {"N": str(ISSUED_AT)},
        "connectedAt": {"N": str(int(NOW))},
        "expiresAt": {"N": str(int(NOW) + MAX_CONNECTION_SECONDS)},
    }
    assert "family" not in connection_item("c1", SUB, None, ISSUED_AT, NOW)
    assert MAX_CONNECTION_SECONDS == 7200
    assert connection_id_of({"connectionId": {"S": "c1"}}) == "c1"
    assert connection_id_of({"connectionId": {"S": ""}}) is None
    assert connection_id_of({}) is None
    for bad in (("", SUB), ("c1", "")):
        with pytest.raises(
            ValueError, match=r"^a connection item needs a connection id and a sub$"
        ):
            connection_item(*bad, None, ISSUED_AT, NOW)


def test_the_template_s_table_and_indexes_are_the_item_format_s() -> None:
    properties = template_source(APP_TEMPLATE)["Resources"]["ConnectionsTable"]["Properties"]
    item = connection_item("c1", SUB, "fam", ISSUED_AT, NOW)
    keys = {a["AttributeName"] for a in properties["AttributeDefinitions"]}
    assert keys <= set(item)
    assert properties["TimeToLiveSpecification"]["AttributeName"] in item


# --- the connections function -------------------------------------------------------


def connect_event(
    kind: str = "CONNECT",
    *,
    origin_jti: str | None = "fam-1",
    issued_at: int = ISSUED_AT,
    connected_at: float = NOW,
) -> dict[str, Any]:
    """As API Gateway hands it over: the authorizer's context beside principalId, all text."""
    authorizer = {
        "principalId": SUB,
        "integrationLatency": "0",
        "sub": SUB,
        "username": "brian",
        "tokenUse": "id",
        "clientId": "abc",
        "groups": "",
        "scope": "",
        "issuedAt": str(issued_at),
    }
    if origin_jti is not None:
        authorizer["originJti"] = origin_jti
    return {
        "queryStringParameters": {"token": "eyJ.not-logged.ever"},
        "requestContext": {
            "routeKey": "$connect" if kind == "CONNECT" else "$disconnect",
            "eventType": kind,
            "connectionId": "conn-1",
            "connectedAt": int(connected_at * 1000),
            "requestId": "req-1",
            "authorizer": authorizer,
        },
    }


def test_connect_records_the_user_and_family_and_disconnect_forgets_them(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = connections(dynamodb)
    assert recorder.handle(connect_event()) == {"statusCode": 200}
    stored = dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})["Item"]
    assert stored == connection_item("conn-1", SUB, "fam-1", ISSUED_AT, NOW)
    assert recorder.handle(connect_event("DISCONNECT")) == {"statusCode": 200}
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})
    out = capsys.readouterr().out
    assert "not-logged" not in out
    assert [r["message"] for r in log_records(out)] == [
        "connection recorded",
        "connection forgotten",
    ]


def test_a_token_without_a_family_is_recorded_for_its_user_only(dynamodb: Any) -> None:
    connections(dynamodb).handle(connect_event(origin_jti=None))
    stored = dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})["Item"]
    assert "family" not in stored


def test_a_connect_without_the_authorizer_s_context_is_refused(dynamodb: Any) -> None:
    event = connect_event()
    del event["requestContext"]["authorizer"]
    assert connections(dynamodb).handle(event)["statusCode"] == 500
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_a_connect_that_cannot_be_recorded_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    class Down:
        def put_item(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutItem")

    assert connections(Down()).handle(connect_event())["statusCode"] == 502
    [line] = log_records(capsys.readouterr().out)
    assert (line["level"], line["error"]) == ("ERROR", "ClientError")


def test_a_disconnect_that_cannot_be_forgotten_still_succeeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Down:
        def delete_item(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "DeleteItem")

    assert connections(Down()).handle(connect_event("DISCONNECT")) == {"statusCode": 200}
    assert log_records(capsys.readouterr().out)[0]["level"] == "WARNING"


@pytest.mark.parametrize("event", [{}, {"requestContext": {"eventType": "MESSAGE"}}, "x"])
def test_anything_but_connect_or_disconnect_is_a_400(dynamodb: Any, event: Any) -> None:
    assert connections(dynamodb).handle(event)["statusCode"] == 400


def test_the_connect_time_falls_back_to_the_clock(dynamodb: Any) -> None:
    event = connect_event()
    event["requestContext"]["connectedAt"] = True
    connections(dynamodb, clock=NOW + 5).handle(event)
    stored = dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})["Item"]
    assert stored["connectedAt"] == {"N": str(int(NOW) + 5)}


def test_the_connections_table_is_required() -> None:
    assert load_table({"CONNECTIONS_TABLE": " t "}) == "t"
    with pytest.raises(ConfigurationError, match=r"^CONNECTIONS_TABLE: is required$"):
        load_table({})


# --- at $connect, a token revoked while the authorizer's list was stale ---------------


def revoke(
    dynamodb: Any, kind: str, value: str, revoked_at: float, expires_at: float | None = None
) -> dict[str, Any]:
    item = revocation_item(kind, value, revoked_at, expires_at)
    dynamodb.put_item(TableName=REVOCATIONS, Item=item)
    return item


def recorded(dynamodb: Any) -> list[str]:
    return sorted(item["connectionId"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"])


class Recording:
    """A DynamoDB client that notes each call, hands it to ``client``, and runs ``after_query``."""

    def __init__(self, client: Any, after_query: Any = None) -> None:
        self.client = client
        self.after_query = after_query
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.client, name)

        def call(**request: Any) -> Any:
            self.calls.append((name, request))
            answer = method(**request)
            if name == "query" and self.after_query is not None:
                self.after_query()
            return answer

        return call


def test_a_revoked_family_s_connect_is_refused_as_the_authorizer_refuses_and_forgotten(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    revoke(dynamodb, FAMILY, "fam-1", NOW - 5)
    assert connections(dynamodb).handle(connect_event()) == {
        "statusCode": 403,
        "headers": {"content-type": "application/json"},
        "body": '{"message": "Forbidden"}',
        "isBase64Encoded": False,
    }
    assert recorded(dynamodb) == []
    out = capsys.readouterr().out
    [line] = log_records(out)
    assert {k: line.get(k) for k in ("message", "level", "kind", "sub", "connectionId")} == {
        "message": "connection refused: its token was revoked",
        "level": "WARNING",
        "kind": "family",
        "sub": SUB,
        "connectionId": "conn-1",
    }
    assert (line["routeKey"], line["apiRequestId"]) == ("$connect", "req-1")
    assert "fam-1" not in out  # a family id is never logged
    assert "not-logged" not in out  # nor the query string's token


def test_another_family_s_revocation_or_none_lets_it_connect(dynamodb: Any) -> None:
    revoke(dynamodb, FAMILY, "fam-2", NOW - 5)
    revoke(dynamodb, USER, OTHER_SUB, NOW - 5)
    assert connections(dynamodb).handle(connect_event()) == {"statusCode": 200}
    # A token without a family is in no family's revocation.
    event = connect_event(origin_jti=None)
    event["requestContext"]["connectionId"] = "conn-2"
    assert connections(dynamodb).handle(event) == {"statusCode": 200}
    assert recorded(dynamodb) == ["conn-1", "conn-2"]


def test_a_user_revocation_refuses_every_token_issued_up_to_it(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    revoke(dynamodb, USER, SUB, NOW - 5 + 0.9)  # revokedAt: NOW - 5, whole seconds
    for issued_at in (ISSUED_AT, int(NOW) - 5):  # before it, and in its very second
        assert connections(dynamodb).handle(connect_event(issued_at=issued_at))["statusCode"] == 403
    assert recorded(dynamodb) == []
    assert {line["kind"] for line in log_records(capsys.readouterr().out)} == {"user"}


def test_a_sign_in_after_a_user_revocation_connects_and_stays_connected(dynamodb: Any) -> None:
    """A global sign-out, then a new sign-in: its token is issued after the revocation."""
    revocation = revoke(dynamodb, USER, SUB, NOW - 5)
    assert connections(dynamodb).handle(connect_event(issued_at=int(NOW) - 4)) == {
        "statusCode": 200
    }
    assert recorded(dynamodb) == ["conn-1"]
    management = FakeManagement()  # the revocation's stream record, handled late: kept
    hang_up(dynamodb, management).handle(stream(revocation))
    assert management.closed == []


def test_a_revocation_no_longer_in_force_revokes_nothing(dynamodb: Any) -> None:
    revoke(dynamodb, FAMILY, "fam-1", NOW - 100, NOW)
    assert connections(dynamodb).handle(connect_event()) == {"statusCode": 200}
    revoke(dynamodb, FAMILY, "fam-1", NOW - 100, NOW + 1)
    assert connections(dynamodb).handle(connect_event())["statusCode"] == 403


def test_an_item_that_is_not_a_revocation_is_passed_over(dynamodb: Any) -> None:
    revoke(dynamodb, FAMILY, "fam-1", NOW - 5)
    unreadable = {"pk": {"S": "revoked"}, "sk": {"S": f"{int((NOW - 6) * 1000):015d}#odd"}}
    dynamodb.put_item(TableName=REVOCATIONS, Item=unreadable)
    assert connections(dynamodb).handle(connect_event())["statusCode"] == 403


def test_the_window_reaches_back_the_authorizer_s_staleness_and_overlap_from_the_connect(
    dynamodb: Any,
) -> None:
    """Revocations stamped since the connection began less the window: one an authorizer
    instance may not have held. Older ones every instance held, and denied with."""
    connected = NOW - 20  # the upgrade began 20 s before this check (a cold start, say)
    edge = connected - WINDOW
    revoke(dynamodb, FAMILY, "fam-old", edge - 0.5)
    revoke(dynamodb, FAMILY, "fam-edge", edge)
    check = connections(dynamodb)
    older = connect_event(origin_jti="fam-old", connected_at=connected)
    assert check.handle(older) == {"statusCode": 200}
    assert (
        check.handle(connect_event(origin_jti="fam-edge", connected_at=connected))["statusCode"]
        == 403
    )
    # A connection start later than this function's clock (another machine's): from now.
    revoke(dynamodb, FAMILY, "fam-now", NOW - WINDOW)
    ahead = connect_event(origin_jti="fam-now", connected_at=NOW + 10)
    assert check.handle(ahead)["statusCode"] == 403


def test_the_check_is_one_consistent_query_of_the_window_after_the_record(dynamodb: Any) -> None:
    client = Recording(dynamodb)
    assert connections(client).handle(connect_event()) == {"statusCode": 200}
    assert [name for name, _ in client.calls] == ["put_item", "query"]
    query = client.calls[1][1]
    assert query["TableName"] == REVOCATIONS
    assert query["ConsistentRead"] is True
    assert query["ExpressionAttributeValues"] == {
        ":pk": {"S": "revoked"},
        ":cursor": {"S": f"{int((NOW - WINDOW) * 1000):015d}"},
    }


def test_a_revocation_written_as_the_check_reads_finds_the_record_for_the_hang_up(
    dynamodb: Any,
) -> None:
    """Written after the Query began, so the check misses it; its stream record, handled at
    once, finds the connection already recorded, and closes it."""
    management = FakeManagement()

    def revoked_meanwhile() -> None:
        item = revoke(dynamodb, FAMILY, "fam-1", NOW)
        hang_up(dynamodb, management).handle(stream(item))

    client = Recording(dynamodb, after_query=revoked_meanwhile)
    assert connections(client).handle(connect_event()) == {"statusCode": 200}
    assert management.closed == ["conn-1"]


def test_a_revocation_table_it_cannot_read_refuses_the_connect(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    class Unreadable(Recording):
        def __getattr__(self, name: str) -> Any:
            if name == "query":

                def query(**_: Any) -> None:
                    raise ClientError({"Error": {"Code": "ThrottlingException"}}, "Query")

                return query
            return super().__getattr__(name)

    assert connections(Unreadable(dynamodb)).handle(connect_event()) == {
        "statusCode": 502,
        "headers": {"content-type": "application/json"},
        "body": '{"message": "Bad Gateway"}',
        "isBase64Encoded": False,
    }
    assert recorded(dynamodb) == []
    out = capsys.readouterr().out
    [line] = log_records(out)
    assert {k: line.get(k) for k in ("message", "level", "error", "sub", "connectionId")} == {
        "message": "revocations not read: refused, since the token may be revoked",
        "level": "ERROR",
        "error": "ClientError",
        "sub": SUB,
        "connectionId": "conn-1",
    }
    assert "not-logged" not in out


def test_a_refused_connect_whose_record_stays_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Stuck:
        def put_item(self, **_: Any) -> None:
            pass

        def query(self, **_: Any) -> dict[str, Any]:
            return {"Items": [revocation_item(FAMILY, "fam-1", NOW)]}

        def delete_item(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "DeleteItem")

    assert connections(Stuck()).handle(connect_event())["statusCode"] == 403
    refused, stays = log_records(capsys.readouterr().out)
    assert refused["message"] == "connection refused: its token was revoked"
    assert (stays["message"], stays["level"], stays["connectionId"]) == (
        "connection record not removed; its TTL will",
        "WARNING",
        "conn-1",
    )


def test_a_context_without_the_token_s_issue_time_is_refused(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """An authorizer older than this function: a user's revocation could not be compared."""
    event = connect_event()
    del event["requestContext"]["authorizer"]["issuedAt"]
    assert connections(dynamodb).handle(event)["statusCode"] == 500
    assert recorded(dynamodb) == []
    [line] = log_records(capsys.readouterr().out)
    assert (line["reason"], line["problem"]) == (
        "missing_auth_context",
        "authorizer context lacks issuedAt",
    )


@pytest.mark.parametrize(
    ("env", "window"),
    [
        ({}, 180),
        ({"REVOCATION_REFRESH_SECONDS": "300"}, 360),
        ({"REVOCATION_MAX_STALE_SECONDS": "3600"}, 3660),
    ],
)
def test_the_window_is_the_authorizer_s_staleness_bound_plus_the_overlap(
    env: dict[str, str], window: int
) -> None:
    """Read as the authorizer reads them: the same defaults, the same bounds."""
    from authorizer.tables.mirror import OVERLAP_SECONDS
    from authorizer.verification.config import load_config
    from tests.helpers import BASE_ENV

    settings = connections_settings({"CONNECTIONS_TABLE": "t", "REVOCATION_TABLE": "rev", **env})
    assert settings == ConnectionsSettings("t", "rev", window, "INFO")
    authorizer = load_config({**BASE_ENV, "REVOCATION_TABLE": "rev", **env})
    assert window == authorizer.revocation_max_stale_seconds + OVERLAP_SECONDS


def test_the_revocation_settings_are_required_and_checked_as_the_authorizer_s() -> None:
    with pytest.raises(ConfigurationError, match=r"^REVOCATION_TABLE: is required$"):
        connections_settings({"CONNECTIONS_TABLE": "t"})
    env = {"CONNECTIONS_TABLE": "t", "REVOCATION_TABLE": "rev"}
    with pytest.raises(ConfigurationError, match=r"^REVOCATION_MAX_STALE_SECONDS: must be "):
        connections_settings({**env, "REVOCATION_MAX_STALE_SECONDS": "3601"})
    with pytest.raises(ConfigurationError, match=r"^CONNECTIONS_TABLE: is required$"):
        connections_settings({"REVOCATION_TABLE": "rev"})


# --- the hang-up function ------------------------------------------------------------


def test_a_revoked_family_closes_its_connections_and_no_other(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record(dynamodb, "a", SUB, "fam-1", NOW - 60)
    record(dynamodb, "b", SUB, "fam-1", NOW - 30)
    record(dynamodb, "c", SUB, "fam-2", NOW - 30)
    record(dynamodb, "d", SUB, None, NOW - 30)
    management = FakeManagement()
    assert hang_up(dynamodb, management).handle(stream(revocation_item(FAMILY, "fam-1", NOW))) == {
        "closed": 2
    }
    assert sorted(management.closed) == ["a", "b"]
    [line] = log_records(capsys.readouterr().out)
    assert (line["kind"], line["closed"], line.get("sub")) == ("family", 2, None)
    assert "fam-1" not in json.dumps(line)  # a family id is stored, never logged


def test_a_signed_out_user_s_connections_with_tokens_issued_up_to_the_sign_out_are_closed(
    dynamodb: Any,
) -> None:
    """The token's iat decides, as for the authorizer, whenever its connection was opened."""
    record(dynamodb, "before", SUB, "fam-1", NOW - 600)
    record(dynamodb, "same-second", SUB, "fam-2", NOW + 0.5, issued_at=int(NOW))
    # Opened after the sign-out (an authorizer's list not refreshed yet), with an old token.
    record(dynamodb, "old-token-later", SUB, "fam-3", NOW + 30, issued_at=int(NOW) - 100)
    record(dynamodb, "new-sign-in", SUB, "fam-4", NOW + 1, issued_at=int(NOW) + 1)
    record(dynamodb, "someone-else", OTHER_SUB, "fam-5", NOW - 600)
    management = FakeManagement()
    hang_up(dynamodb, management).handle(stream(revocation_item(USER, SUB, NOW + 0.7)))
    assert sorted(management.closed) == ["before", "old-token-later", "same-second"]


def test_gone_connections_are_done_and_a_failure_retries_the_batch(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for connection in ("gone", "failing", "open"):
        record(dynamodb, connection, SUB, "fam-1", NOW - 60)
    management = FakeManagement(gone={"gone"}, failing={"failing"})
    with pytest.raises(RuntimeError, match=r"^1 connection\(s\) could not be closed$"):
        hang_up(dynamodb, management).handle(stream(revocation_item(FAMILY, "fam-1", NOW)))
    assert management.closed == ["open"]  # the rest of the batch was tried first
    lines = log_records(capsys.readouterr().out)
    assert lines[0]["error"] == "ClientError:LimitExceededException"
    assert (lines[-1]["closed"], lines[-1]["alreadyGone"], lines[-1]["failed"]) == (1, 1, 1)


def test_what_revokes_nothing_closes_nothing(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record(dynamodb, "a", SUB, "fam-1", NOW - 60)
    management = FakeManagement()
    handle = hang_up(dynamodb, management).handle
    item = revocation_item(FAMILY, "fam-1", NOW)
    assert handle(stream(item, event="REMOVE")) == {"closed": 0}  # the TTL deleted it
    assert handle(stream(revocation_item(FAMILY, "fam-1", NOW - 100, NOW))) == {"closed": 0}
    assert handle(stream({"pk": {"S": "revoked"}, "sk": {"S": "nonsense"}})) == {"closed": 0}
    assert handle({"Records": [None, {"eventName": "INSERT"}]}) == {"closed": 0}
    assert handle("not an event") == {"closed": 0}
    assert management.closed == []
    assert [r["message"] for r in log_records(capsys.readouterr().out)] == [
        "revocation item it cannot read; ignored",
        "revocation item it cannot read; ignored",
    ]
    assert handle(stream(revocation_item(FAMILY, "fam-1", NOW - 100, NOW + 1))) == {"closed": 1}


def test_every_page_of_a_user_s_connections_is_read() -> None:
    pages: list[dict[str, Any]] = [
        {"Items": [{"connectionId": {"S": "a"}}], "LastEvaluatedKey": {"k": {"S": "1"}}},
        {"Items": [{"connectionId": {"S": "b"}}, {}]},
    ]
    requests: list[dict[str, Any]] = []

    class Paged:
        def query(self, **request: Any) -> dict[str, Any]:
            requests.append(dict(request))
            return pages[len(requests) - 1]

    management = FakeManagement()
    hang_up(Paged(), management).handle(stream(revocation_item(USER, SUB, NOW)))
    assert management.closed == ["a", "b"]
    assert [r.get("ExclusiveStartKey") for r in requests] == [None, {"k": {"S": "1"}}]
    assert requests[0]["IndexName"] == "bySub"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "CONNECTIONS_TABLE"),
        ({"CONNECTIONS_TABLE": "t"}, "CONNECTIONS_ENDPOINT"),
        (
            {"CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "a1b2c3d4e5/prod"},
            "CONNECTIONS_ENDPOINT",
        ),
        ({"CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "https://x"}, "CONNECTIONS_ENDPOINT"),
    ],
)
def test_a_missing_or_unusable_setting_stops_the_cold_start(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(env)
    assert raised.value.variable == variable


def test_the_settings_are_read() -> None:
    env = {"CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "https://x/prod", "LOG_LEVEL": "debug"}
    assert load_settings(env) == HangUpSettings("t", "https://x/prod", "DEBUG")


# --- the records and clients, word for word ------------------------------------------


def test_the_connections_function_s_lines_say_which_connection_and_who(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = connections(dynamodb, log_level="DEBUG")
    recorder.handle(connect_event())
    recorder.handle(connect_event("DISCONNECT"))
    recorded, forgotten = log_records(capsys.readouterr().out)
    joined = {"apiRequestId": "req-1", "connectionId": "conn-1"}
    assert recorded["logger"] == "connections"
    assert {k: recorded.get(k) for k in ("message", "level", "routeKey", "sub", *joined)} == {
        "message": "connection recorded",
        "level": "INFO",
        "routeKey": "$connect",
        "sub": SUB,
        **joined,
    }
    assert {k: forgotten.get(k) for k in ("message", "level", "routeKey", *joined)} == {
        "message": "connection forgotten",
        "level": "INFO",
        "routeKey": "$disconnect",
        **joined,
    }
    assert recorder.logger.level == 10  # DEBUG


def test_the_refusals_say_why(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    event = connect_event()
    del event["requestContext"]["authorizer"]
    recorder = connections(dynamodb)
    assert recorder.handle(event) == {
        "statusCode": 500,
        "headers": {"content-type": "application/json"},
        "body": '{"message": "Internal Server Error"}',
        "isBase64Encoded": False,
    }
    assert json.loads(recorder.handle({})["body"]) == {"message": "Bad Request"}
    missing, other = log_records(capsys.readouterr().out)
    assert (missing["message"], missing["reason"], missing["connectionId"]) == (
        "$connect reached without an authorizer context: is the route protected?",
        "missing_auth_context",
        "conn-1",
    )
    assert (other["message"], other["level"]) == ("not a $connect or $disconnect event", "ERROR")


def test_the_unrecorded_and_unforgotten_lines(capsys: pytest.CaptureFixture[str]) -> None:
    class Down:
        def put_item(self, **request: Any) -> None:
            assert request["TableName"] == TABLE
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutItem")

        def delete_item(self, **request: Any) -> None:
            assert request == {"TableName": TABLE, "Key": {"connectionId": {"S": "conn-1"}}}
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "DeleteItem")

    recorder = connections(Down())
    refused = recorder.handle(connect_event())
    assert json.loads(refused["body"]) == {"message": "Bad Gateway"}
    recorder.handle(connect_event("DISCONNECT"))
    unrecorded, unforgotten = log_records(capsys.readouterr().out)
    assert (unrecorded["message"], unrecorded["sub"], unrecorded["connectionId"]) == (
        "connection not recorded: refused, since sign-out could not close it",
        SUB,
        "conn-1",
    )
    assert (unforgotten["message"], unforgotten["error"], unforgotten["connectionId"]) == (
        "connection record not removed; its TTL will",
        "ClientError",
        "conn-1",
    )


def test_the_clients_have_bounded_timeouts_and_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from authorizer.signout import connections, hangup

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    recorder = connections.dynamodb_client()
    settings = HangUpSettings(
        TABLE, "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/prod", "INFO"
    )
    finder, closer = hangup.aws_clients(settings)
    for client, (connect, read) in ((recorder, (1, 2)), (finder, (1, 2)), (closer, (1, 2))):
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (connect, read)
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert (recorder.meta.service_model.service_name, finder.meta.service_model.service_name) == (
        "dynamodb",
        "dynamodb",
    )
    assert closer.meta.endpoint_url == settings.endpoint


def test_the_functions_are_made_from_their_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from authorizer.signout import connections, hangup

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    recorder = connections.from_environment(
        {"CONNECTIONS_TABLE": "t", "REVOCATION_TABLE": "rev", "LOG_LEVEL": "warning"}
    )
    assert recorder.settings == ConnectionsSettings("t", "rev", 180, "WARNING")
    assert recorder.logger.level == 30
    assert recorder._dynamodb.meta.service_model.service_name == "dynamodb"
    env = {"CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "https://x/prod"}
    closer = hangup.from_environment(env)
    assert closer.settings == HangUpSettings("t", "https://x/prod", "INFO")
    assert closer.logger.name == "hangup"


def test_the_settings_errors_word_for_word() -> None:
    with pytest.raises(ConfigurationError, match=r"^CONNECTIONS_TABLE: is required$"):
        load_settings({"CONNECTIONS_ENDPOINT": "https://x/prod"})
    with pytest.raises(ConfigurationError) as raised:
        load_settings({"CONNECTIONS_TABLE": "t"})
    assert str(raised.value) == (
        "CONNECTIONS_ENDPOINT: must be the API's https://<api id>.execute-api.../<stage>"
    )
    assert load_settings(
        {"CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "http://127.0.0.1:3002/prod"}
    )


def test_an_error_without_an_aws_code_is_a_failure_named_by_its_class(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record(dynamodb, "a", SUB, "fam-1", NOW - 60)

    class Unreachable:
        def delete_connection(self, ConnectionId: str) -> None:
            raise ConnectionError("no route to host")

    with pytest.raises(RuntimeError):
        hang_up(dynamodb, Unreachable()).handle(stream(revocation_item(FAMILY, "fam-1", NOW)))  # type: ignore[arg-type]
    warning = log_records(capsys.readouterr().out)[0]
    assert (warning["message"], warning["error"], warning["connectionId"]) == (
        "connection not closed; the batch will be retried",
        "ConnectionError",
        "a",
    )


def test_an_event_without_a_connection_id_is_a_400_that_names_what_it_got(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = connect_event()
    del event["requestContext"]["connectionId"]
    assert connections(dynamodb).handle(event)["statusCode"] == 400
    message = connect_event()
    message["requestContext"]["eventType"] = "MESSAGE"
    assert connections(dynamodb).handle(message)["statusCode"] == 400
    lines = log_records(capsys.readouterr().out)
    assert [(line["routeKey"], line.get("connectionId")) for line in lines] == [
        ("$connect", None),
        ("$connect", "conn-1"),
    ]
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_a_batch_adds_up_and_names_the_signed_out_user(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record(dynamodb, "a", SUB, "fam-1", NOW - 60)
    record(dynamodb, "b", OTHER_SUB, "fam-2", NOW - 60)
    record(dynamodb, "g1", SUB, "fam-3", NOW - 60)
    record(dynamodb, "g2", SUB, "fam-3", NOW - 60)
    record(dynamodb, "f1", OTHER_SUB, "fam-4", NOW - 60)
    record(dynamodb, "f2", OTHER_SUB, "fam-5", NOW - 60)
    management = FakeManagement(gone={"g1", "g2"}, failing={"f1", "f2"})
    batch = stream(
        revocation_item(FAMILY, "fam-1", NOW),
        revocation_item(USER, OTHER_SUB, NOW - 3600),  # before b's token: closes nothing
        revocation_item(FAMILY, "fam-2", NOW),
        revocation_item(FAMILY, "fam-3", NOW),
        revocation_item(FAMILY, "fam-4", NOW),
        revocation_item(FAMILY, "fam-5", NOW),
    )
    with pytest.raises(RuntimeError, match=r"^2 connection\(s\) could not be closed$"):
        hang_up(dynamodb, management).handle(batch)
    lines = [r for r in log_records(capsys.readouterr().out) if r["message"].startswith("revoc")]
    assert [
        (r["kind"], r.get("sub"), r["closed"], r["alreadyGone"], r["failed"]) for r in lines
    ] == [
        ("family", None, 1, 0, 0),
        ("user", OTHER_SUB, 0, 0, 0),
        ("family", None, 1, 0, 0),
        ("family", None, 0, 2, 0),
        ("family", None, 0, 0, 1),
        ("family", None, 0, 0, 1),
    ]
    assert {r["message"] for r in lines} == {"revocation hung up its connections"}
    management.failing.clear()
    assert hang_up(dynamodb, FakeManagement()).handle(batch) == {"closed": 6}


def test_a_page_without_items_is_an_empty_page() -> None:
    class Empty:
        def query(self, **request: Any) -> dict[str, Any]:
            return {}

    assert hang_up(Empty(), FakeManagement()).handle(stream(revocation_item(USER, SUB, NOW))) == {
        "closed": 0
    }


def test_an_error_code_that_is_not_text_is_not_named(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    record(dynamodb, "a", SUB, "fam-1", NOW - 60)

    class Odd(Exception):
        response: ClassVar[dict[str, Any]] = {"Error": {"Code": 5}}

    class Management:
        def delete_connection(self, ConnectionId: str) -> None:
            raise Odd

    with pytest.raises(RuntimeError):
        hang_up(dynamodb, Management()).handle(stream(revocation_item(FAMILY, "fam-1", NOW)))  # type: ignore[arg-type]
    assert log_records(capsys.readouterr().out)[0]["error"] == "Odd"


def test_the_log_level_is_the_setting_s(dynamodb: Any) -> None:
    settings = HangUpSettings(TABLE, "https://x/prod", "WARNING")
    assert HangUp(settings, dynamodb, FakeManagement()).logger.level == 30
