"""Operations in template.yaml: Lambda's JSON logs, opt-in SnapStart, X-Ray, alarms and a
dashboard whose metric names are the ones authorizer/operations/metrics.py writes.

Each variant is one deploy, transformed as `sam deploy` does and resolved by the
small evaluator in tests/deploy/samtemplate.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from authorizer.operations import metrics
from local.cfn import REGION, ResourceRef
from tests.deploy.samtemplate import ROOT, DeployModel, api_body
from tests.deploy.scan import (
    OPERATIONS_ON,
    VARIANTS,
    as_packaged,
    transformed_app,
    transformed_variant,
)

BIN = Path(sys.executable).parent
FUNCTIONS = ("AuthorizerFunction", "GreeterFunction")
ALARMS = ("AuthorizerErrorsAlarm", "JwksUnavailableAlarm", "DenySpikeAlarm")
# Lambda's application levels: https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html
LAMBDA_APPLICATION_LEVELS = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}


def deploy(parameters: dict[str, str]) -> DeployModel:
    return DeployModel(transformed_variant(parameters), parameters)


@pytest.fixture(scope="module")
def off() -> DeployModel:
    return deploy({})


@pytest.fixture(scope="module")
def on() -> DeployModel:
    return deploy(dict(OPERATIONS_ON))


# --- logs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("log_level", "lambda_level"),
    [("DEBUG", "DEBUG"), ("INFO", "INFO"), ("WARNING", "WARN"), ("ERROR", "ERROR")],
)
def test_both_functions_log_lambda_json_at_the_parameters_level(log_level, lambda_level):
    stack = deploy({"LogLevel": log_level})
    for logical_id in FUNCTIONS:
        props = stack.properties(logical_id)
        logging_config = props["LoggingConfig"]
        assert logging_config["LogFormat"] == "JSON"
        assert logging_config["ApplicationLogLevel"] == lambda_level
        assert logging_config["ApplicationLogLevel"] in LAMBDA_APPLICATION_LEVELS
        # START/REPORT records (duration, init and restore duration) are INFO.
        assert logging_config["SystemLogLevel"] == "INFO"
        # the level the code reads today is still the parameter's own value
        assert props["Environment"]["Variables"]["LOG_LEVEL"] == log_level


# --- SnapStart -----------------------------------------------------------------------


def authorizer_target(stack: DeployModel) -> Any:
    schemes = api_body(stack.template)["components"]["securitySchemes"]
    uri = schemes["CognitoAuthorizer"]["x-amazon-apigateway-authorizer"]["authorizerUri"]
    return stack.resolve(uri["Fn::Sub"][1]["__FunctionArn__"])


def authorizer_permissions(stack: DeployModel) -> list[dict[str, Any]]:
    return [
        props
        for logical_id in stack.resources("AWS::Lambda::Permission")
        if (props := stack.properties(logical_id))["SourceArn"].endswith("/authorizers/*")
    ]


def test_snapstart_is_off_by_default_and_api_gateway_invokes_the_function(off):
    assert off.parameters["SnapStart"] == "false"
    assert off.properties("AuthorizerFunction")["SnapStart"] == {"ApplyOn": "None"}
    assert authorizer_target(off) == ResourceRef("AuthorizerFunction", "Arn")
    (permission,) = authorizer_permissions(off)
    assert permission["FunctionName"] == ResourceRef("AuthorizerFunction", "Arn")


def test_snapstart_on_snapshots_published_versions_and_api_gateway_invokes_the_alias(on):
    assert on.properties("AuthorizerFunction")["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    (alias_id,) = on.resources("AWS::Lambda::Alias")
    assert alias_id == "AuthorizerFunctionAliaslive"
    alias = on.properties(alias_id)
    assert alias["Name"] == "live"
    assert alias["FunctionName"] == ResourceRef("AuthorizerFunction")
    version = alias["FunctionVersion"]
    assert isinstance(version, ResourceRef)
    assert on.resource(version.logical_id)["Type"] == "AWS::Lambda::Version"
    # Ref to an alias is its ARN: the authorizer URI and the permission name it.
    assert authorizer_target(on) == ResourceRef(alias_id)
    (permission,) = authorizer_permissions(on)
    assert permission["FunctionName"] == ResourceRef(alias_id)
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "apigateway.amazonaws.com"


def live_version(stack: DeployModel) -> str:
    version = stack.properties("AuthorizerFunctionAliaslive")["FunctionVersion"]
    assert isinstance(version, ResourceRef)
    return version.logical_id


def test_sam_alone_would_keep_the_alias_on_old_settings():
    """Why make deploy passes a digest: SAM's version name ignores parameter values."""
    before = deploy({"SnapStart": "true"})
    after = deploy({"SnapStart": "true", "RouteRules": '{"GET /hello": {"groups": ["admins"]}}'})
    assert live_version(before) == live_version(after)


