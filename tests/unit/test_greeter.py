from __future__ import annotations

import base64
import importlib
import json
import logging
import sys
from typing import Any

import pytest

from greeter.app import lambda_handler
from greeter.greeting import MAX_BODY_BYTES
from shared.exceptions import ConfigurationError
from tests.forge import load_event
from tests.helpers import log_records


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = lambda_handler(event, None)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"])


def post(body: Any, *, raw: bool = False, b64: bool = False) -> dict[str, Any]:
    event = load_event("greeter_post.json")
    text = body if raw else json.dumps(body)
    if b64:
        text = base64.b64encode(text.encode()).decode()
    event["body"] = text
    event["isBase64Encoded"] = b64
    return event


def test_post_greets_by_name() -> None:
    status, body = call(load_event("greeter_post.json"))
    assert status == 200
    assert body == {
        "message": "Hello Brian Morrison",
        "sub": "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
        "username": "brian",
    }


def test_base64_body() -> None:
    status, body = call(post({"firstName": "Ada", "lastName": "Lovelace"}, b64=True))
    assert (status, body["message"]) == (200, "Hello Ada Lovelace")


def test_names_are_trimmed() -> None:
    _, body = call(post({"firstName": "  Ada ", "lastName": "Lovelace\t"}))
    assert body["message"] == "Hello Ada Lovelace"


def test_get_greets_by_username() -> None:
    event = load_event("greeter_post.json")
    event["requestContext"]["http"]["method"] = "GET"
    event["routeKey"] = "GET /hello"
    del event["body"]
    status, body = call(event)
    assert (status, body["message"], body["username"]) == (200, "Hello brian", "brian")


REQUIRED = "request body is required: a JSON object with firstName and lastName"
NOT_AN_OBJECT = "request body must be a JSON object with firstName and lastName"


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (post(None, raw=True), REQUIRED),
        (post("", raw=True), REQUIRED),
        (post("{not json", raw=True), "request body is not valid JSON"),
        (post([1, 2]), NOT_AN_OBJECT),
        (post({"lastName": "Morrison"}), "firstName is required"),
        (post({"firstName": "Brian"}), "lastName is required"),
        (post({"firstName": "", "lastName": "Morrison"}), "firstName must not be empty"),
        (post({"firstName": "   ", "lastName": "Morrison"}), "firstName must not be empty"),
        (post({"firstName": 7, "lastName": "Morrison"}), "firstName must be a string"),
        (post({"firstName": "Brian", "lastName": None}), "lastName must be a string"),
        (
            post({"firstName": "B" * 101, "lastName": "M"}),
            "firstName must be at most 100 characters",
        ),
        (
            post({"firstName": "B\u0000", "lastName": "M"}),
            "firstName must not contain control characters",
        ),
        (
            post({"firstName": "x" * MAX_BODY_BYTES, "lastName": "M"}),
            "request body is larger than 4096 bytes",
        ),
        (
            post({"firstName": "x" * MAX_BODY_BYTES, "lastName": "M"}, b64=True),
            "request body is larger than 4096 bytes",
        ),
        (
            post("%%%not-base64", raw=True, b64=False) | {"isBase64Encoded": True},
            "request body is marked base64 but is not valid base64",
        ),
        (
            post("", raw=True)
            | {"body": base64.b64encode(b"\xff\xfe").decode(), "isBase64Encoded": True},
            "request body is not UTF-8",
        ),
        (post("[" * 3000, raw=True), "request body is not valid JSON"),
        (post(12, raw=True) | {"body": 12}, "request body must be text"),
    ],
)
def test_bad_bodies_get_400_with_a_reason(event: dict[str, Any], message: str) -> None:
    """The message is the client's only explanation: each is pinned word for word."""
    status, body = call(event)
    assert (status, body) == (400, {"message": message})


GREETED: dict[str, Any] = {"sub": "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21", "username": "brian"}


def padded_body(size: int) -> str:
    """A valid greeting of exactly ``size`` bytes (JSON allows the padding whitespace)."""
    text = json.dumps({"firstName": "Ada", "lastName": "Lovelace"})
    return text[:-1] + " " * (size - len(text)) + "}"


@pytest.mark.parametrize("b64", [False, True], ids=["text", "base64"])
def test_a_body_of_4096_bytes_is_read_and_one_byte_more_is_not(b64: bool) -> None:
    event = post(padded_body(4096), raw=True, b64=b64)
    assert call(event) == (200, {**GREETED, "message": "Hello Ada Lovelace"})
    status, body = call(post(padded_body(4097), raw=True, b64=b64))
    assert (status, body) == (400, {"message": "request body is larger than 4096 bytes"})


def test_every_response_is_plain_json_text() -> None:
    for event in (load_event("greeter_post.json"), post([1])):
        response = lambda_handler(event, None)
        assert response["isBase64Encoded"] is False
        assert response["headers"] == {"content-type": "application/json"}


