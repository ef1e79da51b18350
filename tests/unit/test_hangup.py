"""Sign-out that hangs up: the connections function records and forgets, the hang-up function
closes what a revocation covers. Against moto's DynamoDB with the connections table exactly as
authorizer/template.yaml defines it (its keys and indexes), and a fake management API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from botocore.exceptions import ClientError

from authorizer.signout.connections import Connections, load_table
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
APP_TEMPLATE = Path(__file__).resolve().parents[2] / "authorizer" / "template.yaml"
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
OTHER_SUB = "9f8e7d6c-5b4a-4321-8fed-cba987654321"
NOW = 1_800_000_000.0


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    properties = template_source(APP_TEMPLATE)["Resources"]["ConnectionsTable"]["Properties"]
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            **{
                key: properties[key]
                for key in (
                    "KeySchema",
                    "AttributeDefinitions",
                    "BillingMode",
                    "GlobalSecondaryIndexes",
                )
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


def record(dynamodb: Any, connection_id: str, sub: str, family: str | None, at: float) -> None:
    dynamodb.put_item(TableName=TABLE, Item=connection_item(connection_id, sub, family, at))


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
    assert connection_item("c1", SUB, "fam", NOW + 0.9) == {
        "connectionId": {"S": "c1"},
        "sub": {"S": SUB},
        "family": {"S": "fam"},
        "connectedAt": {"N": str(int(NOW))},
        "expiresAt": {"N": str(int(NOW) + MAX_CONNECTION_SECONDS)},
    }
    assert "family" not in connection_item("c1", SUB, None, NOW)
    assert MAX_CONNECTION_SECONDS == 7200
    assert connection_id_of({"connectionId": {"S": "c1"}}) == "c1"
    assert connection_id_of({"connectionId": {"S": ""}}) is None
    assert connection_id_of({}) is None
    for bad in (("", SUB), ("c1", "")):
        with pytest.raises(
            ValueError, match=r"^a connection item needs a connection id and a sub$"
        ):
            connection_item(*bad, None, NOW)


def test_the_template_s_table_and_indexes_are_the_item_format_s() -> None:
    properties = template_source(APP_TEMPLATE)["Resources"]["ConnectionsTable"]["Properties"]
    item = connection_item("c1", SUB, "fam", NOW)
    keys = {a["AttributeName"] for a in properties["AttributeDefinitions"]}
    assert keys <= set(item)
    assert properties["TimeToLiveSpecification"]["AttributeName"] in item


# --- the connections function -------------------------------------------------------


def connect_event(kind: str = "CONNECT", *, origin_jti: str | None = "fam-1") -> dict[str, Any]:
    authorizer = {
        "principalId": SUB,
        "integrationLatency": "0",
        "sub": SUB,
        "username": "brian",
        "tokenUse": "id",
        "clientId": "abc",
        "groups": "",
        "scope": "",
    }
    if origin_jti is not None:
        authorizer["originJti"] = origin_jti
    return {
        "queryStringParameters": {"token": "eyJ.not-logged.ever"},
        "requestContext": {
            "routeKey": "$connect" if kind == "CONNECT" else "$disconnect",
            "eventType": kind,
            "connectionId": "conn-1",
            "connectedAt": int(NOW * 1000),
            "requestId": "req-1",
            "authorizer": authorizer,
        },
    }


def test_connect_records_the_user_and_family_and_disconnect_forgets_them(
    dynamodb: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    connections = Connections(TABLE, dynamodb)
    assert connections.handle(connect_event()) == {"statusCode": 200}
    stored = dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})["Item"]
    assert stored == connection_item("conn-1", SUB, "fam-1", NOW)
    assert connections.handle(connect_event("DISCONNECT")) == {"statusCode": 200}
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})
    out = capsys.readouterr().out
    assert "not-logged" not in out
    assert [r["message"] for r in log_records(out)] == [
        "connection recorded",
        "connection forgotten",
    ]


def test_a_token_without_a_family_is_recorded_for_its_user_only(dynamodb: Any) -> None:
    Connections(TABLE, dynamodb).handle(connect_event(origin_jti=None))
    stored = dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})["Item"]
    assert "family" not in stored


def test_a_connect_without_the_authorizer_s_context_is_refused(dynamodb: Any) -> None:
    event = connect_event()
    del event["requestContext"]["authorizer"]
    assert Connections(TABLE, dynamodb).handle(event)["statusCode"] == 500
    assert dynamodb.scan(TableName=TABLE)["Items"] == []


def test_a_connect_that_cannot_be_recorded_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    class Down:
        def put_item(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "PutItem")

    assert Connections(TABLE, Down()).handle(connect_event())["statusCode"] == 502
    [line] = log_records(capsys.readouterr().out)
    assert (line["level"], line["error"]) == ("ERROR", "ClientError")


def test_a_disconnect_that_cannot_be_forgotten_still_succeeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Down:
        def delete_item(self, **_: Any) -> None:
            raise ClientError({"Error": {"Code": "ThrottlingException"}}, "DeleteItem")

    assert Connections(TABLE, Down()).handle(connect_event("DISCONNECT")) == {"statusCode": 200}
    assert log_records(capsys.readouterr().out)[0]["level"] == "WARNING"


@pytest.mark.parametrize("event", [{}, {"requestContext": {"eventType": "MESSAGE"}}, "x"])
def test_anything_but_connect_or_disconnect_is_a_400(dynamodb: Any, event: Any) -> None:
    assert Connections(TABLE, dynamodb).handle(event)["statusCode"] == 400


def test_the_connect_time_falls_back_to_the_clock(dynamodb: Any) -> None:
    event = connect_event()
    event["requestContext"]["connectedAt"] = True
    Connections(TABLE, dynamodb, clock=lambda: NOW + 5).handle(event)
    stored = dynamodb.get_item(TableName=TABLE, Key={"connectionId": {"S": "conn-1"}})["Item"]
    assert stored["connectedAt"] == {"N": str(int(NOW) + 5)}


def test_the_connections_table_is_required() -> None:
    assert load_table({"CONNECTIONS_TABLE": " t "}) == "t"
    with pytest.raises(ConfigurationError, match=r"^CONNECTIONS_TABLE: is required$"):
        load_table({})


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


def test_a_signed_out_user_s_connections_up_to_the_sign_out_are_closed(dynamodb: Any) -> None:
    record(dynamodb, "before", SUB, "fam-1", NOW - 600)
    record(dynamodb, "same-second", SUB, "fam-2", NOW + 0.5)
    record(dynamodb, "after", SUB, "fam-3", NOW + 1)
    record(dynamodb, "someone-else", OTHER_SUB, "fam-4", NOW - 600)
    management = FakeManagement()
    hang_up(dynamodb, management).handle(stream(revocation_item(USER, SUB, NOW + 0.7)))
    assert sorted(management.closed) == ["before", "same-second"]


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
    connections = Connections(TABLE, dynamodb, log_level="DEBUG")
    connections.handle(connect_event())
    connections.handle(connect_event("DISCONNECT"))
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
    assert connections.logger.level == 10  # DEBUG


def test_the_refusals_say_why(dynamodb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    event = connect_event()
    del event["requestContext"]["authorizer"]
    connections = Connections(TABLE, dynamodb)
    assert connections.handle(event) == {
        "statusCode": 500,
        "headers": {"content-type": "application/json"},
        "body": '{"message": "Internal Server Error"}',
        "isBase64Encoded": False,
    }
    assert json.loads(connections.handle({})["body"]) == {"message": "Bad Request"}
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

    connections = Connections(TABLE, Down())
    refused = connections.handle(connect_event())
    assert json.loads(refused["body"]) == {"message": "Bad Gateway"}
    connections.handle(connect_event("DISCONNECT"))
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
    recorder = connections.from_environment({"CONNECTIONS_TABLE": "t", "LOG_LEVEL": "warning"})
    assert (recorder.table, recorder.logger.level) == ("t", 30)
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
    assert Connections(TABLE, dynamodb).handle(event)["statusCode"] == 400
    message = connect_event()
    message["requestContext"]["eventType"] = "MESSAGE"
    assert Connections(TABLE, dynamodb).handle(message)["statusCode"] == 400
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
        revocation_item(USER, OTHER_SUB, NOW - 3600),  # before b connected: closes nothing
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