def test_the_digest_names_the_version_the_alias_serves():
    first, second = "a1" * 32, "b2" * 32
    stack = deploy({**OPERATIONS_ON, "AuthorizerVersionDigest": first})
    assert live_version(stack) == f"AuthorizerFunctionVersion{first[:10]}"
    assert stack.resource(live_version(stack))["Type"] == "AWS::Lambda::Version"
    changed = deploy({**OPERATIONS_ON, "AuthorizerVersionDigest": second})
    assert live_version(changed) == f"AuthorizerFunctionVersion{second[:10]}"
    # SAM also appends it to the description: the function itself is updated too.
    assert changed.properties("AuthorizerFunction")["Description"].endswith(second)
    # The stack's outputs say which version is live and under which digest.
    outputs = changed.outputs()
    assert outputs["LiveAuthorizerVersion"] == ResourceRef(live_version(changed))
    assert outputs["AuthorizerVersionDigest"] == second


def test_without_a_digest_sam_names_the_version_and_no_digest_is_output(off):
    assert live_version(off).startswith("AuthorizerFunctionVersion")
    assert off.outputs()["LiveAuthorizerVersion"] == ResourceRef(live_version(off))
    assert "AuthorizerVersionDigest" not in off.outputs()


def test_the_greeter_never_uses_snapstart(on):
    assert "SnapStart" not in on.properties("GreeterFunction")


# --- X-Ray ------------------------------------------------------------------------------


def xray_statements(stack: DeployModel, logical_id: str) -> list[dict[str, Any]]:
    role = stack.properties(logical_id)["Role"]
    policies = stack.properties(role.logical_id)["Policies"]
    return [
        statement
        for policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
        if any(action.startswith("xray:") for action in statement["Action"])
    ]


def test_tracing_is_pass_through_by_default_with_no_xray_permission(off):
    for logical_id in FUNCTIONS:
        assert off.properties(logical_id)["TracingConfig"] == {"Mode": "PassThrough"}
        assert xray_statements(off, logical_id) == []


def test_active_tracing_grants_exactly_the_xray_write_actions(on):
    for logical_id in FUNCTIONS:
        assert on.properties(logical_id)["TracingConfig"] == {"Mode": "Active"}
        assert xray_statements(on, logical_id) == [
            {
                "Effect": "Allow",
                "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                "Resource": "*",
            }
        ]


# --- alarms ----------------------------------------------------------------------------


def test_without_alarm_email_there_is_no_topic_and_no_alarm_action(off):
    assert off.resources("AWS::SNS::Topic") == {}
    assert off.resources("AWS::SNS::Subscription") == {}
    assert set(off.resources("AWS::CloudWatch::Alarm")) == set(ALARMS)
    for alarm in ALARMS:
        props = off.properties(alarm)
        assert "AlarmActions" not in props
        assert "OKActions" not in props


def test_an_alarm_email_gets_a_topic_a_subscription_and_every_alarm(on):
    (topic,) = on.resources("AWS::SNS::Topic")
    (subscription,) = on.resources("AWS::SNS::Subscription")
    sub = on.properties(subscription)
    assert (sub["Protocol"], sub["Endpoint"]) == ("email", "ops@example.com")
    assert sub["TopicArn"] == ResourceRef(topic)
    for alarm in ALARMS:
        props = on.properties(alarm)
        assert props["AlarmActions"] == [ResourceRef(topic)]
        assert props["OKActions"] == [ResourceRef(topic)]


