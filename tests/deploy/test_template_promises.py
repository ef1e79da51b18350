"""What the templates promise, pinned on the template as CloudFormation holds it after the
SAM transform, for the deploys that matter:

- each ``InvokingApis`` slot, given as an API id or as an API ARN, grants exactly that
  API's authorizers (its source ARN and its account), nothing broader;
- the revocation list's roles: the authorizer may only Query it, the sign-out function
  only PutItem, no other role anything of it;
- the attribute the writers put the expiry in is the one the table's TTL reads;
- with revocation on, API Gateway's authorizer cache TTL is at most the list's refresh
  interval, in every demo and every example;
- the stale-list alarm compares the list's age in the unit the metric is written in;
- each setting's range in the template (MinValue/MaxValue, AllowedValues, AllowedPattern)
  is what the function's cold start accepts: a value the template takes never stops a
  cold start, and at each end of a number's range the two agree.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import pytest

from authorizer.api.settings import load_cold_start
from authorizer.operations.metrics import REVOCATION_LIST_AGE, MetricsEmitter
from authorizer.signout.handler import SignOut, SignOutSettings, load_settings
from authorizer.tables.revocation import FAMILY, USER, parse_item, revocation_item
from local.cfn import ResourceRef, parameter_values
from local.exceptions import TemplateError
from local.sam import SamTemplate
from shared.exceptions import ConfigurationError
from tests.deploy.samtemplate import APP_TEMPLATE, ROOT, TEMPLATE, DeployModel, load_app_template
from tests.deploy.scan import APP_ALONE
from tests.forge import load_event
from tests.helpers import AUTHORIZER_TIMEOUT_SECONDS, SIGN_OUT_TIMEOUT_SECONDS

IDS: Final = ("a1b2c3d4e5", "f6g7h8i9j0", "k1l2m3n4o5", "p6q7r8s9t0", "u1v2w3x4y5")
# Five APIs elsewhere: other regions, other accounts, another partition.
ARNS: Final = (
    "arn:aws:execute-api:eu-west-1:111111111111:z9y8x7w6v5",
    "arn:aws:execute-api:us-west-2:222222222222:q1w2e3r4t5",
    "arn:aws-cn:execute-api:cn-north-1:333333333333:y6u7i8o9p0",
    "arn:aws:execute-api:ap-southeast-2:444444444444:a0s9d8f7g6",
    "arn:aws-us-gov:execute-api:us-gov-west-1:555555555555:h5j4k3l2m1",
)
OURS: Final = "arn:aws:execute-api:us-east-1:123456789012"


def app(parameters: Mapping[str, str] | None = None) -> DeployModel:
    values = {**APP_ALONE, **(parameters or {})}
    return DeployModel(SamTemplate.read(APP_TEMPLATE).transform(values).template, values)


# --- invoke permissions: each slot, each form ---------------------------------------------


@pytest.mark.parametrize("snapstart", ["false", "true"])
@pytest.mark.parametrize(
    ("apis", "granted"),
    [
        (IDS, [(f"{OURS}:{api}/authorizers/*", "123456789012") for api in IDS]),
        (ARNS, [(f"{arn}/authorizers/*", arn.split(":")[4]) for arn in ARNS]),
        (
            (ARNS[0], IDS[1], ARNS[2], IDS[3], ARNS[4]),
            [
                (f"{ARNS[0]}/authorizers/*", "111111111111"),
                (f"{OURS}:{IDS[1]}/authorizers/*", "123456789012"),
                (f"{ARNS[2]}/authorizers/*", "333333333333"),
                (f"{OURS}:{IDS[3]}/authorizers/*", "123456789012"),
                (f"{ARNS[4]}/authorizers/*", "555555555555"),
            ],
        ),
    ],
    ids=["ids", "arns", "mixed"],
)
def test_each_invoking_api_slot_grants_exactly_that_apis_authorizers(
    apis: tuple[str, ...], granted: list[tuple[str, str]], snapstart: str
) -> None:
    model = app({"InvokingApis": ",".join(apis), "SnapStart": snapstart})
    target = (
        ResourceRef("AuthorizerFunctionAliaslive")
        if snapstart == "true"
        else ResourceRef("AuthorizerFunction", "Arn")
    )
    permissions = model.resources("AWS::Lambda::Permission")
    assert sorted(permissions) == [f"InvokingApi{slot}Permission" for slot in range(1, 6)]
    for slot, (source_arn, account) in enumerate(granted, start=1):
        props = model.properties(f"InvokingApi{slot}Permission")
        assert props == {
            "Action": "lambda:InvokeFunction",
            "FunctionName": target,
            "Principal": "apigateway.amazonaws.com",
            "SourceAccount": account,
            "SourceArn": source_arn,
        }, slot


@pytest.mark.parametrize("count", range(1, 6))
def test_only_the_slots_given_are_granted(count: int) -> None:
    model = app({"InvokingApis": ",".join(ARNS[:count])})
    expected = [f"InvokingApi{slot}Permission" for slot in range(1, count + 1)]
    assert sorted(model.resources("AWS::Lambda::Permission")) == expected


def test_the_functions_timeouts_are_the_ones_the_tests_hold_them_to() -> None:
    """The fault matrix and the sign-out tests bound a request by these."""
    resources = app_source()["Resources"]
    assert resources["AuthorizerFunction"]["Properties"]["Timeout"] == AUTHORIZER_TIMEOUT_SECONDS
    assert resources["SignOutFunction"]["Properties"]["Timeout"] == SIGN_OUT_TIMEOUT_SECONDS


# --- the revocation list's roles and its TTL ----------------------------------------------

ON: Final = {"Revocation": "true", "Tracing": "Active"}


def statements(model: DeployModel) -> Iterator[tuple[str, str, Any]]:
    """(role, action, resource) for every Allow of every role the deploy creates."""
    for role in model.resources("AWS::IAM::Role"):
        for policy in model.properties(role).get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                assert statement["Effect"] == "Allow"
                actions = statement["Action"]
                for action in [actions] if isinstance(actions, str) else actions:
                    yield role, action, statement["Resource"]


def test_the_list_is_queried_by_the_authorizer_and_written_by_the_sign_out_function_only() -> None:
    granted = {(role, action, str(resource)) for role, action, resource in statements(app(ON))}
    table = str(ResourceRef("RevocationTable", "Arn"))
    assert {grant for grant in granted if grant[1].startswith("dynamodb:")} == {
        ("AuthorizerFunctionRole", "dynamodb:Query", table),
        ("SignOutFunctionRole", "dynamodb:PutItem", table),
    }
    assert not any(action == "*" or action.startswith("dynamodb:*") for _, action, _ in granted)
    assert not any(table in resource for _, action, resource in granted if "dynamodb" not in action)


def test_the_writers_put_the_expiry_where_the_tables_ttl_reads_it() -> None:
    attribute = app(ON).properties("RevocationTable")["TimeToLiveSpecification"]
    assert attribute["Enabled"] is True
    name = attribute["AttributeName"]

    written: list[dict[str, Any]] = []

    class Table:
        def put_item(self, *, TableName: str, Item: dict[str, Any]) -> None:
            written.append(Item)

    class Cognito:
        def revoke_token(self, **_: str) -> None:
            pass

    event = load_event("greeter_post.json")
    event["requestContext"]["authorizer"]["lambda"]["originJti"] = "family-1"
    event["body"] = None  # no body: this sign-in's family, for the refresh token's validity
    settings = SignOutSettings("table", 86400, "INFO")
    assert SignOut(settings, Cognito(), Table()).handle(event)["statusCode"] == 200
    written.append(revocation_item(USER, "sub-1", 1_800_000_000.5))
    for item in written:
        # DynamoDB's TTL takes a Number of epoch seconds, and deletes after it.
        assert set(item[name]) == {"N"}
        assert int(item[name]["N"]) == parse_item(item).expires_at
        assert parse_item(item).expires_at > parse_item(item).revoked_at
    assert parse_item(written[0]).kind == FAMILY


# --- the API cache TTL, coupled to the refresh in every demo and example --------------------

COUPLED: Final = {
    "demo-http": TEMPLATE,
    "demo-rest": ROOT / "template-rest.yaml",
    "example-http": ROOT / "examples" / "http-api.yaml",
    "example-rest": ROOT / "examples" / "rest-api.yaml",
}
AUTHORIZER_ARN: Final = "arn:aws:lambda:us-east-1:123456789012:function:authorizer-fn:live"


def cache_ttls(template: Path, parameters: dict[str, str]) -> list[int]:
    """Every authorizerResultTtlInSeconds the deploy gives API Gateway."""
    source = SamTemplate.read(template)
    if "AuthorizerArn" in source.parameter_names:
        parameters = {**parameters, "AuthorizerArn": AUTHORIZER_ARN}
    model = DeployModel(source.transform(parameters).template, parameters)

    def found(node: Any) -> Iterator[Any]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "authorizerResultTtlInSeconds":
                    yield value
                else:
                    yield from found(value)
        elif isinstance(node, list):
            for value in node:
                yield from found(value)

    own = model.template["Resources"]
    ttls = [int(model.resolve(ttl)) for ttl in found(own)]
    assert ttls, f"{template.name} gives API Gateway no authorizer cache TTL"
    return ttls


@pytest.mark.parametrize("name", sorted(COUPLED))
@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({}, 300),
        ({"AuthorizerCacheTtlSeconds": "3600"}, 3600),
        ({"Revocation": "true"}, 10),
        ({"Revocation": "true", "AuthorizerCacheTtlSeconds": "3600"}, 10),
        ({"Revocation": "true", "RevocationRefreshSeconds": "300"}, 300),
        ({"Revocation": "true", "RevocationRefreshSeconds": "1"}, 1),
        ({"Revocation": "true", "AuthorizerCacheTtlSeconds": "0"}, 0),
    ],
    ids=["off", "off-3600", "on", "on-3600", "on-300", "on-1", "on-no-cache"],
)
def test_with_revocation_a_cached_answer_never_outlives_the_refresh_interval(
    name: str, parameters: dict[str, str], expected: int
) -> None:
    assert set(cache_ttls(COUPLED[name], parameters)) == {expected}


# --- the stale-list alarm, in the metric's unit ----------------------------------------------

EXPRESSION: Final = re.compile(r"IF\(age > (?P<threshold>[0-9]+(?: \* [0-9]+)*), 1, 0\)")


@pytest.mark.parametrize("refresh", [1, 10, 300])
def test_the_stale_list_alarm_compares_seconds_with_two_refresh_intervals_in_seconds(
    refresh: int,
) -> None:
    document = MetricsEmitter("f").revocation_refresh_document(ok=True, age_seconds=3, entries=0)
    [directive] = document["_aws"]["CloudWatchMetrics"]
    units = {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]}
    assert units[REVOCATION_LIST_AGE] == "Seconds"
    alarm = app({**ON, "RevocationRefreshSeconds": str(refresh)}).properties(
        "RevocationListStaleAlarm"
    )
    [age, stale] = alarm["Metrics"]
    assert age["MetricStat"]["Metric"]["MetricName"] == REVOCATION_LIST_AGE
    assert "Unit" not in age["MetricStat"]  # no conversion: the age as written, in seconds
    found = EXPRESSION.fullmatch(stale["Expression"])
    assert found is not None, stale["Expression"]
    threshold = 1
    for factor in found["threshold"].split(" * "):
        threshold *= int(factor)
    assert threshold == 2 * refresh


# --- each setting's range: what the cold start accepts ---------------------------------------

BASE: Final = {"USER_POOL_ID": "us-east-1_AbC123xyz", "APP_CLIENT_IDS": "1example23456789"}


# What each variable needs beside it to be read at all.
BESIDE: Final[dict[str, dict[str, str]]] = {
    "API_ROUTES": {"API_TYPE": "rest"},
    "WEBSOCKET_IDENTITY_SOURCE": {"API_TYPE": "websocket"},
}
API_TYPE_NEEDS: Final[dict[str, dict[str, str]]] = {
    "rest": {"API_ROUTES": "GET /hello"},
    "websocket": {"WEBSOCKET_IDENTITY_SOURCE": "route.request.header.Authorization"},
}


def authorizer_starts(variable: str, value: str) -> bool:
    """Whether the authorizer's cold start (``load_cold_start``) takes ``value``."""
    env = {**BASE, **BESIDE.get(variable, {}), variable: value}
    if variable == "API_TYPE":
        env.update(API_TYPE_NEEDS.get(value, {}))
    try:
        load_cold_start(env)
    except ConfigurationError:
        return False
    return True


