from __future__ import annotations

import base64
import importlib
import json
import sys
from typing import Any

import pytest

from greeter.app import lambda_handler
from greeter.greeting import MAX_BODY_BYTES
from shared.exceptions import ConfigurationError
from tests.forge import load_event


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


@pytest.mark.parametrize(
    ("event", "message"),
    [
        (post(None, raw=True), "request body is required"),
        (post("", raw=True), "request body is required"),
        (post("{not json", raw=True), "not valid JSON"),
        (post([1, 2]), "must be a JSON object"),
        (post({"lastName": "Morrison"}), "firstName is required"),
        (post({"firstName": "Brian"}), "lastName is required"),
        (post({"firstName": "", "lastName": "Morrison"}), "firstName must not be empty"),
        (post({"firstName": "   ", "lastName": "Morrison"}), "firstName must not be empty"),
        (post({"firstName": 7, "lastName": "Morrison"}), "firstName must be a string"),
        (post({"firstName": "Brian", "lastName": None}), "lastName must be a string"),
        (post({"firstName": "B" * 101, "lastName": "M"}), "at most 100 characters"),
        (post({"firstName": "B\u0000", "lastName": "M"}), "control characters"),
        (post({"firstName": "x" * MAX_BODY_BYTES, "lastName": "M"}), "larger than"),
        (post({"firstName": "x" * MAX_BODY_BYTES, "lastName": "M"}, b64=True), "larger than"),
        (
            post("%%%not-base64", raw=True, b64=False) | {"isBase64Encoded": True},
            "not valid base64",
        ),
        (
            post("", raw=True)
            | {"body": base64.b64encode(b"\xff\xfe").decode(), "isBase64Encoded": True},
            "not UTF-8",
        ),
        (post("[" * 3000, raw=True), "not valid JSON"),
    ],
)
def test_bad_bodies_get_400_with_a_reason(event: dict[str, Any], message: str) -> None:
    status, body = call(event)
    assert status == 400
    assert message in body["message"]


def test_unknown_method_is_405() -> None:
    event = load_event("greeter_post.json")
    event["requestContext"]["http"]["method"] = "DELETE"
    assert call(event)[0] == 405


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
    logs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["level"] for line in logs] == ["ERROR"]
    assert logs[0]["reason"] == "missing_auth_context"


def test_bad_log_level_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    sys.modules.pop("greeter.app", None)
    try:
        with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
            importlib.import_module("greeter.app")
    finally:
        sys.modules.pop("greeter.app", None)
        monkeypatch.delenv("LOG_LEVEL")
        importlib.import_module("greeter.app")
