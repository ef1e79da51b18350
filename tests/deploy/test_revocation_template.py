"""Revocation: off by default, and with Revocation=true the table, the sign-out function,
least-privilege roles, the alarm and the dashboard row, defined once in the authorizer
application (authorizer/template.yaml); the demo (template.yaml) routes POST /signout to
it and couples its cache TTL. Each deploy transformed as `sam deploy` does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authorizer.operations import metrics
from authorizer.signout.handler import load_settings
from authorizer.tables.revocation import EXPIRES_AT, PARTITION_KEY, SORT_KEY
from authorizer.verification.config import load_config
from local.cfn import ResourceRef
from local.sam import SamTemplate
from tests.deploy.samtemplate import DeployModel, api_body, transform_template
from tests.deploy.scan import APP_ALONE, REST_TEMPLATE, transformed_app

ON = {"Revocation": "true"}
RESOURCES = (
    "RevocationTable",
    "SignOutFunction",
    "SignOutFunctionRole",
    "SignOutLogGroup",
    "RevocationListStaleAlarm",
)


def deploy(parameters: dict[str, str]) -> DeployModel:
    return DeployModel(transform_template(parameters), parameters)


@pytest.fixture(scope="module")
def off() -> DeployModel:
    return deploy({})


@pytest.fixture(scope="module")
def on() -> DeployModel:
    return deploy(dict(ON))


def policies(model: DeployModel, role: str) -> dict[str, list[dict[str, Any]]]:
    found = model.properties(role)["Policies"]
    return {p["PolicyName"]: p["PolicyDocument"]["Statement"] for p in found}


def ttl(model: DeployModel) -> Any:
    schemes = api_body(model.template)["components"]["securitySchemes"]
    scheme = schemes["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    return model.resolve(scheme["authorizerResultTtlInSeconds"])


def test_off_by_default_nothing_of_it_is_deployed(off: DeployModel) -> None:
    assert off.parameters["Revocation"] == "false"
    assert not any(off.exists(logical_id) for logical_id in RESOURCES)
    env = off.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert env["REVOCATION_TABLE"] == ""  # the authorizer imports nothing of it
    assert "read-revocation-list" not in policies(off, "AuthorizerFunctionRole")
    assert "/signout" not in off.resolve(api_body(off.template)["paths"])
    assert not {"RevocationTableName", "SignOutUrl"} & set(off.outputs())


def test_the_table_keeps_entries_by_time_expires_them_encrypts_and_recovers(
    on: DeployModel,
) -> None:
    table = on.properties("RevocationTable")
    assert table["KeySchema"] == [
        {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
    ]
    assert table["AttributeDefinitions"] == [
        {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
        {"AttributeName": SORT_KEY, "AttributeType": "S"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_AT, "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_authorizer_may_only_query_the_table(on: DeployModel) -> None:
    env = on.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert env["REVOCATION_TABLE"] == ResourceRef("RevocationTable")
    assert env["REVOCATION_REFRESH_SECONDS"] == "10"
    assert policies(on, "AuthorizerFunctionRole")["read-revocation-list"] == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:Query",
            "Resource": ResourceRef("RevocationTable", "Arn"),
        }
    ]


def test_only_the_sign_out_function_may_write_it_and_it_needs_no_cognito_permission(
    on: DeployModel,
) -> None:
    statements = policies(on, "SignOutFunctionRole")
    assert set(statements) == {"write-own-logs", "write-revocation-list"}
    assert statements["write-revocation-list"] == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": ResourceRef("RevocationTable", "Arn"),
        }
    ]
    assert statements["write-own-logs"][0]["Resource"] == ResourceRef("SignOutLogGroup", "Arn")
    roles = {
        logical_id: json.dumps(on.properties(logical_id), default=str)
        for logical_id in on.resources("AWS::IAM::Role")
    }
    # RevokeToken and GlobalSignOut are authorized by the token, not by IAM.
    assert not [role for role, text in roles.items() if "cognito-idp:" in text]
    assert [role for role, text in roles.items() if "dynamodb:PutItem" in text] == [
        "SignOutFunctionRole"
    ]


def test_the_sign_out_function_is_post_signout_behind_the_authorizer(on: DeployModel) -> None:
    function = on.properties("SignOutFunction")
    assert function["Handler"] == "authorizer.signout.app.lambda_handler"
    assert function["Role"] == ResourceRef("SignOutFunctionRole", "Arn")
    env = function["Environment"]["Variables"]
    assert env == {
        "REVOCATION_TABLE": ResourceRef("RevocationTable"),
        "REFRESH_TOKEN_VALIDITY_DAYS": "30",
        "LOG_LEVEL": "INFO",
    }
    paths = on.resolve(api_body(on.template)["paths"])
    operation = paths["/signout"]["post"]
    assert operation["security"] == [{"CognitoAuthorizer": []}]
    assert "SignOutFunction.Arn" in operation["x-amazon-apigateway-integration"]["uri"]
    assert set(paths["/signout"]) == {"post"}
    assert on.outputs()["SignOutUrl"].endswith("/signout")
    assert on.outputs()["RevocationTableName"] == ResourceRef("RevocationTable")


def test_both_functions_settings_pass_their_own_validation(on: DeployModel) -> None:
    """What the template sets is what each function's cold start accepts."""

    def text(env: dict[str, Any]) -> dict[str, str]:
        return {k: "table" if isinstance(v, ResourceRef) else str(v) for k, v in env.items()}

    authorizer_env = text(on.properties("AuthorizerFunction")["Environment"]["Variables"])
    authorizer_env.update(USER_POOL_ID="us-east-1_Pool1", APP_CLIENT_IDS="client1")
    assert load_config(authorizer_env).revocation_table == "table"
    settings = load_settings(text(on.properties("SignOutFunction")["Environment"]["Variables"]))
    assert settings.refresh_token_validity_seconds == 30 * 86400


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, "10"),
        ({"AuthorizerCacheTtlSeconds": "3600"}, "10"),
        ({"AuthorizerCacheTtlSeconds": "3600", "RevocationRefreshSeconds": "30"}, "30"),
        ({"AuthorizerCacheTtlSeconds": "0"}, "0"),
    ],
)
def test_with_revocation_the_api_cache_ttl_is_the_refresh_interval_or_off(
    parameters: dict[str, str], expected: str
) -> None:
    assert str(ttl(deploy({**ON, **parameters}))) == expected


