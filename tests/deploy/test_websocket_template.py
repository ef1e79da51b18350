"""The WebSocket API variant (template-websocket.yaml) and the application's ``ApiType=websocket``:
the ``$connect`` authorizer reading the API's own identity source, and with Revocation on the
connections table and the functions that record and close connections, with least privilege.
Each deploy transformed as `sam deploy` does; lint and `sam validate` run offline."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from authorizer.api.websocket import load_identity_source
from authorizer.signout.connections import load_settings as connections_settings
from authorizer.signout.hangup import load_settings as hang_up_settings
from authorizer.tables.connections import (
    CONNECTION_ID,
    EXPIRES_AT,
    FAMILY,
    FAMILY_INDEX,
    ISSUED_AT,
    SUB,
    USER_INDEX,
)
from local.cfn import ResourceRef
from local.sam import SamTemplate
from tests.deploy.samtemplate import ROOT, DeployModel, offline_aws_env
from tests.deploy.scan import APP_ALONE, APP_WEBSOCKET, WEBSOCKET_POOL, WEBSOCKET_TEMPLATE

BIN = Path(sys.executable).parent
API_STAGE = "a1b2c3d4e5/prod"
HANG_UP = (
    "ConnectionsTable",
    "ConnectionsFunction",
    "ConnectionsFunctionRole",
    "ConnectionsLogGroup",
    "HangUpFunction",
    "HangUpFunctionRole",
    "HangUpLogGroup",
    "HangUpFunctionRevocations",
    "HangUpErrorsAlarm",
)
# What an access-log line may name: ids, times, the route, outcomes, the caller's sub.
# Nothing that carries the query string, a header, the request or the identity's token.
SAFE_LOG_VARIABLES = {
    "$context.requestId",
    "$context.connectionId",
    "$context.identity.sourceIp",
    "$context.requestTime",
    "$context.eventType",
    "$context.routeKey",
    "$context.status",
    "$context.authorizer.principalId",
    "$context.authorizer.error",
    "$context.error.message",
}


def demo(**parameters: str) -> DeployModel:
    values = {**WEBSOCKET_POOL, **parameters}
    return DeployModel(SamTemplate.read(WEBSOCKET_TEMPLATE).transform(values).template, values)


def app(**parameters: str) -> DeployModel:
    values = {**APP_ALONE, **parameters}
    path = ROOT / "authorizer" / "template.yaml"
    return DeployModel(SamTemplate.read(path).transform(values).template, values)


def statements(model: DeployModel, role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in model.properties(role)["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# --- the $connect authorizer -----------------------------------------------------------


@pytest.mark.parametrize(
    "source", ["route.request.querystring.token", "route.request.header.Authorization"]
)
def test_the_authorizer_reads_the_identity_source_the_api_declares(source: str) -> None:
    model = demo(WebSocketIdentitySource=source)
    declared = model.properties("ConnectAuthorizer")
    assert declared["AuthorizerType"] == "REQUEST"
    assert declared["IdentitySource"] == [source]
    env = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert (env["API_TYPE"], env["WEBSOCKET_IDENTITY_SOURCE"]) == ("websocket", source)
    # What the cold start makes of it, from the very environment.
    assert load_identity_source(env, {}).where == source.split(".")[2]
    # No result cache to set: WebSocket authorizers have none.
    assert "AuthorizerResultTtlInSeconds" not in declared


def test_connect_alone_is_authorized_and_hello_answers_on_the_socket() -> None:
    model = demo()
    routes = {props["RouteKey"]: props for name in model.resources("AWS::ApiGatewayV2::Route")
              if (props := model.properties(name))}  # fmt: skip
    assert set(routes) == {"$connect", "$disconnect", "hello", "$default"}
    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert all("AuthorizationType" not in routes[key] for key in ("hello", "$default"))
    responses = [model.properties(n) for n in model.resources("AWS::ApiGatewayV2::RouteResponse")]
    assert {r["RouteId"] for r in responses} == {
        ResourceRef("HelloRoute"),
        ResourceRef("DefaultRoute"),
    }
    assert model.properties("GreeterFunction")["Handler"] == "greeter.websocket.lambda_handler"


def test_the_authorizer_and_greeter_may_be_invoked_by_this_api_only() -> None:
    model = demo()
    for name in ("AuthorizerPermission", "GreeterHelloPermission", "GreeterConnectPermission"):
        props = model.properties(name)
        assert props["Principal"] == "apigateway.amazonaws.com"
        assert ":<ChatApi>/" in props["SourceArn"]
        assert props["SourceAccount"] == "123456789012"


def test_the_access_log_format_cannot_log_a_token() -> None:
    settings = demo().properties("Stage")["AccessLogSettings"]
    variables = set(re.findall(r"\$[A-Za-z][\w.]*", settings["Format"]))
    assert variables, "the format names what it logs"
    assert variables <= SAFE_LOG_VARIABLES
    assert not re.search(
        r"querystring|header|request\.|\$input|identity\.(?!sourceIp)", str(variables)
    )


# --- sign-out that hangs up: only with revocation on ---------------------------------


def test_with_revocation_off_nothing_of_the_hang_up_exists() -> None:
    model = demo()
    assert not any(model.exists(name) for name in HANG_UP)
    assert not model.exists("RevocationTable")
    assert model.properties("ConnectRoute")["Target"] == "integrations/<GreeterIntegration>"
    app_alone = app(ApiType="websocket")
    assert not any(app_alone.exists(name) for name in HANG_UP)
    # Nor for an HTTP or REST API, with revocation on.
    assert not any(app(Revocation="true").exists(name) for name in HANG_UP)


def test_with_revocation_on_connect_and_disconnect_record_the_connections() -> None:
    model = demo(Revocation="true")
    assert all(model.exists(name) for name in HANG_UP)
    for route in ("ConnectRoute", "DisconnectRoute"):
        assert model.properties(route)["Target"] == "integrations/<ConnectionsIntegration>"
    permissions = ("ConnectionsConnectPermission", "ConnectionsDisconnectPermission")
    sources = {model.properties(name)["SourceArn"].rsplit("/", 1)[1] for name in permissions}
    assert sources == {"$connect", "$disconnect"}
    table = model.properties("ConnectionsTable")
    assert table["KeySchema"] == [{"AttributeName": CONNECTION_ID, "KeyType": "HASH"}]
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert [k["AttributeName"] for k in indexes[FAMILY_INDEX]["KeySchema"]] == [FAMILY]
    assert [k["AttributeName"] for k in indexes[USER_INDEX]["KeySchema"]] == [SUB, ISSUED_AT]
    assert {i["Projection"]["ProjectionType"] for i in indexes.values()} == {"KEYS_ONLY"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": EXPIRES_AT, "Enabled": True}
    assert model.properties("RevocationTable")["StreamSpecification"] == {
        "StreamViewType": "NEW_IMAGE"
    }
    mapping = model.properties("HangUpFunctionRevocations")
    assert mapping["EventSourceArn"] == ResourceRef("RevocationTable", "StreamArn")
    assert mapping["StartingPosition"] == "LATEST"


def test_the_hang_up_function_closes_this_api_s_connections_and_no_other() -> None:
    model = demo(Revocation="true")
    env = model.properties("HangUpFunction")["Environment"]["Variables"]
    assert env["CONNECTIONS_ENDPOINT"] == (
        "https://<ChatApi>.execute-api.us-east-1.amazonaws.com/prod"
    )
    [manage] = [s for s in statements(model, "HangUpFunctionRole")
                if "execute-api:ManageConnections" in actions(s)]  # fmt: skip
    assert manage["Resource"] == (
        "arn:aws:execute-api:us-east-1:123456789012:<ChatApi>/prod/DELETE/@connections/*"
    )
    assert actions(manage) == ["execute-api:ManageConnections"]
    settings = hang_up_settings(
        {"CONNECTIONS_TABLE": "t", "CONNECTIONS_ENDPOINT": "https://a1b2c3d4e5.execute-api.x/prod"}
    )
    assert settings.endpoint.endswith("/prod")


def test_a_hang_up_that_fails_raises_its_alarm_and_its_batch_is_retried_then_dropped() -> None:
    """As docs/operations.md says: any error or throttle of the function in 5 minutes, and a
    failed batch retried five times (then dropped, its connections left open)."""
    model = demo(Revocation="true")
    alarm = model.properties("HangUpErrorsAlarm")
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    for query_id, metric_name in (("errors", "Errors"), ("throttles", "Throttles")):
        stat = queries[query_id]["MetricStat"]
        assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == (
            "AWS/Lambda",
            metric_name,
        )
        assert (stat["Period"], stat["Stat"]) == (300, "Sum")
        assert stat["Metric"]["Dimensions"] == [
            {"Name": "FunctionName", "Value": ResourceRef("HangUpFunction")}
        ]
    (returned,) = [q for q in alarm["Metrics"] if q["ReturnData"] is True]
    assert returned["Expression"] == "FILL(errors, 0) + FILL(throttles, 0)"
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["EvaluationPeriods"]) == (
        "GreaterThanOrEqualToThreshold",
        1,
        1,
    )
    retries = model.properties("HangUpFunctionRevocations")["MaximumRetryAttempts"]
    words = {5: "five"}
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    websocket = (ROOT / "docs" / "websocket.md").read_text(encoding="utf-8")
    assert f"after {words[retries]} retries, drops it" in operations
    assert f"retries up to {words[retries]} times and then drops" in websocket
    assert "raises `HangUpErrorsAlarm`" in websocket


def test_only_the_hang_up_function_may_call_the_management_api() -> None:
    model = app(**APP_WEBSOCKET)
    managing = {
        role
        for role in model.resources("AWS::IAM::Role")
        for statement in statements(model, role)
        if any(a.startswith("execute-api:") for a in actions(statement))
    }
    assert managing == {"HangUpFunctionRole"}
    [manage] = [s for s in statements(model, "HangUpFunctionRole")
                if "execute-api:ManageConnections" in actions(s)]  # fmt: skip
    assert manage["Resource"] == (
        "arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/DELETE/@connections/*"
    )


def test_the_connections_roles_touch_their_own_table_only() -> None:
    model = app(**APP_WEBSOCKET)
    recorder = [
        s
        for s in statements(model, "ConnectionsFunctionRole")
        if any(a.startswith("dynamodb:") for a in actions(s))
    ]
    # Its own items, and one read of the revocation list at each $connect: never a write there.
    assert recorder == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem", "dynamodb:DeleteItem"],
            "Resource": ResourceRef("ConnectionsTable", "Arn"),
        },
        {
            "Effect": "Allow",
            "Action": "dynamodb:Query",
            "Resource": ResourceRef("RevocationTable", "Arn"),
        },
    ]
    hang_up = statements(model, "HangUpFunctionRole")
    dynamodb = sorted(a for s in hang_up for a in actions(s) if a.startswith("dynamodb:"))
    assert dynamodb == [
        "dynamodb:DescribeStream",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:ListStreams",
        "dynamodb:Query",
    ]
    [query] = [s for s in hang_up if actions(s) == ["dynamodb:Query"]]
    assert query["Resource"] == "<ConnectionsTable.Arn>/index/*"


@pytest.mark.parametrize("refresh", ["10", "300"])
def test_the_connections_function_reads_the_revocation_settings_the_authorizer_reads(
    refresh: str,
) -> None:
    """The same table and refresh interval, so the same staleness bound: its window's."""
    model = app(**APP_WEBSOCKET, RevocationRefreshSeconds=refresh)
    connections = model.properties("ConnectionsFunction")["Environment"]["Variables"]
    authorizer = model.properties("AuthorizerFunction")["Environment"]["Variables"]
    shared = ("REVOCATION_TABLE", "REVOCATION_REFRESH_SECONDS", "REVOCATION_MAX_STALE_SECONDS")
    assert {k: connections.get(k) for k in shared} == {k: authorizer.get(k) for k in shared}
    assert connections["REVOCATION_TABLE"] == ResourceRef("RevocationTable")
    assert connections["REVOCATION_REFRESH_SECONDS"] == refresh
    env = {**connections, "CONNECTIONS_TABLE": "t", "REVOCATION_TABLE": "rev"}
    assert connections_settings(env).window_seconds == max(120, int(refresh)) + 60


