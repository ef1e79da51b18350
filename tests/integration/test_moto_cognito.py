"""Real Cognito-shaped tokens from moto's Cognito emulator, verified against its JWKS over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from authorizer.api.handler import Authorizer, build_authorizer
from authorizer.api.rest import load_api_settings, protocol_handler
from authorizer.verification.config import load_config
from authorizer.verification.rules import parse_route_rules
from greeter.app import lambda_handler as greeter
from local.cognito import LocalCognito, bootstrap, cognito_client
from tests.forge import authorizer_event, load_event

REGION = "us-east-1"


@dataclass(frozen=True)
class Pool:
    endpoint: str
    pool_id: str
    client_id: str
    group: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def pool(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Pool]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch_module.setenv(name, value)
    # Port 0: the socket is bound (to a port the OS picks) before anything uses it.
    server = LocalCognito("127.0.0.1", 0)
    server.start()
    try:
        # The offline stack's own set-up: a pool, a client that may read email and
        # refresh, a group, and a confirmed user with an email who is in the group.
        local = bootstrap(server.endpoint)
        assert (local.username, local.email) == ("brian", "brian@example.com")
        result = cognito_client(local.endpoint).initiate_auth(
            ClientId=local.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": local.username, "PASSWORD": local.password},
        )["AuthenticationResult"]
        tokens = {
            "id": result["IdToken"],
            "access": result["AccessToken"],
            "refresh": result["RefreshToken"],
        }
        yield Pool(local.endpoint, local.user_pool_id, local.client_id, local.group, tokens)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def authorizer_for(pool: Pool, **env: str) -> Authorizer:
    config = load_config(
        {
            "USER_POOL_ID": pool.pool_id,
            "APP_CLIENT_IDS": pool.client_id,
            # Only the key URL changes: iss stays the real AWS-style issuer.
            "JWKS_URL": f"{pool.endpoint}/{pool.pool_id}/.well-known/jwks.json",
            **env,
        }
    )
    return build_authorizer(config)


def greet(context: dict[str, Any], method: str = "POST") -> dict[str, Any]:
    event = load_event("greeter_post.json")
    event["requestContext"]["authorizer"]["lambda"] = context
    event["requestContext"]["http"]["method"] = method
    response = greeter(event, None)
    assert response["statusCode"] == 200
    return dict(json.loads(response["body"]))


def test_id_token_is_allowed_and_greeted(pool: Pool) -> None:
    response = authorizer_for(pool).handle(authorizer_event(pool.tokens["id"]))
    assert response["isAuthorized"] is True
    context = response["context"]
    assert context["username"] == "brian"
    assert context["tokenUse"] == "id"
    assert context["clientId"] == pool.client_id
    assert context["groups"] == pool.group == "greeters"
    assert context["email"] == "brian@example.com"
    assert greet(context)["message"] == "Hello Brian Morrison"
    assert greet(context, "GET")["message"] == "Hello brian"


def test_access_token_is_allowed(pool: Pool) -> None:
    response = authorizer_for(pool).handle(authorizer_event(pool.tokens["access"]))
    assert response["isAuthorized"] is True
    context = response["context"]
    assert (context["tokenUse"], context["username"]) == ("access", "brian")
    assert context["scope"] == "aws.cognito.signin.user.admin"
    assert greet(context)["sub"] == context["sub"]


def test_refresh_token_is_refused(pool: Pool) -> None:
    response = authorizer_for(pool).handle(authorizer_event(pool.tokens["refresh"]))
    assert response == {"isAuthorized": False}


def test_token_use_setting_against_real_tokens(pool: Pool) -> None:
    access_only = authorizer_for(pool, TOKEN_USE="access")
    assert access_only.handle(authorizer_event(pool.tokens["id"])) == {"isAuthorized": False}
    assert access_only.handle(authorizer_event(pool.tokens["access"]))["isAuthorized"] is True


def test_other_app_client_is_refused(pool: Pool) -> None:
    other = authorizer_for(pool, APP_CLIENT_IDS="someotherclient")
    assert other.handle(authorizer_event(pool.tokens["id"])) == {"isAuthorized": False}


# --- the REST variant, with the same real tokens ---------------------------------

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/hello"
REST_ENV = {
    "API_TYPE": "rest",
    "API_ROUTES": "GET /hello,POST /hello",
    "ROUTE_RULES": json.dumps({"POST /hello": {"groups": ["admins"]}}),
}


def rest_handler_for(pool: Pool) -> Any:
    rules = parse_route_rules(REST_ENV["ROUTE_RULES"])
    authorizer = authorizer_for(pool, ROUTE_RULES=REST_ENV["ROUTE_RULES"])
    return protocol_handler(authorizer, load_api_settings(REST_ENV, rules), rules)


def statements(answer: dict[str, Any]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"Allow": set(), "Deny": set()}
    for statement in answer["policyDocument"]["Statement"]:
        found[statement["Effect"]].update(statement["Resource"])
    return found


@pytest.mark.parametrize("kind", ["TOKEN", "REQUEST"])
def test_rest_events_with_real_tokens_get_a_policy_for_every_route(pool: Pool, kind: str) -> None:
    handle = rest_handler_for(pool)
    token = f"Bearer {pool.tokens['id']}"
    if kind == "TOKEN":
        event: dict[str, Any] = {
            "type": "TOKEN",
            "authorizationToken": token,
            "methodArn": METHOD_ARN,
        }
    else:
        event = {
            "type": "REQUEST",
            "methodArn": METHOD_ARN,
            "headers": {"Authorization": token},
            "requestContext": {"requestId": "rest-request-1"},
        }
    answer = handle(event)
    prefix = METHOD_ARN.removesuffix("GET/hello")
    # brian is in "greeters", not "admins": GET is allowed, POST explicitly denied,
    # whichever method this answer is later cached for.
    assert statements(answer) == {"Allow": {prefix + "GET/hello"}, "Deny": {prefix + "POST/hello"}}
    assert answer["principalId"] == answer["context"]["sub"]
    assert answer["context"]["username"] == "brian"


def test_rest_refresh_token_or_none_is_401_and_another_clients_token_is_denied(
    pool: Pool,
) -> None:
    handle = rest_handler_for(pool)
    # moto's refresh token is no JWT at all: unparsable, so API Gateway's 401.
    for raw in (pool.tokens["refresh"], ""):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            handle({"type": "TOKEN", "authorizationToken": raw, "methodArn": METHOD_ARN})
    rules = parse_route_rules(REST_ENV["ROUTE_RULES"])
    other = protocol_handler(
        authorizer_for(pool, APP_CLIENT_IDS="someotherclient"),
        load_api_settings(REST_ENV, rules),
        rules,
    )
    refused = other(
        {"type": "TOKEN", "authorizationToken": pool.tokens["id"], "methodArn": METHOD_ARN}
    )
    assert statements(refused)["Allow"] == set()
    assert statements(refused)["Deny"] == {METHOD_ARN.removesuffix("GET/hello") + "*"}
