"""template-rest.yaml, the REST API variant, transformed as `sam deploy` transforms it.

It must lint, wire a TOKEN authorizer API Gateway may invoke with its identity
source and TTL, route every method through it to the greeter, give the
authorizer the API's routes (API_ROUTES) exactly as the API defines them, and
keep template.yaml's user pool options word for word.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authorizer.api.rest import load_api_settings
from authorizer.verification.config import load_config
from local.cfn import ResourceRef
from local.sam import SamTemplate
from tests.deploy.samtemplate import ROOT, TEMPLATE, DeployModel, offline_aws_env, operations

REST_TEMPLATE = ROOT / "template-rest.yaml"
BIN = Path(sys.executable).parent
EXISTING_POOL = {
    "UserPoolId": "eu-west-1_AbC123xyz",
    "AppClientIds": "1example23456789,2example23456789",
}
# A real-looking compact JWS: three base64url segments.
JWT = "eyJraWQiOiJrIiwiYWxnIjoiUlMyNTYifQ.eyJzdWIiOiJzIn0.c2lnbmF0dXJl"


def transform(parameters: dict[str, str] | None = None) -> dict[str, Any]:
    return SamTemplate.read(REST_TEMPLATE).transform(parameters).template


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transform()


def scheme(template: dict[str, Any]) -> dict[str, Any]:
    definitions = template["Resources"]["HelloRestApi"]["Properties"]["Body"]["securityDefinitions"]
    assert set(definitions) == {"CognitoAuthorizer"}
    assert definitions["CognitoAuthorizer"]["x-amazon-apigateway-authtype"] == "custom"
    found: dict[str, Any] = definitions["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    return found


def run(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=ROOT,
        env=offline_aws_env(home),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_cfn_lint_passes(tmp_path: Path) -> None:
    result = run([str(BIN / "cfn-lint"), str(REST_TEMPLATE)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sam_validate_lint_passes(tmp_path: Path) -> None:
    args = [str(BIN / "sam"), "validate", "--lint", "--template-file", str(REST_TEMPLATE)]
    result = run(args, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_a_token_authorizer_reads_the_authorization_header(transformed: dict[str, Any]) -> None:
    settings = scheme(transformed)
    assert settings["type"] == "token"
    body = transformed["Resources"]["HelloRestApi"]["Properties"]["Body"]
    assert body["securityDefinitions"]["CognitoAuthorizer"]["name"] == "Authorization"
    target = DeployModel(transformed, {}).resolve(settings["authorizerUri"])
    assert "/functions/<AuthorizerFunction.Arn>/invocations" in target


@pytest.mark.parametrize(("ttl", "expected"), [(None, "300"), ("0", "0"), ("3600", "3600")])
def test_the_result_cache_ttl_comes_from_the_parameter(ttl: str | None, expected: str) -> None:
    parameters = {} if ttl is None else {"AuthorizerCacheTtlSeconds": ttl}
    transformed = transform(parameters)
    # With Revocation off (the default); on, the refresh interval (test_revocation_template.py).
    ttl_setting = scheme(transformed)["authorizerResultTtlInSeconds"]
    assert str(DeployModel(transformed, parameters).resolve(ttl_setting)) == expected


@pytest.mark.parametrize(
    ("value", "passes"),
    [
        (f"Bearer {JWT}", True),
        (f"bearer {JWT}", True),
        (JWT, True),
        ("Bearer", False),
        ("Bearer not-a-jwt", False),
        (f"Basic {JWT}", False),
        (f"Bearer {JWT} extra", False),
        ("", False),
    ],
)
def test_the_validation_expression_lets_only_jwts_reach_the_authorizer(
    transformed: dict[str, Any], value: str, passes: bool
) -> None:
    # API Gateway answers 401 without invoking the authorizer when it fails.
    expression = scheme(transformed)["identityValidationExpression"]
    assert (re.fullmatch(expression, value) is not None) is passes


def test_api_gateway_may_invoke_the_authorizer(transformed: dict[str, Any]) -> None:
    model = DeployModel(transformed, {})
    permissions = [
        props
        for logical_id in model.resources("AWS::Lambda::Permission")
        if (props := model.properties(logical_id))["FunctionName"]
        == ResourceRef("AuthorizerFunction", "Arn")
    ]
    assert len(permissions) == 1, permissions
    assert permissions[0]["Action"] == "lambda:InvokeFunction"
    assert permissions[0]["Principal"] == "apigateway.amazonaws.com"
    assert permissions[0]["SourceArn"].endswith("<HelloRestApi>/authorizers/*")


def test_every_method_goes_to_the_greeter_under_the_authorizer(
    transformed: dict[str, Any],
) -> None:
    model = DeployModel(transformed, {})
    body = transformed["Resources"]["HelloRestApi"]["Properties"]["Body"]
    routes = {f"{method} {path}": op for method, path, op in operations(body)}
    assert set(routes) == {"GET /hello", "POST /hello"}
    for route, operation in routes.items():
        assert operation["security"] == [{"CognitoAuthorizer": []}], route
        integration = model.resolve(operation["x-amazon-apigateway-integration"])
        assert integration["type"] == "aws_proxy"  # payload 1.0 for a REST API
        assert "/functions/<GreeterFunction.Arn>/invocations" in integration["uri"]
    stage = model.properties("HelloRestApiprodStage")
    assert stage["StageName"] == "prod"


@pytest.mark.parametrize("parameters", [{}, EXISTING_POOL], ids=["creates-pool", "existing-pool"])
def test_the_authorizer_knows_exactly_the_api_routes(parameters: dict[str, str]) -> None:
    template = transform(parameters)
    model = DeployModel(template, parameters)
    env = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert env["API_TYPE"] == "rest"
    body = template["Resources"]["HelloRestApi"]["Properties"]["Body"]
    routes = {f"{method} {path}" for method, path, _ in operations(body)}
    settings = load_api_settings(env, {})
    assert {route.route_key for route in settings.routes} == routes


def test_the_authorizer_environment_loads_for_an_existing_pool() -> None:
    rules = '{"POST /hello": {"groups": ["greeters"]}}'
    parameters = {**EXISTING_POOL, "TokenUse": "id", "RouteRules": rules}
    env = DeployModel(transform(parameters), parameters).properties("AuthorizerFunction")[
        "Environment"
    ]["Variables"]
    config = load_config(env)
    assert config.pool.user_pool_id == "eu-west-1_AbC123xyz"
    assert set(config.route_rules) == {"POST /hello"}
    assert load_api_settings(env, config.route_rules).api_type == "rest"


def test_user_pool_options_are_template_yamls_word_for_word() -> None:
    rest = SamTemplate.read(REST_TEMPLATE).source
    http = SamTemplate.read(TEMPLATE).source
    for name, spec in rest["Parameters"].items():
        if name == "AuthorizerCacheTtlSeconds":
            # The same setting, but REST caches per token and the HTTP API per token and
            # route: each description says which (tests/docs/test_settings_reference.py).
            spec = {**spec, "Description": http["Parameters"][name]["Description"]}
        if name != "ApiRoutes":
            assert spec == http["Parameters"][name], name
    for name in ("UserPoolId", "AppClientIds", "TokenUse", "RouteRules"):
        assert name in rest["Parameters"]
    assert rest["Rules"] == http["Rules"]
    for logical_id in ("UserPool", "UserPoolClient", "UserPoolDomain"):
        assert rest["Resources"][logical_id] == http["Resources"][logical_id], logical_id


def test_make_deploy_api_rest_deploys_its_own_stack_from_the_rest_template() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    rest, default = config["rest"], config["default"]
    assert rest["build"]["parameters"]["template_file"] == "template-rest.yaml"
    assert (
        rest["global"]["parameters"]["stack_name"] != default["global"]["parameters"]["stack_name"]
    )
    # Everything else as the HTTP API stack is built and deployed.
    build = {k: v for k, v in rest["build"]["parameters"].items() if k != "template_file"}
    assert build == default["build"]["parameters"]
    deploy = dict(rest["deploy"]["parameters"], s3_prefix=None)
    assert deploy == dict(default["deploy"]["parameters"], s3_prefix=None)
    makefile = (ROOT / "Makefile").read_text()
    assert "API_TEMPLATE := template-rest.yaml" in makefile
    assert "SAM_CONFIG_ENV := --config-env rest" in makefile
