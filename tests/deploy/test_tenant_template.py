"""The tenant registry in the templates (TenantRegistry=true): its table, its one reader, its
alarm and dashboard row, the cache TTL it needs, and the settings it replaces; off by default."""

from __future__ import annotations

import json
from typing import Any

import pytest

from authorizer.operations import metrics
from authorizer.tables.tenants import PARTITION_KEY
from authorizer.verification.config import (
    DEFAULT_MAX_KEY_SETS,
    DEFAULT_TENANT_REFRESH_SECONDS,
    MAX_MAX_KEY_SETS,
    MAX_TENANT_REFRESH_SECONDS,
    load_config,
)
from local.cfn import ResourceRef
from local.sam import SamTemplate
from shared.exceptions import ConfigurationError
from tests.deploy.samtemplate import APP_TEMPLATE, ROOT, TEMPLATE, DeployModel, api_body
from tests.deploy.scan import APP_ALONE, transformed_app

ON = {"TenantRegistry": "true"}
RESOURCES = ("TenantTable", "TenantRegistryStaleAlarm")
TEMPLATES = {"http": TEMPLATE, "rest": ROOT / "template-rest.yaml", "application": APP_TEMPLATE}


def deploy(parameters: dict[str, str], template: str = "http") -> DeployModel:
    path = TEMPLATES[template]
    return DeployModel(SamTemplate.read(path).transform(parameters).template, parameters)


def alone(parameters: dict[str, str]) -> DeployModel:
    values = {**APP_ALONE, **parameters}
    return DeployModel(transformed_app(values), values)


@pytest.fixture(scope="module")
def on() -> DeployModel:
    return deploy(dict(ON))


def env_of(model: DeployModel) -> dict[str, Any]:
    env: dict[str, Any] = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    return env


def text(env: dict[str, Any]) -> dict[str, str]:
    """The variables as the function gets them: a created table or pool named plausibly."""
    names = {
        "TenantTable": "tenants",
        "UserPool": "us-east-1_Created1",
        "UserPoolClient": "client1",
    }
    return {
        k: names[v.logical_id] if isinstance(v, ResourceRef) else str(v) for k, v in env.items()
    }


def ttl(model: DeployModel, template: str) -> str:
    if template == "rest":
        body = model.template["Resources"]["HelloRestApi"]["Properties"]["Body"]
        scheme = body["securityDefinitions"]["CognitoAuthorizer"]
    else:
        scheme = api_body(model.template)["components"]["securitySchemes"]["CognitoAuthorizer"]
    return str(
        model.resolve(scheme["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"])
    )


def test_off_by_default_nothing_of_it_is_deployed() -> None:
    off = deploy({})
    assert off.parameters["TenantRegistry"] == "false"
    assert not any(off.exists(logical_id) for logical_id in RESOURCES)
    assert env_of(off)["TENANT_TABLE"] == ""
    assert "TenantTableName" not in off.outputs()
    role = off.properties("AuthorizerFunctionRole")["Policies"]
    assert "read-tenant-registry" not in {p["PolicyName"] for p in role}


def test_the_table_is_a_change_log_encrypted_recoverable_and_kept(on: DeployModel) -> None:
    table = on.properties("TenantTable")
    assert table["KeySchema"] == [
        {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSESpecification"] == {"SSEEnabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    # Items never expire by themselves: a deleted tenant's item is its record.
    assert "TimeToLiveSpecification" not in table
    resource = on.resource("TenantTable")
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_authorizer_may_only_query_it_and_no_other_function_may_touch_it(
    on: DeployModel,
) -> None:
    policies = {
        p["PolicyName"]: p["PolicyDocument"]["Statement"]
        for p in on.properties("AuthorizerFunctionRole")["Policies"]
    }
    assert policies["read-tenant-registry"] == [
        {
            "Effect": "Allow",
            "Action": "dynamodb:Query",
            "Resource": ResourceRef("TenantTable", "Arn"),
        }
    ]
    text = json.dumps(
        {
            logical_id: on.properties(logical_id)
            for logical_id in on.resources("AWS::IAM::Role")
            if logical_id != "AuthorizerFunctionRole"
        },
        default=str,
    )
    assert "TenantTable" not in text


def test_the_authorizers_settings_pass_its_own_cold_start(on: DeployModel) -> None:
    env = env_of(on)
    assert env["TENANT_TABLE"] == ResourceRef("TenantTable")
    assert (env["TENANT_REFRESH_SECONDS"], env["MAX_KEY_SETS"]) == ("10", "1000")
    config = load_config(text(env))
    assert config.tenant_table
    assert config.pools  # the demo's own pool is trusted beside the registry's


@pytest.mark.parametrize(
    ("name", "low", "high", "default"),
    [
        ("TenantRefreshSeconds", 1, MAX_TENANT_REFRESH_SECONDS, DEFAULT_TENANT_REFRESH_SECONDS),
        ("MaxKeySets", 1, MAX_MAX_KEY_SETS, DEFAULT_MAX_KEY_SETS),
    ],
)
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_the_numbers_ranges_are_the_cold_starts(
    template: str, name: str, low: int, high: int, default: int
) -> None:
    spec = SamTemplate.read(TEMPLATES[template]).source["Parameters"][name]
    assert (spec["MinValue"], spec["MaxValue"], spec["Default"]) == (low, high, default)


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, "300"),
        (ON, "10"),
        ({**ON, "TenantRefreshSeconds": "30", "AuthorizerCacheTtlSeconds": "3600"}, "30"),
        ({**ON, "AuthorizerCacheTtlSeconds": "0"}, "0"),
        ({**ON, "Revocation": "true", "RevocationRefreshSeconds": "5"}, "5"),
    ],
)
@pytest.mark.parametrize("template", ["http", "rest"])
def test_a_cached_answer_never_outlives_a_tenants_change_by_more_than_the_refresh(
    template: str, parameters: dict[str, str], expected: str
) -> None:
    model = deploy(parameters, template)
    assert ttl(model, template) == expected
    assert ("TenantTableName" in model.outputs()) is (parameters.get("TenantRegistry") == "true")