@pytest.mark.parametrize(
    ("value", "ok"),
    [("", True), ("ops@example.com", True), ("a b@example.com", False), ("ops", False)],
)
def test_alarm_email_pattern(off, value, ok):
    pattern = off.template["Parameters"]["AlarmEmail"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


def test_the_authorizer_errors_alarm_counts_lambdas_errors_and_throttles(off):
    """Both are a 500 from API Gateway; Lambda's Errors alone leaves throttles out."""
    props = off.properties("AuthorizerErrorsAlarm")
    queries = {query["Id"]: query for query in props["Metrics"]}
    for query_id, metric_name in (("errors", "Errors"), ("throttles", "Throttles")):
        stat = queries[query_id]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
            "AWS/Lambda",
            metric_name,
        )
        assert stat["Stat"] == "Sum"
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "FunctionName", "Value": ResourceRef("AuthorizerFunction")}
        ]
    (returned,) = [q for q in props["Metrics"] if q["ReturnData"] is True]
    assert returned["Expression"] == "FILL(errors, 0) + FILL(throttles, 0)"
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["Threshold"] == 1


def test_the_jwks_alarm_fires_only_on_a_failure_with_no_key_held(off):
    props = off.properties("JwksUnavailableAlarm")
    queries = {query["Id"]: query for query in props["Metrics"]}
    failures = queries["failures"]["MetricStat"]
    keys = queries["keys"]["MetricStat"]
    assert (failures["Metric"]["MetricName"], failures["Stat"]) == (
        metrics.JWKS_FETCH_FAILURES,
        "Sum",
    )
    assert (keys["Metric"]["MetricName"], keys["Stat"]) == (metrics.JWKS_KEYS_AVAILABLE, "Minimum")
    for stat in (failures, keys):
        assert stat["Metric"]["Namespace"] == metrics.NAMESPACE
        assert stat["Metric"]["Dimensions"] == [
            {"Name": metrics.FUNCTION_DIMENSION, "Value": ResourceRef("AuthorizerFunction")}
        ]
    (returned,) = [q for q in props["Metrics"] if q["ReturnData"] is True]
    assert returned["Expression"] == "IF(failures > 0 AND keys < 1, 1, 0)"
    assert props["Threshold"] == 1
    # one bad minute of the last five raises it; a quiet minute does not end it
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (5, 1)


def test_the_deny_spike_alarm_counts_denies_over_the_threshold():
    stack = deploy({"DenySpikeThreshold": "250"})
    props = stack.properties("DenySpikeAlarm")
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        metrics.NAMESPACE,
        metrics.DECISIONS,
        "Sum",
    )
    assert props["Dimensions"] == [
        {"Name": metrics.FUNCTION_DIMENSION, "Value": ResourceRef("AuthorizerFunction")},
        {"Name": metrics.DECISION_DIMENSION, "Value": "deny"},
    ]
    assert props["Threshold"] == "250"
    assert props["ComparisonOperator"] == "GreaterThanThreshold"


# --- the dashboard ------------------------------------------------------------------------

_SEARCH = re.compile(
    r"SEARCH\('\{(?P<namespace>[^,}]+),(?P<dims>[^}]*)\} MetricName=\"(?P<name>[^\"]+)\""
    r"(?P<filters>[^']*)'"
)


# The demo's two dashboards: the authorizer application's own and the API's.
DASHBOARDS = ("OperationsDashboard", "ApiDashboard")


def dashboard(stack: DeployModel) -> dict[str, Any]:
    """Every widget of the demo's dashboards, as one body."""
    widgets = []
    for logical_id in DASHBOARDS:
        widgets += json.loads(stack.properties(logical_id)["DashboardBody"])["widgets"]
    return {"widgets": widgets}