def sign_out_starts(variable: str, value: str) -> bool:
    try:
        load_settings({"REVOCATION_TABLE": "table", variable: value})
    except ConfigurationError:
        return False
    return True


STARTS: Final[dict[str, Callable[[str, str], bool]]] = {
    "AuthorizerFunction": authorizer_starts,
    "SignOutFunction": sign_out_starts,
}


@functools.cache
def app_source() -> dict[str, Any]:
    return load_app_template()


def referenced_parameter(node: Any) -> str | None:
    """The one parameter a function's variable takes its value from (through an If)."""
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return str(node["Ref"]) if not str(node["Ref"]).startswith("AWS::") else None
        if set(node) == {"Fn::If"}:
            names = {referenced_parameter(branch) for branch in node["Fn::If"][1:]} - {None}
            return names.pop() if len(names) == 1 else None
    return None


def settings_with_a_range() -> list[tuple[str, str, str]]:
    """(function, variable, parameter) for each constrained parameter a function reads."""
    source = app_source()
    found = []
    for function in STARTS:
        variables = source["Resources"][function]["Properties"]["Environment"]["Variables"]
        for variable, value in variables.items():
            name = referenced_parameter(value)
            spec = source["Parameters"].get(name or "", {})
            if {"MinValue", "MaxValue", "AllowedValues", "AllowedPattern"} & set(spec):
                found.append((function, variable, str(name)))
    # API_TYPE follows ApiType through a condition (rest, or absent for http).
    return [*found, ("AuthorizerFunction", "API_TYPE", "ApiType")]


