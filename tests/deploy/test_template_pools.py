"""The template's settings for several pools, claims for the backend and browser clients."""

from __future__ import annotations

import json

import pytest

from authorizer.verification.config import load_config
from local.sam import SamTemplate
from shared.exceptions import ConfigurationError
from tests.deploy.samtemplate import (
    APP_TEMPLATE,
    ROOT,
    TEMPLATE,
    DeployModel,
    api_body,
    transform_template,
)

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


# Every template that takes UserPools, and each setting it replaces, set beside it.
POOL_TEMPLATES = {
    "http": TEMPLATE,
    "rest": ROOT / "template-rest.yaml",
    "websocket": ROOT / "template-websocket.yaml",
    "application": APP_TEMPLATE,
}
ONE_POOL_SETTINGS = {
    "UserPoolId": "eu-west-1_AbC123",
    "AppClientIds": "abc",
    "TokenUse": "access",
    "ReplicaRegions": "eu-central-1",
}


def deploy_of(template: str, parameters: dict[str, str]) -> DeployModel:
    path = POOL_TEMPLATES[template]
    return DeployModel(SamTemplate.read(path).transform(parameters).template, parameters)


@pytest.mark.parametrize("template", sorted(POOL_TEMPLATES))
@pytest.mark.parametrize("setting", sorted(ONE_POOL_SETTINGS))
def test_each_one_pool_setting_beside_user_pools_is_refused_naming_it(
    template: str, setting: str
) -> None:
    parameters = {"UserPools": USER_POOLS, setting: ONE_POOL_SETTINGS[setting]}
    failures = deploy_of(template, parameters).rule_failures()
    # The template's own rule, and the nested application's with what it is passed.
    replaced = [f for f in failures if "UserPoolsReplaceTheOnePoolSettings" in f]
    assert all(f"UserPools replaces {setting}; remove {setting} " in f for f in replaced)
    # The deployed template's own rule: CloudFormation refuses the stack before it
    # creates anything (a nested stack's rule would stop it halfway).
    assert "UserPoolsReplaceTheOnePoolSettings" in [f.split(":")[0] for f in replaced]


@pytest.mark.parametrize("template", sorted(POOL_TEMPLATES))
def test_user_pools_with_every_one_pool_setting_at_its_default_deploys(template: str) -> None:
    assert deploy_of(template, {"UserPools": USER_POOLS, "TokenUse": "any"}).rule_failures() == []


@pytest.mark.parametrize("template", sorted(POOL_TEMPLATES))
def test_token_use_beside_user_pools_reaches_the_cold_start_which_refuses_it(template: str) -> None:
    """Past the rule (a deploy that skipped it), the setting is never silently dropped."""
    model = deploy_of(template, {"UserPools": USER_POOLS, "TokenUse": "access"})
    env = authorizer_env(model)
    assert env["TOKEN_USE"] == "access"
    with pytest.raises(ConfigurationError, match="USER_POOLS: is set, so TOKEN_USE must not be"):
        load_config(env)
    assert authorizer_env(deploy_of(template, {"UserPools": USER_POOLS}))["TOKEN_USE"] == ""


def test_the_one_pool_token_use_reaches_the_authorizer() -> None:
    parameters = {"UserPoolId": "eu-west-1_AbC123", "AppClientIds": "abc", "TokenUse": "access"}
    assert load_config(authorizer_env(deploy(parameters))).pool.token_use == "access"
    assert authorizer_env(deploy({}))["TOKEN_USE"] == "any"


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
