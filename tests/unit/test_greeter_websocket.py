"""The greeter over a WebSocket API: ``hello`` answers from the authorizer's context, as the
connection's routes receive it (``requestContext.authorizer``, values as strings)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from greeter.websocket import UNKNOWN_ACTION, lambda_handler
from tests.helpers import log_records

SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
AUTHORIZER = {
    "principalId": SUB,
    "integrationLatency": "12",
    "sub": SUB,
    "username": "brian",
    "tokenUse": "id",
    "clientId": "abc",
    "groups": "greeters",
    "scope": "",
}


def event(
    route: str, body: Any = None, *, authorizer: dict[str, Any] | None = None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "requestContext": {
            "routeKey": route,
            "eventType": "MESSAGE",
            "connectionId": "conn-1",
            "requestId": "req-1",
            "authorizer": AUTHORIZER if authorizer is None else authorizer,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        message["body"] = json.dumps(body)
    return message


def answer(result: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return result["statusCode"], json.loads(result["body"])


def test_hello_greets_by_the_names_sent() -> None:
    result = lambda_handler(
        event("hello", {"action": "hello", "firstName": " Brian ", "lastName": "Morrison"}), None
    )
    assert answer(result) == (
        200,
        {"message": "Hello Brian Morrison", "sub": SUB, "username": "brian"},
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "request body is required: a JSON object with firstName and lastName"),
        ({"action": "hello", "firstName": "Brian"}, "lastName is required"),
        ({"action": "hello", "firstName": 1, "lastName": "M"}, "firstName must be a string"),
    ],
)
def test_a_hello_it_cannot_greet_from_is_a_400_that_says_why(body: Any, message: str) -> None:
    assert answer(lambda_handler(event("hello", body), None)) == (400, {"message": message})


def test_another_action_says_what_to_send() -> None:
    assert answer(lambda_handler(event("$default", {"action": "shout"}), None)) == (
        400,
        {"message": UNKNOWN_ACTION},
    )


@pytest.mark.parametrize("route", ["$connect", "$disconnect"])
def test_connect_and_disconnect_are_accepted(route: str) -> None:
    assert lambda_handler(event(route), None) == {"statusCode": 200}


@pytest.mark.parametrize(
    "authorizer",
    [
        {},
        {**AUTHORIZER, "principalId": "someone-else"},  # not our authorizer's answer
        {"principalId": SUB, "claims": {"sub": SUB}},  # a Cognito user-pool authorizer's shape
    ],
)
def test_a_route_without_our_authorizer_s_context_fails_closed(
    authorizer: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    for route in ("hello", "$connect"):
        result = lambda_handler(event(route, {"action": "hello"}, authorizer=authorizer), None)
        assert answer(result) == (500, {"message": "Internal Server Error"})
    lines = log_records(capsys.readouterr().out)
    assert {(line["level"], line["connectionId"]) for line in lines} == {("ERROR", "conn-1")}


def test_a_message_with_no_request_context_fails_closed() -> None:
    assert lambda_handler({}, None)["statusCode"] == 500


def test_an_event_that_is_no_object_fails_closed() -> None:
    assert lambda_handler("not an event", None)["statusCode"] == 500


def test_the_lines_join_the_access_log_and_the_connection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lambda_handler(event("hello", {"action": "hello"}), None)
    lambda_handler(event("hello", authorizer={}), None)
    bad, missing = log_records(capsys.readouterr().out)
    joined = {"apiRequestId": "req-1", "routeKey": "hello", "connectionId": "conn-1"}
    assert {k: bad.get(k) for k in ("message", "reason", "problem", "sub", *joined)} == {
        "message": "bad request",
        "reason": "bad_request",
        "problem": "firstName is required",
        "sub": SUB,
        **joined,
    }
    assert {k: missing.get(k) for k in ("reason", *joined)} == {
        "reason": "missing_auth_context",
        **joined,
    }
    assert missing["message"] == (
        "message reached the greeter without an authorizer context: is $connect protected?"
    )
