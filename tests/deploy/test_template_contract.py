"""template.yaml, transformed as `sam deploy` transforms it, wires what the product promises.

Each scenario is one deploy: the default (the stack creates a user pool) and an
existing pool. The transform leaves Conditions to CloudFormation, so the offline
evaluator (local/cfn.py, through DeployModel) resolves them for each scenario.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from local.cfn import ResourceRef
from tests.deploy.samtemplate import (
    DeployModel,
    api_body,
    load_app_template,
    load_sam_template,
    operations,
    transform_template,
)

EXISTING_POOL = {
    "UserPoolId": "eu-west-1_AbC123xyz",
    "AppClientIds": "1example23456789,2example23456789",
}
SCENARIOS = {"creates-pool": {}, "existing-pool": EXISTING_POOL}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], DeployModel]:
    name: str = request.param
    parameters = SCENARIOS[name]
    transformed = transform_template(parameters)
    return name, transformed, DeployModel(transformed, parameters)


@pytest.fixture(scope="module")
def transformed() -> dict[str, Any]:
    return transform_template()


def authorizer_scheme(template: dict[str, Any]) -> dict[str, Any]:
    schemes = api_body(template)["components"]["securitySchemes"]
    assert set(schemes) == {"CognitoAuthorizer"}
    scheme: dict[str, Any] = schemes["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    return scheme


# --- the authorizer as API Gateway receives it ---------------------------------


def test_authorizer_is_a_lambda_request_authorizer_with_simple_responses(transformed):
    scheme = authorizer_scheme(transformed)
    assert scheme["type"] == "request"
    assert scheme["authorizerPayloadFormatVersion"] == "2.0"
    assert scheme["enableSimpleResponses"] is True
    # The token first (the authorizer reads identitySource[0]); routeKey keys the
    # result cache per route, so an allow on one route never opens another.
    assert scheme["identitySource"] == ["$request.header.Authorization", "$context.routeKey"]
    uri = scheme["authorizerUri"]["Fn::Sub"]
    # The function itself by default; the SnapStart alias is checked in
    # test_operations_template.py.
    target = DeployModel(transformed, {}).resolve(uri[1]["__FunctionArn__"])
    assert target == ResourceRef("AuthorizerFunction", "Arn")
    assert uri[0].endswith("/functions/${__FunctionArn__}/invocations")


@pytest.mark.parametrize(("ttl", "expected"), [(None, "300"), ("0", "0"), ("3600", "3600")])
def test_result_cache_ttl_comes_from_the_parameter(transformed, ttl, expected):
    scheme = authorizer_scheme(transformed)
    # With Revocation and the tenant registry off (the default); on, a refresh interval
    # (test_revocation_template.py, test_tenant_template.py).
    assert scheme["authorizerResultTtlInSeconds"]["Fn::If"][2]["Fn::If"][2] == {
        "Ref": "AuthorizerCacheTtlSeconds"
    }
    spec = transformed["Parameters"]["AuthorizerCacheTtlSeconds"]
    assert (spec["Type"], spec["MinValue"], spec["MaxValue"]) == ("Number", 0, 3600)
    parameters = {} if ttl is None else {"AuthorizerCacheTtlSeconds": ttl}
    resolved = DeployModel(transformed, parameters).resolve(scheme)
    assert resolved["authorizerResultTtlInSeconds"] == expected


def test_api_gateway_may_invoke_the_authorizer(scenario):
    # Without this permission every request is a 500: an HTTP API gets none by default.
    _, template, model = scenario
    permissions = [
        props
        for logical_id, resource in model.resources("AWS::Lambda::Permission").items()
        if (props := model.properties(logical_id))["FunctionName"]
        == ResourceRef("AuthorizerFunction", "Arn")
    ]
    assert len(permissions) == 1, permissions
    permission = permissions[0]
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"] == (
        "arn:aws:execute-api:us-east-1:123456789012:<HelloApi>/authorizers/*"
    )
    # and no invoke role is used instead (nothing would grant the role either)
    assert "authorizerCredentials" not in authorizer_scheme(template)


# --- routes ------------------------------------------------------------------


def test_both_routes_go_to_the_greeter_under_the_authorizer(scenario):
    _, template, model = scenario
    body = api_body(template)
    routes = {f"{method} {path}": op for method, path, op in operations(body)}
    assert set(routes) == {"POST /hello", "GET /hello"}
    for route, operation in routes.items():
        assert operation["security"] == [{"CognitoAuthorizer": []}], route
        integration = model.resolve(operation["x-amazon-apigateway-integration"])
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        assert "/functions/<GreeterFunction.Arn>/invocations" in integration["uri"]
    # the greeter's own invoke permissions, one per route
    greeter_permissions = [
        props
        for logical_id in model.resources("AWS::Lambda::Permission")
        if (props := model.properties(logical_id))["FunctionName"] == ResourceRef("GreeterFunction")
    ]
    assert sorted(p["SourceArn"].rsplit("/", 2)[-2] for p in greeter_permissions) == ["GET", "POST"]


def test_the_sam_source_declares_the_fixed_names():
    # The offline emulator and the docs rely on these names.
    source = load_sam_template()
    api = source["Resources"]["HelloApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert api["Properties"]["Auth"]["DefaultAuthorizer"] == "CognitoAuthorizer"
    authorizer = api["Properties"]["Auth"]["Authorizers"]["CognitoAuthorizer"]
    assert authorizer["EnableFunctionDefaultPermissions"] is True
    events = source["Resources"]["GreeterFunction"]["Properties"]["Events"]
    assert sorted(
        (e["Type"], e["Properties"]["Method"], e["Properties"]["Path"]) for e in events.values()
    ) == [
        ("HttpApi", "GET", "/hello"),
        ("HttpApi", "POST", "/hello"),
    ]
    # The authorizer is the nested application's (authorizer/template.yaml).
    application = source["Resources"]["Authorizer"]
    assert application["Type"] == "AWS::Serverless::Application"
    assert application["Properties"]["Location"] == "authorizer/template.yaml"
    resources = {**source["Resources"], **load_app_template()["Resources"]}
    for logical_id in ("AuthorizerFunction", "GreeterFunction"):
        # (Metadata also holds the IaC scanner's justified suppressions.)
        assert resources[logical_id]["Metadata"]["BuildMethod"] == "makefile"


# --- functions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logical_id", "handler"),
    [
        ("AuthorizerFunction", "authorizer.app.lambda_handler"),
        ("GreeterFunction", "greeter.app.lambda_handler"),
    ],
)
def test_functions_run_python313_on_arm64(transformed, logical_id, handler):
    resource = DeployModel(transformed, {}).resource(logical_id)
    props = resource["Properties"]
    assert resource["Type"] == "AWS::Lambda::Function"
    assert props["Handler"] == handler
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert 128 <= props["MemorySize"] <= 1024
    assert props["Timeout"] <= 10


def test_authorizer_times_out_well_before_api_gateway_gives_up(transformed):
    # API Gateway waits 10 s for an authorizer; ours must fail first, cleanly.
    authorizer = DeployModel(transformed, {}).resource("AuthorizerFunction")
    assert authorizer["Properties"]["Timeout"] <= 6


def test_authorizer_environment_with_a_created_pool():
    template = transform_template({})
    model = DeployModel(template, {})
    env = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert env == {
        "USER_POOL_ID": ResourceRef("UserPool"),
        "APP_CLIENT_IDS": ResourceRef("UserPoolClient"),
        "TOKEN_USE": "any",
        "REPLICA_REGIONS": "",
        "USER_POOLS": "",
        "ROUTE_RULES": "",
        "CONTEXT_CLAIMS": "",
        "CONTEXT_CLAIMS_MAX_BYTES": "2048",
        "LOG_LEVEL": "INFO",
        "REVOCATION_TABLE": "",
        "REVOCATION_REFRESH_SECONDS": "10",
        "TENANT_TABLE": "",
        "TENANT_REFRESH_SECONDS": "10",
        "MAX_KEY_SETS": "1000",
    }
    with_extra = DeployModel(template, {"AppClientIds": "3example", "TokenUse": "access"})
    env = with_extra.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert env["APP_CLIENT_IDS"] == "<UserPoolClient>,3example"
    assert env["TOKEN_USE"] == "access"


def test_authorizer_environment_with_an_existing_pool():
    rules = '{"POST /hello": {"groups": ["greeters"]}}'
    parameters = {**EXISTING_POOL, "TokenUse": "id", "LogLevel": "DEBUG", "RouteRules": rules}
    model = DeployModel(transform_template(parameters), parameters)
    env = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert env == {
        "USER_POOL_ID": "eu-west-1_AbC123xyz",
        "APP_CLIENT_IDS": "1example23456789,2example23456789",
        "TOKEN_USE": "id",
        "REPLICA_REGIONS": "",
        "USER_POOLS": "",
        "ROUTE_RULES": rules,
        "CONTEXT_CLAIMS": "",
        "CONTEXT_CLAIMS_MAX_BYTES": "2048",
        "LOG_LEVEL": "DEBUG",
        "REVOCATION_TABLE": "",
        "REVOCATION_REFRESH_SECONDS": "10",
        "TENANT_TABLE": "",
        "TENANT_REFRESH_SECONDS": "10",
        "MAX_KEY_SETS": "1000",
    }
    greeter_env = model.properties("GreeterFunction")["Environment"]["Variables"]
    assert greeter_env == {"LOG_LEVEL": "DEBUG"}


def test_authorizer_environment_passes_the_authorizers_own_validation():
    from authorizer.verification.config import load_config

    parameters = {**EXISTING_POOL, "TokenUse": "access"}
    model = DeployModel(transform_template(parameters), parameters)
    env = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    config = load_config(env)
    assert config.pool.user_pool_id == "eu-west-1_AbC123xyz"
    assert config.pool.region == "eu-west-1"
    assert config.pool.token_use == "access"
    assert config.pool.app_client_ids == frozenset({"1example23456789", "2example23456789"})


def test_each_function_logs_to_its_own_group_with_retention_and_nothing_more(scenario):
    _, _, model = scenario
    for logical_id in ("AuthorizerFunction", "GreeterFunction"):
        props = model.properties(logical_id)
        group = props["LoggingConfig"]["LogGroup"]
        assert isinstance(group, ResourceRef)
        group_props = model.properties(group.logical_id)
        assert model.resource(group.logical_id)["Type"] == "AWS::Logs::LogGroup"
        assert group_props["RetentionInDays"] == "30"
        # least privilege: an own role that may write to that group and nothing else
        role = props["Role"]
        assert isinstance(role, ResourceRef)
        role_props = model.properties(role.logical_id)
        assert "ManagedPolicyArns" not in role_props
        statements = [s for p in role_props["Policies"] for s in p["PolicyDocument"]["Statement"]]
        assert statements == [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": ResourceRef(group.logical_id, "Arn"),
            }
        ]
    api_log = model.properties("HelloApiApiGatewayDefaultStage")["AccessLogSettings"]
    assert api_log["DestinationArn"] == ResourceRef("ApiAccessLogGroup", "Arn")
    assert model.properties("ApiAccessLogGroup")["RetentionInDays"] == "30"


# The HTTP API access-log variables the format uses, as HTTP APIs document them (a
# name not listed, such as REST's $context.authorizer.latency, would be read as a
# key of the authorizer's context and log "-"):
# https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-logging-variables.html
HTTP_API_LOG_VARIABLES = {
    "requestId",
    "identity.sourceIp",
    "requestTime",
    "routeKey",
    "status",
    "responseLatency",
    "authorizer.error",
    "integrationErrorMessage",
}


def test_the_access_log_is_json_of_documented_http_api_variables():
    model = DeployModel(transform_template({}), {})
    log_format = model.properties("HelloApiApiGatewayDefaultStage")["AccessLogSettings"]["Format"]
    record = json.loads(log_format)
    used = set(re.findall(r"\$context\.([A-Za-z.]+)", log_format))
    assert used <= HTTP_API_LOG_VARIABLES, used - HTTP_API_LOG_VARIABLES
    # the request id joins an access-log line to the decision line (apiRequestId)
    assert record["requestId"] == "$context.requestId"


# --- Cognito and outputs --------------------------------------------------------


def test_a_first_deploy_creates_a_pool_a_client_for_hosted_ui_and_password_auth_and_a_domain():
    template = transform_template({})
    model = DeployModel(template, {})
    assert set(model.resources("AWS::Cognito::UserPool")) == {"UserPool"}
    pool = model.properties("UserPool")
    # Real usernames (GET /hello greets by cognito:username), email as a sign-in alias.
    assert pool["AliasAttributes"] == ["email"]
    assert "UsernameAttributes" not in pool
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    client = model.properties("UserPoolClient")
    assert client["UserPoolId"] == ResourceRef("UserPool")
    assert client["GenerateSecret"] is False
    assert "ALLOW_USER_PASSWORD_AUTH" in client["ExplicitAuthFlows"]
    assert "ALLOW_REFRESH_TOKEN_AUTH" in client["ExplicitAuthFlows"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert {"openid", "email"} <= set(client["AllowedOAuthScopes"])
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["CallbackURLs"]
    domain = model.properties("UserPoolDomain")["Domain"]
    # a valid, globally unique hosted-UI prefix
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", domain)
    assert not re.search("aws|amazon|cognito", domain)
    assert model.rule_failures() == []


def test_an_existing_pool_creates_no_cognito_resources():
    model = DeployModel(transform_template(EXISTING_POOL), EXISTING_POOL)
    cognito = [
        lid for lid, r in model.resources().items() if r["Type"].startswith("AWS::Cognito::")
    ]
    assert cognito == []
    assert model.rule_failures() == []


def test_an_existing_pool_without_app_client_ids_is_refused_before_deploy():
    parameters = {"UserPoolId": "us-east-1_AbC123xyz"}
    assert DeployModel(transform_template(parameters), parameters).rule_failures()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("us-east-1_AbC123xyz", True),
        ("us-gov-west-1_x1Y2z3", True),
        ("AbC123xyz", False),
        ("us-east-1_AbC123xyz,x", False),
        ("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC", False),
    ],
)
def test_user_pool_id_parameter_pattern(transformed, value, ok):
    pattern = transformed["Parameters"]["UserPoolId"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


def test_parameters_have_the_documented_defaults(transformed):
    params = transformed["Parameters"]
    assert params["UserPoolId"]["Default"] == ""
    assert params["AppClientIds"]["Default"] == ""
    assert params["TokenUse"]["Default"] == "any"
    assert sorted(params["TokenUse"]["AllowedValues"]) == ["access", "any", "id"]
    assert params["AuthorizerCacheTtlSeconds"]["Default"] == 300
    assert params["LogLevel"]["Default"] == "INFO"
    assert set(params["LogLevel"]["AllowedValues"]) == {"DEBUG", "INFO", "WARNING", "ERROR"}


def test_outputs_when_the_stack_creates_the_pool():
    model = DeployModel(transform_template({}), {})
    outputs = model.outputs()
    assert outputs["ApiUrl"] == "https://<HelloApi>.execute-api.us-east-1.amazonaws.com/"
    assert outputs["UserPoolId"] == ResourceRef("UserPool")
    assert outputs["AppClientId"] == ResourceRef("UserPoolClient")
    login = outputs["HostedUiLoginUrl"]
    assert login.startswith("https://<UserPoolDomain>.auth.us-east-1.amazoncognito.com/login?")
    assert "client_id=<UserPoolClient>" in login
    assert "response_type=code" in login


def test_outputs_with_an_existing_pool():
    model = DeployModel(transform_template(EXISTING_POOL), EXISTING_POOL)
    outputs = model.outputs()
    assert outputs["UserPoolId"] == "eu-west-1_AbC123xyz"
    assert outputs["AppClientId"] == "1example23456789"
    assert "HostedUiLoginUrl" not in outputs
    assert "ApiUrl" in outputs


def test_every_resource_reference_resolves_in_both_scenarios(scenario):
    # A Ref/GetAtt to a resource that a condition removed fails the deploy.
    _, _, model = scenario
    for logical_id in model.resources():
        model.resolve_resource(logical_id)
    model.outputs()


# --- what SECURITY.md relies on the stage for -------------------------------------


def default_stage(template: dict[str, Any]) -> dict[str, Any]:
    [stage] = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::ApiGatewayV2::Stage"
    ]
    assert stage["StageName"] == "$default"
    return dict(stage)


def test_every_route_is_throttled_as_the_docs_say(scenario):
    """SECURITY.md leaves request volume to the stage's throttling (README: 50/s, burst 100)."""
    _, transformed, _ = scenario
    settings = default_stage(transformed)["DefaultRouteSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (50, 100)


def test_the_access_log_records_the_authorizer_error(scenario):
    """SECURITY.md: an outage's 500 is told apart by $context.authorizer.error in the access log."""
    _, transformed, _ = scenario
    access = default_stage(transformed)["AccessLogSettings"]
    assert access["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    fields = json.loads(access["Format"])  # one JSON object per line, for Logs Insights
    assert fields["authorizerError"] == "$context.authorizer.error"
    assert fields["status"] == "$context.status"
    assert fields["requestId"] == "$context.requestId"
