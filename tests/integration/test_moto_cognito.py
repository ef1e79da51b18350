"""Real Cognito-shaped tokens from moto's Cognito emulator, verified against its JWKS over HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from authorizer.config import load_config
from authorizer.handler import Authorizer, build_authorizer
from greeter.app import lambda_handler as greeter
from tests.forge import authorizer_event, load_event

REGION = "us-east-1"
PASSWORD = "Correct-Horse-9-Battery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Pool:
    endpoint: str
    pool_id: str
    client_id: str
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def pool(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Pool]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch_module.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        idp = boto3.client("cognito-idp", region_name=REGION, endpoint_url=endpoint)
        pool_id = idp.create_user_pool(PoolName="it-pool")["UserPool"]["Id"]
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="it-client",
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            ReadAttributes=["email"],
        )["UserPoolClient"]["ClientId"]
        idp.create_group(GroupName="admins", UserPoolId=pool_id)
        idp.admin_create_user(
            UserPoolId=pool_id,
            Username="brian",
            UserAttributes=[{"Name": "email", "Value": "brian@example.com"}],
            MessageAction="SUPPRESS",
        )
        idp.admin_set_user_password(
            UserPoolId=pool_id, Username="brian", Password=PASSWORD, Permanent=True
        )
        idp.admin_add_user_to_group(UserPoolId=pool_id, Username="brian", GroupName="admins")
        result = idp.initiate_auth(
            ClientId=client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "brian", "PASSWORD": PASSWORD},
        )["AuthenticationResult"]
        tokens = {
            "id": result["IdToken"],
            "access": result["AccessToken"],
            "refresh": result["RefreshToken"],
        }
        yield Pool(endpoint, pool_id, client_id, tokens)
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
    assert context["groups"] == "admins"
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