@pytest.mark.parametrize(
    ("parameters", "broken"),
    [
        ({"ApiType": "websocket", "Revocation": "true"}, "SignOutHangsUpTheWebSocketApi"),
        (
            {"ApiType": "websocket", "WebSocketApi": API_STAGE},
            "WebSocketApiIsForWebSocketRevocation",
        ),
        ({"Revocation": "true", "WebSocketApi": API_STAGE}, "WebSocketApiIsForWebSocketRevocation"),
        ({"ApiType": "websocket", "ApiRoutes": "GET /hello"}, "WebSocketApisTakeNoRoutes"),
    ],
)
def test_the_deploy_refuses_settings_that_do_not_go_together(
    parameters: dict[str, str], broken: str
) -> None:
    failures = app(**parameters).rule_failures()
    assert [f.split(":")[0] for f in failures] == [broken]
    assert app(**APP_WEBSOCKET).rule_failures() == []


# --- lint and validate -----------------------------------------------------------------


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_cfn_lint_and_sam_validate_pass(tmp_path: Path) -> None:
    env = offline_aws_env(tmp_path)
    linted = run([str(BIN / "cfn-lint"), str(WEBSOCKET_TEMPLATE)], env)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    validated = run(
        [str(BIN / "sam"), "validate", "--lint", "--template-file", str(WEBSOCKET_TEMPLATE)], env
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