def dashboard_metrics(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every graphed metric, searches included."""
    found = []
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            if isinstance(row[0], dict):
                match = _SEARCH.search(row[0]["expression"])
                assert match, row
                filters = dict(re.findall(r'(\w+)="([^"]*)"', match["filters"]))
                found.append((match["namespace"], match["name"], filters))
                continue
            namespace, name, *rest = row
            pairs = [item for item in rest if not isinstance(item, dict)]
            assert len(pairs) % 2 == 0, row
            found.append((namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return found


def test_dashboard_graphs_every_metric_the_authorizer_writes_and_no_other(off):
    graphed = dashboard_metrics(dashboard(off))
    custom = [(name, dims) for namespace, name, dims in graphed if namespace == metrics.NAMESPACE]
    assert {name for name, _ in custom} == metrics.METRIC_NAMES
    for _name, dims in custom:
        assert dims[metrics.FUNCTION_DIMENSION] == "<AuthorizerFunction>"
        assert set(dims) <= {
            metrics.FUNCTION_DIMENSION,
            metrics.DECISION_DIMENSION,
            metrics.REASON_DIMENSION,
        }
    outcomes = {dims[metrics.DECISION_DIMENSION] for _, dims in custom if "Decision" in dims}
    assert outcomes == metrics.DECISION_VALUES


def test_dashboard_decisions_by_reason_searches_the_reason_dimension(off):
    expressions = [
        row[0]["expression"]
        for widget in dashboard(off)["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], dict)
    ]
    (search,) = expressions
    match = _SEARCH.search(search)
    assert match
    assert match["dims"].split(",") == [metrics.FUNCTION_DIMENSION, metrics.REASON_DIMENSION]
    assert match["name"] == metrics.DECISIONS


def test_dashboard_shows_api_errors_latency_and_both_functions_errors(off):
    graphed = dashboard_metrics(dashboard(off))
    api = {
        (name, dims["ApiId"]) for namespace, name, dims in graphed if namespace.endswith("Gateway")
    }
    assert api == {("4xx", "<HelloApi>"), ("5xx", "<HelloApi>"), ("Latency", "<HelloApi>")}
    assert {namespace for namespace, _, _ in graphed} == {
        metrics.NAMESPACE,
        "AWS/ApiGateway",
        "AWS/Lambda",
    }
    lambda_errors = {
        dims["FunctionName"]
        for namespace, name, dims in graphed
        if (namespace, name) == ("AWS/Lambda", "Errors")
    }
    assert lambda_errors == {"<AuthorizerFunction>", "<GreeterFunction>"}


def test_dashboard_latency_graphs_p50_and_p99(off):
    stats = {
        (row[1], row[-1]["stat"])
        for widget in dashboard(off)["widgets"]
        for row in widget["properties"].get("metrics", [])
        if isinstance(row[0], str) and isinstance(row[-1], dict) and "stat" in row[-1]
    }
    for latency in (metrics.DECISION_LATENCY, "Latency"):
        assert {(latency, "p50"), (latency, "p99")} <= stats


def test_dashboard_lists_the_alarms_and_is_for_this_region(off):
    widgets = dashboard(off)["widgets"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert alarm_widget["properties"]["alarms"] == [f"<{alarm}.Arn>" for alarm in ALARMS]
    assert {w["properties"]["region"] for w in widgets if w["type"] == "metric"} == {REGION}


# --- the template as a whole, per variant ------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_reference_resolves_in_each_variant(variant):
    stack = deploy(dict(VARIANTS[variant]))
    for logical_id in stack.resources():
        stack.resolve_resource(logical_id)
    assert "DashboardUrl" in stack.outputs()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_cfn_lint_passes_on_each_transformed_variant(variant, tmp_path):
    # The demo as `sam package` leaves it, and the application deployed alone.
    path = tmp_path / f"{variant}.json"
    path.write_text(json.dumps(as_packaged(transformed_variant(VARIANTS[variant]))))
    app = tmp_path / f"app-{variant}.json"
    app.write_text(json.dumps(transformed_app(VARIANTS[variant])))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_DEFAULT_REGION=REGION, HOME=str(tmp_path))
    result = subprocess.run(
        [str(BIN / "cfn-lint"), str(path), str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_docs_sql_query_names_the_default_stacks_log_groups():
    """Copied as it is, docs/operations.md's join finds the log groups a default deploy creates."""
    stack_name = tomllib.loads((ROOT / "samconfig.toml").read_text())["default"]["global"][
        "parameters"
    ]["stack_name"]
    model = DeployModel(transformed_variant({}), {}, stack_name=stack_name)
    log_groups = {
        model.properties(logical_id)["LogGroupName"]
        for logical_id in model.resources("AWS::Logs::LogGroup")
    }
    operations = (ROOT / "docs" / "operations.md").read_text()
    (query,) = re.findall(r"```sql\n(.*?)```", operations, flags=re.S)
    named = set(re.findall(r"`(/aws/[^`]+)`", query))
    assert len(named) == 2
    assert named <= log_groups, named - log_groups