def test_without_revocation_the_cache_ttl_is_the_parameters(off: DeployModel) -> None:
    assert str(ttl(off)) == "300"
    assert str(ttl(deploy({"AuthorizerCacheTtlSeconds": "3600"}))) == "3600"


@pytest.mark.parametrize(
    ("name", "low", "high", "default"),
    [("RevocationRefreshSeconds", 1, 300, 10), ("RefreshTokenValidityDays", 1, 3650, 30)],
)
def test_the_numbers_ranges_match_the_functions_own(
    on: DeployModel, name: str, low: int, high: int, default: int
) -> None:
    spec = on.template["Parameters"][name]
    assert (spec["MinValue"], spec["MaxValue"], spec["Default"]) == (low, high, default)


def test_the_stale_list_alarm_fires_past_two_refresh_intervals(on: DeployModel) -> None:
    alarm = on.properties("RevocationListStaleAlarm")
    [age, stale] = alarm["Metrics"]
    metric = age["MetricStat"]["Metric"]
    assert (metric["Namespace"], metric["MetricName"]) == (
        metrics.NAMESPACE,
        metrics.REVOCATION_LIST_AGE,
    )
    assert metric["Dimensions"] == [
        {"Name": metrics.FUNCTION_DIMENSION, "Value": ResourceRef("AuthorizerFunction")}
    ]
    assert (age["MetricStat"]["Stat"], age["MetricStat"]["Period"]) == ("Maximum", 60)
    assert stale["Expression"] == "IF(age > 2 * 10, 1, 0)"
    assert alarm["TreatMissingData"] == "notBreaching"  # no traffic, no refresh, no line
    with_email = deploy({**ON, "AlarmEmail": "ops@example.com"})
    actions = with_email.properties("RevocationListStaleAlarm")["AlarmActions"]
    assert actions == [ResourceRef("AlarmTopic")]


