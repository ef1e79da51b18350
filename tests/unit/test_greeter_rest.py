"""The greeter behind a REST API: payload-1.0 proxy events, the context beside principalId."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from greeter.app import lambda_handler
from tests.forge import load_event

SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
CONTRACT = {
    "sub": SUB,
    "username": "brian",
    "tokenUse": "id",
    "clientId": "c",
    "groups": "",
    "scope": "",
}


def call(event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = lambda_handler(event, None)
    return response["statusCode"], json.loads(response["body"])


def test_post_greets_by_name_from_a_rest_proxy_event() -> None:
    assert call(load_event("greeter_rest_post.json")) == (
        200,
        {"message": "Hello Brian Morrison", "sub": SUB, "username": "brian"},
    )


def test_get_greets_the_username_from_the_context_alone() -> None:
    event = load_event("greeter_rest_post.json")
    event["httpMethod"] = "GET"
    event["requestContext"]["httpMethod"] = "GET"
    event["body"] = None
    assert call(event) == (200, {"message": "Hello brian", "sub": SUB, "username": "brian"})


def test_a_base64_body_and_a_bad_body_are_read_as_for_payload_2() -> None:
    event = load_event("greeter_rest_post.json")
    event["body"] = base64.b64encode(b'{"firstName": "Ada", "lastName": "Lovelace"}').decode()
    event["isBase64Encoded"] = True
    assert call(event)[1]["message"] == "Hello Ada Lovelace"
    event["body"], event["isBase64Encoded"] = "{not json", False
    assert call(event)[0] == 400


def test_stringified_claims_arrive_as_api_gateway_hands_them_over() -> None:
    event = load_event("greeter_rest_post.json")
    event["requestContext"]["authorizer"]["claim:email_verified"] = "true"
    assert call(event)[0] == 200


@pytest.mark.parametrize(
    "authorizer",
    [
        None,
        {},
        # A Cognito user-pool authorizer's shape: claims, no context of ours.
        {"claims": {"sub": SUB, "cognito:username": "brian"}},
        # Our keys, but no principalId, or one that is not the sub.
        CONTRACT,
        {"principalId": "someone-else", **CONTRACT},
        {"principalId": SUB, "sub": SUB},  # the contract's other keys missing
    ],
    ids=["none", "empty", "cognito-claims", "no-principal", "other-principal", "partial"],
)
def test_a_rest_event_without_our_context_fails_closed(authorizer: Any) -> None:
    event = load_event("greeter_rest_post.json")
    if authorizer is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"] = authorizer
    assert call(event) == (500, {"message": "Internal Server Error"})