@pytest.mark.parametrize("method", ["DELETE", 5, None])
def test_any_other_method_is_405(method: Any) -> None:
    event = load_event("greeter_post.json")
    event["requestContext"]["http"]["method"] = method
    assert call(event) == (405, {"message": "Method Not Allowed"})


@pytest.mark.parametrize("http", [None, "GET", ["GET"]])
def test_an_odd_request_context_is_405_not_a_crash(http: Any) -> None:
    event = load_event("greeter_post.json")
    event["requestContext"]["http"] = http
    assert call(event) == (405, {"message": "Method Not Allowed"})


def test_a_bad_request_is_logged_with_its_reason_and_the_verified_caller(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = post({"firstName": "Brian"})
    capsys.readouterr()
    call(event)
    [line] = log_records(capsys.readouterr().out)
    assert line["level"] == "INFO"
    assert {key: line[key] for key in ("message", "reason", "problem", "sub", "routeKey")} == {
        "message": "bad request",
        "reason": "bad_request",
        "problem": "lastName is required",
        "sub": "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
        "routeKey": event["routeKey"],
    }
    assert line["apiRequestId"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize("authorizer", [None, {}, {"lambda": None}, {"lambda": {"sub": "x"}}])
def test_no_authorizer_context_fails_closed(
    authorizer: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    event = load_event("greeter_post.json")
    if authorizer is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"] = authorizer
    capsys.readouterr()
    assert call(event) == (500, {"message": "Internal Server Error"})
    [line] = log_records(capsys.readouterr().out)
    assert (line["level"], line["reason"], line["routeKey"]) == (
        "ERROR",
        "missing_auth_context",
        event["routeKey"],
    )
    assert line["message"] == (
        "request reached the greeter without an authorizer context: is the route protected?"
    )


def test_no_request_context_at_all_fails_closed() -> None:
    event = load_event("greeter_post.json")
    del event["requestContext"]
    assert call(event) == (500, {"message": "Internal Server Error"})


def test_bad_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    sys.modules.pop("greeter.app", None)
    try:
        with pytest.raises(ConfigurationError) as raised:
            importlib.import_module("greeter.app")
        assert str(raised.value) == "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR"
    finally:
        sys.modules.pop("greeter.app", None)
        monkeypatch.delenv("LOG_LEVEL")
        importlib.import_module("greeter.app")


def test_log_level_is_read_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", " debug ")
    sys.modules.pop("greeter.app", None)
    try:
        importlib.import_module("greeter.app")
        assert logging.getLogger("greeter").level == logging.DEBUG
    finally:
        sys.modules.pop("greeter.app", None)
        monkeypatch.delenv("LOG_LEVEL")
        importlib.import_module("greeter.app")


def test_base64_text_one_character_past_the_largest_body_is_read_as_base64() -> None:
    """5,464 characters encode 4,096 bytes; 5,465 can encode nothing: that is bad base64."""
    event = post("A" * 5465, raw=True) | {"isBase64Encoded": True}
    message = "request body is marked base64 but is not valid base64"
    assert call(event) == (400, {"message": message})


def test_base64_with_characters_outside_its_alphabet_is_refused() -> None:
    """Strict base64: a decoder that skipped the stray "!" would greet Ada here."""
    encoded = base64.b64encode(json.dumps({"firstName": "Ada", "lastName": "L"}).encode()).decode()
    event = post("", raw=True) | {"body": f"{encoded[:8]}!{encoded[8:]}", "isBase64Encoded": True}
    message = "request body is marked base64 but is not valid base64"
    assert call(event) == (400, {"message": message})


def test_a_body_with_a_lone_surrogate_is_not_utf8() -> None:
    """JSON events can carry "\\ud800": it reaches us as text no UTF-8 encoder accepts."""
    event = post("", raw=True) | {"body": '{"firstName": "\ud800", "lastName": "L"}'}
    assert call(event) == (400, {"message": "request body is not UTF-8"})


def test_request_ids_and_route_keys_that_are_not_text_are_left_out_of_the_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = post({"firstName": "Brian"}) | {"routeKey": 7}
    event["requestContext"]["requestId"] = 5
    capsys.readouterr()
    call(event)
    [line] = log_records(capsys.readouterr().out)
    assert line["reason"] == "bad_request"
    assert "apiRequestId" not in line  # None: Lambda's JSON format leaves it out
    assert "routeKey" not in line


def test_the_greeting_names_the_registrys_tenant_and_its_attributes() -> None:
    event = load_event("greeter_post.json")
    event["requestContext"]["authorizer"]["lambda"].update(
        {"tenantId": "acme", "tenant:plan": "gold", "claim:custom:tenant_id": "from-a-claim"}
    )
    status, body = call(event)
    assert status == 200
    assert body["message"] == "Hello Brian Morrison"
    # The registry's tenant is the pool's, verified: it wins over a claim of the same name.
    assert body["tenant"] == "acme"
    assert body["tenantAttributes"] == {"plan": "gold"}