def test_the_dashboard_has_a_revocation_row_only_with_revocation_on(
    off: DeployModel, on: DeployModel
) -> None:
    def graphed(model: DeployModel) -> set[str]:
        body = json.loads(model.properties("OperationsDashboard")["DashboardBody"])
        return {
            row[1]
            for widget in body["widgets"]
            for row in widget["properties"].get("metrics", [])
            if isinstance(row[0], str) and row[0] == metrics.NAMESPACE
        }

    assert not graphed(off) & metrics.REVOCATION_METRIC_NAMES
    assert graphed(on) == metrics.METRIC_NAMES | metrics.REVOCATION_METRIC_NAMES
    body = json.loads(on.properties("OperationsDashboard")["DashboardBody"])
    reasons = {
        row[5]
        for widget in body["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], str) and "Reason" in row
    }
    assert reasons == {"revoked", "revocation_unavailable"}
    alarms = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
    assert ["<RevocationListStaleAlarm.Arn>"] in alarms


# --- defined once, in the authorizer application ------------------------------------------


def test_the_application_alone_carries_the_list_and_the_sign_out_function() -> None:
    values = {**APP_ALONE, **ON}
    alone = DeployModel(transformed_app(values), values)
    for logical_id in RESOURCES:
        assert alone.exists(logical_id), logical_id
    outputs = alone.outputs()
    assert outputs["SignOutFunctionArn"] == ResourceRef("SignOutFunction", "Arn")
    assert outputs["RevocationTableName"] == ResourceRef("RevocationTable")
    without = DeployModel(transformed_app(APP_ALONE), APP_ALONE)
    assert not {"SignOutFunctionArn", "RevocationTableName"} & set(without.outputs())


def test_the_demo_defines_none_of_it_itself_and_may_invoke_only_post_signout(
    on: DeployModel,
) -> None:
    own = on.template["Resources"]
    assert not set(RESOURCES) & set(own)
    permission = on.properties("SignOutPermission")
    assert permission["FunctionName"] == ResourceRef("SignOutFunction", "Arn")
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["SourceArn"] == (
        "arn:aws:execute-api:us-east-1:123456789012:<HelloApi>/*/POST/signout"
    )
    assert not deploy({}).exists("SignOutPermission")


# --- the REST API variant ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, "300"),
        (ON, "10"),
        ({**ON, "AuthorizerCacheTtlSeconds": "3600", "RevocationRefreshSeconds": "30"}, "30"),
        ({**ON, "AuthorizerCacheTtlSeconds": "0"}, "0"),
    ],
)
def test_the_rest_variant_couples_its_policy_cache_ttl_the_same_way(
    parameters: dict[str, str], expected: str
) -> None:
    template = SamTemplate.read(REST_TEMPLATE).transform(parameters).template
    model = DeployModel(template, parameters)
    schemes = model.template["Resources"]["HelloRestApi"]["Properties"]["Body"]
    scheme = schemes["securityDefinitions"]["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert str(model.resolve(scheme["authorizerResultTtlInSeconds"])) == expected
    revoking = parameters.get("Revocation") == "true"
    assert model.exists("RevocationTable") is revoking
    assert ("RevocationTableName" in model.outputs()) is revoking
    paths = model.resolve(model.template["Resources"]["HelloRestApi"]["Properties"]["Body"])
    assert ("/signout" in paths["paths"]) is revoking
    assert model.exists("SignOutPermission") is revoking
    routes = model.properties("AuthorizerFunction")["Environment"]["Variables"]["API_ROUTES"]
    assert routes.split(",") == ["GET /hello", "POST /hello"] + (
        ["POST /signout"] if revoking else []
    )
    if revoking:
        operation = paths["paths"]["/signout"]["post"]
        assert operation["security"] == [{"CognitoAuthorizer": []}]
        permission = model.properties("SignOutPermission")
        assert permission["SourceArn"].endswith(":<HelloRestApi>/*/POST/signout")