def test_the_application_alone_needs_no_pool_beside_the_registry() -> None:
    registry_only = {**ON, "UserPoolId": "", "AppClientIds": ""}
    model = alone(registry_only)
    assert model.rule_failures() == []
    for logical_id in RESOURCES:
        assert model.exists(logical_id), logical_id
    assert model.outputs()["TenantTableName"] == ResourceRef("TenantTable")
    env = env_of(model)
    assert (env["USER_POOL_ID"], env["APP_CLIENT_IDS"], env["TOKEN_USE"]) == ("", "", "")
    config = load_config(text(env))
    assert config.pools == ()
    # Without the registry, a pool is still required.
    failures = alone({"UserPoolId": "", "AppClientIds": ""}).rule_failures()
    assert any("Give UserPoolId and AppClientIds, or UserPools" in f for f in failures)


@pytest.mark.parametrize(
    ("parameters", "refused"),
    [
        ({"UserPoolId": "eu-west-1_AbC123"}, "Give UserPoolId and AppClientIds together"),
        ({"AppClientIds": "abc"}, "Give UserPoolId and AppClientIds together"),
        ({"TokenUse": "access"}, "TokenUse applies to UserPoolId's pool"),
        ({"ReplicaRegions": "eu-central-1"}, "ReplicaRegions applies to UserPoolId's pool"),
    ],
)
def test_without_a_pool_the_one_pool_settings_are_refused_by_name(
    parameters: dict[str, str], refused: str
) -> None:
    values = {**ON, "UserPoolId": "", "AppClientIds": "", **parameters}
    failures = alone(values).rule_failures()
    assert any(refused in failure for failure in failures), failures


def test_past_the_rule_a_token_use_without_a_pool_reaches_the_cold_start_which_refuses_it() -> None:
    model = alone({**ON, "UserPoolId": "", "AppClientIds": "", "TokenUse": "access"})
    env = text(env_of(model))
    assert env["TOKEN_USE"] == "access"
    with pytest.raises(ConfigurationError, match=r"^USER_POOL_ID: is required"):
        load_config(env)


def test_a_pool_beside_the_registry_is_trusted_as_well() -> None:
    values = {**ON, "UserPoolId": "eu-west-1_AbC123", "AppClientIds": "abc", "TokenUse": "id"}
    model = alone(values)
    assert model.rule_failures() == []
    config = load_config(text(env_of(model)))
    assert [pool.user_pool_id for pool in config.pools] == ["eu-west-1_AbC123"]
    assert config.pool.token_use == "id"


def test_the_stale_registry_alarm_fires_past_two_refresh_intervals(on: DeployModel) -> None:
    alarm = on.properties("TenantRegistryStaleAlarm")
    [age, stale] = alarm["Metrics"]
    metric = age["MetricStat"]["Metric"]
    assert (metric["Namespace"], metric["MetricName"]) == (
        metrics.NAMESPACE,
        metrics.TENANT_REGISTRY_TABLE.age,
    )
    assert metric["Dimensions"] == [
        {"Name": metrics.FUNCTION_DIMENSION, "Value": ResourceRef("AuthorizerFunction")}
    ]
    # The metric is in seconds (TableMetrics.age's unit), as the refresh interval.
    assert (age["MetricStat"]["Stat"], age["MetricStat"]["Period"]) == ("Maximum", 60)
    assert stale["Expression"] == "IF(age > 2 * 10, 1, 0)"
    assert alarm["TreatMissingData"] == "notBreaching"


def test_the_dashboard_has_a_tenant_row_only_with_the_registry_on(on: DeployModel) -> None:
    def graphed(model: DeployModel) -> tuple[set[str], set[str], list[Any]]:
        body = json.loads(model.properties("OperationsDashboard")["DashboardBody"])
        rows = [
            row
            for widget in body["widgets"]
            for row in widget["properties"].get("metrics", [])
            if isinstance(row[0], str) and row[0] == metrics.NAMESPACE
        ]
        alarms = [w["properties"]["alarms"] for w in body["widgets"] if w["type"] == "alarm"]
        return {row[1] for row in rows}, {row[5] for row in rows if "Reason" in row}, alarms

    names, reasons, alarms = graphed(on)
    assert names == metrics.METRIC_NAMES | metrics.TENANT_METRIC_NAMES
    assert reasons == {"tenant_suspended", "tenant_registry_unavailable"}
    assert ["<TenantRegistryStaleAlarm.Arn>"] in alarms
    off_names, _, _ = graphed(deploy({}))
    assert not off_names & metrics.TENANT_METRIC_NAMES
