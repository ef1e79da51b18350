"""The template's settings for several pools, claims for the backend and browser clients."""

from __future__ import annotations

import json

import pytest

from authorizer.verification.config import load_config
from tests.deploy.samtemplate import DeployModel, api_body, transform_template

USER_POOLS = json.dumps(
    [
        {"userPoolId": "eu-west-1_Staff1", "appClientIds": ["staffclient1"]},
        {"userPoolId": "us-east-1_Cust2", "appClientIds": ["custclient2"], "tokenUse": "access"},
    ]
)


def deploy(parameters: dict[str, str]) -> DeployModel:
    return DeployModel(transform_template(parameters), parameters)


def authorizer_env(model: DeployModel) -> dict[str, str]:
    env: dict[str, str] = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    return env


def test_user_pools_reach_the_authorizer_and_no_pool_is_created() -> None:
    parameters = {"UserPools": USER_POOLS, "ContextClaims": "custom:tenant_id"}
    model = deploy(parameters)
    assert not model.condition("CreateUserPool")
    assert not model.exists("UserPool")
    env = authorizer_env(model)
    assert (env["USER_POOL_ID"], env["APP_CLIENT_IDS"], env["TOKEN_USE"]) == ("", "", "")
    config = load_config(env)  # what the authorizer itself makes of it
    assert [pool.user_pool_id for pool in config.pools] == ["eu-west-1_Staff1", "us-east-1_Cust2"]
    assert config.context_claims == ("custom:tenant_id",)


def test_user_pools_and_user_pool_id_together_are_refused() -> None:
    parameters = {"UserPools": USER_POOLS, "UserPoolId": "eu-west-1_AbC", "AppClientIds": "a"}
    assert any("UserPools" in failure for failure in deploy(parameters).rule_failures())
    assert deploy({"UserPools": USER_POOLS}).rule_failures() == []


def test_the_default_deploy_accepts_both_issuer_forms_and_declared_replicas() -> None:
    parameters = {
        "UserPoolId": "eu-west-1_AbC123xyz",
        "AppClientIds": "abc",
        "ReplicaRegions": "eu-central-1,us-west-2",
    }
    config = load_config(authorizer_env(deploy(parameters)))
    hosts = {"cognito-idp.eu-west-1", "issuer-cognito-idp.eu-west-1"} | {
        f"cognito-idp.{region}" for region in ("eu-central-1", "us-west-2")
    }
    assert config.pool.issuers == {
        f"https://{host}.amazonaws.com/eu-west-1_AbC123xyz" for host in hosts
    }


def test_an_eu_sovereign_cloud_pool_deploys() -> None:
    parameters = {"UserPoolId": "eusc-de-east-1_AbC123xyz", "AppClientIds": "abc"}
    config = load_config(authorizer_env(deploy(parameters)))
    assert config.pool.jwks_url == (
        "https://cognito-idp.eusc-de-east-1.amazonaws.eu/eusc-de-east-1_AbC123xyz"
        "/.well-known/jwks.json"
    )


def test_replica_regions_beside_user_pools_are_refused() -> None:
    parameters = {"UserPools": USER_POOLS, "ReplicaRegions": "eu-central-1"}
    assert any("ReplicaRegions" in failure for failure in deploy(parameters).rule_failures())


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ContextClaims", "two words"),
        ("ContextClaimsMaxBytes", "8193"),
        ("CorsAllowedOrigins", "a, b"),
        ("ReplicaRegions", "eu-west-1, us-west-2"),
        ("ReplicaRegions", "mars"),
        ("UserPoolId", "eusc_AbC"),
    ],
)
def test_parameter_constraints_refuse_bad_values(name: str, value: str) -> None:
    with pytest.raises(Exception, match=name):
        transform_template({name: value})


def test_no_cors_by_default() -> None:
    model = deploy({})
    # The OpenAPI body's CORS member resolves to nothing: the key is dropped.
    assert "x-amazon-apigateway-cors" not in model.resolve(api_body(model.template))


def test_cors_allowed_origins_configure_the_http_apis_cors() -> None:
    parameters = {"CorsAllowedOrigins": "https://app.example.com,http://localhost:5173"}
    model = deploy(parameters)
    cors = model.resolve(api_body(model.template)["x-amazon-apigateway-cors"])
    assert cors["allowOrigins"] == ["https://app.example.com", "http://localhost:5173"]
    assert {h.lower() for h in cors["allowHeaders"]} >= {"authorization", "content-type"}
    assert set(cors["allowMethods"]) >= {"GET", "POST"}