SETTINGS: Final = settings_with_a_range()
# Values at the edges of each pattern, and whether the template takes them: what it
# takes, the cold start must.
PATTERN_SAMPLES: Final[dict[str, list[tuple[str, bool]]]] = {
    "UserPoolId": [
        ("us-east-1_a", True),
        ("eusc-de-east-1_AbC123xyz", True),
        ("us-gov-west-1_x1Y2z3", True),
        ("ap-southeast-2_" + "Z9" * 27, True),
        ("us-east-1", False),
        ("us-east-1_a b", False),
    ],
    "AppClientIds": [
        ("1", True),
        ("1example23456789", True),
        ("a_b,c+d", True),
        (",".join(["abc"] * 20), True),
        ("a, b", False),
        ("a,", False),
    ],
    "ReplicaRegions": [
        ("eu-west-1", True),
        ("eu-west-1,us-west-2,ap-southeast-2", True),
        ("eusc-de-east-1", True),
        ("eu-west-1,", False),
    ],
    "ContextClaims": [
        ("custom:tenant_id", True),
        ("email_verified,custom:a", True),
        ("!", True),
        ("~" * 128, True),
        ("~" * 129, False),
        ("a b", False),
        ("a,,b", False),
    ],
    "WebSocketIdentitySource": [
        ("route.request.querystring.token", True),
        ("route.request.header.Authorization", True),
        ("route.request.header." + "x" * 128, True),
        ("route.request.header." + "x" * 129, False),
        ("route.request.cookie.token", False),
        ("route.request.querystring.", False),
    ],
    "ApiRoutes": [
        ("GET /", True),
        ("GET /hello,POST /hello", True),
        ("ANY /{proxy+}", True),
        ("DELETE /items/{id}", True),
        ("get /hello", False),
        ("GET hello", False),
    ],
}


def template_takes(parameter: str, value: str) -> bool:
    try:
        parameter_values(app_source(), {**APP_ALONE, parameter: value})
    except TemplateError:
        return False
    return True


def test_every_constrained_setting_a_function_reads_is_checked_here() -> None:
    checked = {parameter for _, _, parameter in SETTINGS}
    assert checked == {
        "UserPoolId",
        "AppClientIds",
        "TokenUse",
        "ReplicaRegions",
        "ContextClaims",
        "ContextClaimsMaxBytes",
        "LogLevel",
        "ApiType",
        "ApiRoutes",
        "WebSocketIdentitySource",
        "RevocationRefreshSeconds",
        "TenantRefreshSeconds",
        "MaxKeySets",
        "RefreshTokenValidityDays",
    }


@pytest.mark.parametrize(("function", "variable", "parameter"), SETTINGS, ids=str)
def test_what_the_template_takes_the_cold_start_takes_and_at_a_numbers_ends_no_more(
    function: str, variable: str, parameter: str
) -> None:
    spec = app_source()["Parameters"][parameter]
    starts = STARTS[function]
    if "MinValue" in spec or "MaxValue" in spec:
        low, high = int(spec["MinValue"]), int(spec["MaxValue"])
        for number in (low - 1, low, high, high + 1):
            takes = template_takes(parameter, str(number))
            assert takes is (low <= number <= high)
            assert starts(variable, str(number)) is takes, (parameter, number)
    for allowed in spec.get("AllowedValues", []):
        assert starts(variable, str(allowed)), (parameter, allowed)
    if "AllowedPattern" in spec:
        for value, taken in PATTERN_SAMPLES[parameter]:
            assert template_takes(parameter, value) is taken, (parameter, value)
            if taken:
                assert starts(variable, value), (parameter, value)
