"""The authorizer application (authorizer/template.yaml): alone, nested by the demo, attached
by ARN from examples/, and ready for the Serverless Application Repository.

- One definition: the demo templates define no authorizer resource of their own;
  every one they deploy is the application's.
- Invoke permissions: each is scoped to one API (to its authorizers, for the
  authorizer); none has a wildcard principal or source.
- The examples transform, lint and name the authorizer by ARN as API Gateway needs.
- SAR: the metadata `sam publish` reads, a licence, and `make package`.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.cfn import ResourceRef
from local.sam import SamTemplate
from tests.deploy.samtemplate import (
    APP_TEMPLATE,
    ROOT,
    TEMPLATE,
    DeployModel,
    load_app_template,
    offline_aws_env,
    run_tool,
)
from tests.deploy.scan import APP_ALONE, OPERATIONS_ON

BIN = Path(sys.executable).parent
REST_TEMPLATE = ROOT / "template-rest.yaml"
WEBSOCKET_TEMPLATE = ROOT / "template-websocket.yaml"
EXAMPLES = {
    "http": ROOT / "examples" / "http-api.yaml",
    "rest": ROOT / "examples" / "rest-api.yaml",
    "websocket": ROOT / "examples" / "websocket-api.yaml",
}
AUTHORIZER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cognito-jwt-authorizer-fn:live"
FIVE_APIS = "a1b2c3d4e5,f6g7h8i9j0,k1l2m3n4o5,p6q7r8s9t0,u1v2w3x4y5"
SIGN_OUT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:cognito-jwt-authorizer-signout"
REVOCATION = {
    "AuthorizerArn": AUTHORIZER_ARN,
    "Revocation": "true",
    "SignOutFunctionArn": SIGN_OUT_ARN,
}


def deploy(template: Path, parameters: dict[str, str]) -> DeployModel:
    return DeployModel(SamTemplate.read(template).transform(parameters).template, parameters)


def app(parameters: dict[str, str] | None = None) -> DeployModel:
    return deploy(APP_TEMPLATE, {**APP_ALONE, **(parameters or {})})


# --- one definition ------------------------------------------------------------------


AUTHORIZER_TYPES = {
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::IAM::Role",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::SNS::Topic",
}


@pytest.mark.parametrize(
    ("template", "own"),
    [
        # what the demos still define themselves: the API's and the greeter's
        (TEMPLATE, {"ApiAccessLogGroup", "GreeterFunction", "GreeterLogGroup",
                    "GreeterFunctionRole", "ApiDashboard"}),
        (REST_TEMPLATE, {"GreeterFunction", "GreeterLogGroup", "GreeterFunctionRole"}),
        (WEBSOCKET_TEMPLATE, {"ApiAccessLogGroup", "GreeterFunction", "GreeterLogGroup",
                              "GreeterFunctionRole"}),
    ],
    ids=["http", "rest", "websocket"],
)  # fmt: skip
def test_the_demos_authorizer_resources_come_from_the_one_definition(
    template: Path, own: set[str]
) -> None:
    source = SamTemplate.read(template).source["Resources"]
    (application,) = [
        name for name, r in source.items() if r["Type"] == "AWS::Serverless::Application"
    ]
    assert source[application]["Properties"]["Location"] == "authorizer/template.yaml"
    assert {name for name, r in source.items() if r["Type"] in AUTHORIZER_TYPES} == own
    assert "authorizer.app" not in template.read_text()
    # Deployed, the authorizer's resources are exactly the application's, as it defines them.
    model = deploy(template, {"UserPoolId": "us-east-1_AbC123xyz", "AppClientIds": "abc"})
    nested = model.nested[application].template["Resources"]
    for logical_id, resource in nested.items():
        assert model.resource(logical_id) is resource
    authorizer = model.properties("AuthorizerFunction")
    assert authorizer["Handler"] == "authorizer.app.lambda_handler"
    assert authorizer["Environment"]["Variables"]["USER_POOL_ID"] == "us-east-1_AbC123xyz"


# What a demo does not pass to the application, and why: the API's id would be a
# cycle (the API needs the application's output first), the HTTP demo's API type
# is the default, the REST demo keeps the operations extras off, and the
# WebSocket settings are the WebSocket demo's.
WEBSOCKET_ONLY = {"WebSocketIdentitySource", "WebSocketApi"}
NOT_PASSED = {
    TEMPLATE: {"ApiType", "ApiRoutes", "InvokingApis", *WEBSOCKET_ONLY},
    REST_TEMPLATE: {
        "InvokingApis", "SnapStart", "AuthorizerVersionDigest", "Tracing", "AlarmEmail",
        "DenySpikeThreshold", *WEBSOCKET_ONLY,
    },
    WEBSOCKET_TEMPLATE: {
        "ApiRoutes", "InvokingApis", "SnapStart", "AuthorizerVersionDigest", "Tracing",
        "AlarmEmail", "DenySpikeThreshold", "TenantRegistry", "TenantRefreshSeconds", "MaxKeySets",
    },
}  # fmt: skip


@pytest.mark.parametrize(
    "template", [TEMPLATE, REST_TEMPLATE, WEBSOCKET_TEMPLATE], ids=["http", "rest", "websocket"]
)
def test_a_demo_passes_each_setting_on_as_the_application_declares_it(template: Path) -> None:
    """A parameter added to the application reaches the demos, with the same constraints."""
    source = SamTemplate.read(template).source
    declared = source["Parameters"]
    app_parameters = load_app_template()["Parameters"]
    passed = source["Resources"]["Authorizer"]["Properties"]["Parameters"]
    assert set(passed) == set(app_parameters) - NOT_PASSED[template]
    for name in set(passed) & set(declared):
        ours = {k: v for k, v in declared[name].items() if k != "Description"}
        theirs = {k: v for k, v in app_parameters[name].items() if k != "Description"}
        if (template, name) != (REST_TEMPLATE, "ApiRoutes"):  # the demo's own routes
            assert ours == theirs, name


def test_no_other_deployable_template_defines_an_authorizer() -> None:
    templates = [TEMPLATE, REST_TEMPLATE, WEBSOCKET_TEMPLATE, *EXAMPLES.values()]
    for template in templates:
        handlers = [
            resource["Properties"].get("Handler")
            for resource in SamTemplate.read(template).source["Resources"].values()
            if resource["Type"] == "AWS::Serverless::Function"
        ]
        assert "authorizer.app.lambda_handler" not in handlers, template
    resources = load_app_template()["Resources"]
    assert resources["AuthorizerFunction"]["Properties"]["Handler"] == (
        "authorizer.app.lambda_handler"
    )


# --- invoke permissions --------------------------------------------------------------

API_ARN = re.compile(
    r"^arn:aws:execute-api:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:(?P<api><\w+>|[a-z0-9]{10})/(?P<rest>.+)$"
)
ROUTE = re.compile(
    r"^[^/]+/(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY)/[^*]*$"  # stage/METHOD/path
    r"|^[^/*]+/[^/*]+$"  # a WebSocket API's stage/route key
)


def permission_problems(props: dict[str, Any], *, authorizer: bool) -> list[str]:
    """What makes an invoke permission broader than one API (than its authorizers, for
    the authorizer's)."""
    problems = []
    if props.get("Principal") != "apigateway.amazonaws.com":
        problems.append(f"principal {props.get('Principal')!r}")
    source = props.get("SourceArn")
    if not isinstance(source, str):
        return [*problems, f"no source ARN ({source!r})"]
    found = API_ARN.match(source)
    if found is None:
        return [*problems, f"source {source!r} names no one API of this account and region"]
    if authorizer and found["rest"] != "authorizers/*":
        problems.append(f"source {source!r} is not that API's authorizers")
    if not authorizer and found["rest"] != "authorizers/*" and not ROUTE.match(found["rest"]):
        problems.append(f"source {source!r} is not one route of that API")
    return problems


def is_authorizer(function: Any) -> bool:
    if isinstance(function, ResourceRef):
        return function.logical_id in ("AuthorizerFunction", "AuthorizerFunctionAliaslive")
    return bool(function == AUTHORIZER_ARN)


DEPLOYS = {
    "demo": (TEMPLATE, {}),
    "demo-snapstart": (TEMPLATE, dict(OPERATIONS_ON)),
    "rest-demo": (REST_TEMPLATE, {}),
    "application": (APP_TEMPLATE, {**APP_ALONE, "InvokingApis": FIVE_APIS}),
    "application-snapstart": (
        APP_TEMPLATE,
        {**APP_ALONE, "InvokingApis": FIVE_APIS, "SnapStart": "true"},
    ),
    "example-http": (EXAMPLES["http"], {"AuthorizerArn": AUTHORIZER_ARN}),
    "example-rest": (EXAMPLES["rest"], {"AuthorizerArn": AUTHORIZER_ARN}),
    "example-http-revocation": (EXAMPLES["http"], REVOCATION),
    "example-rest-revocation": (EXAMPLES["rest"], REVOCATION),
    "example-websocket": (EXAMPLES["websocket"], {"AuthorizerArn": AUTHORIZER_ARN}),
    "websocket-demo": (
        WEBSOCKET_TEMPLATE,
        {"UserPoolId": "us-east-1_AbC123xyz", "AppClientIds": "abc", "Revocation": "true"},
    ),
}


@pytest.mark.parametrize("name", sorted(DEPLOYS))
def test_every_invoke_permission_is_scoped_to_one_api(name: str) -> None:
    template, parameters = DEPLOYS[name]
    model = deploy(template, parameters)
    permissions = [model.properties(p) for p in model.resources("AWS::Lambda::Permission")]
    authorizers = [p for p in permissions if is_authorizer(p["FunctionName"])]
    assert authorizers, "the authorizer is invoked by no API"
    problems = {
        str(props["FunctionName"]): found
        for props in permissions
        if (found := permission_problems(props, authorizer=is_authorizer(props["FunctionName"])))
    }
    assert problems == {}


GATEWAY = "apigateway.amazonaws.com"
OURS = "arn:aws:execute-api:us-east-1:123456789012"


@pytest.mark.parametrize(
    ("props", "problem"),
    [
        ({"Principal": "*", "SourceArn": f"{OURS}:a1b2c3d4e5/authorizers/*"}, "principal"),
        ({"Principal": GATEWAY}, "no source ARN"),
        ({"Principal": GATEWAY, "SourceArn": f"{OURS}:*/authorizers/*"}, "names no one API"),
        (
            {"Principal": GATEWAY, "SourceArn": "arn:aws:execute-api:*:123456789012:a1b2c3d4e5/*"},
            "names no one API",
        ),
        ({"Principal": GATEWAY, "SourceArn": f"{OURS}:a1b2c3d4e5/*"}, "not that API's authorizers"),
        (
            {"Principal": GATEWAY, "SourceArn": f"{OURS}:a1b2c3d4e5/*/*"},
            "not that API's authorizers",
        ),
    ],
)
def test_the_scope_check_refuses_a_broader_permission(props: dict[str, Any], problem: str) -> None:
    assert any(problem in found for found in permission_problems(props, authorizer=True))


def test_each_invoking_api_gets_its_own_permission_on_what_it_invokes() -> None:
    for snapstart, target in (
        ("false", ResourceRef("AuthorizerFunction", "Arn")),
        ("true", ResourceRef("AuthorizerFunctionAliaslive")),
    ):
        model = app({"InvokingApis": FIVE_APIS, "SnapStart": snapstart})
        granted = {
            model.properties(p)["SourceArn"]: model.properties(p)
            for p in model.resources("AWS::Lambda::Permission")
        }
        assert sorted(granted) == sorted(
            f"arn:aws:execute-api:us-east-1:123456789012:{api}/authorizers/*"
            for api in FIVE_APIS.split(",")
        )
        for props in granted.values():
            assert props["FunctionName"] == target
            assert props["SourceAccount"] == "123456789012"
            assert props["Action"] == "lambda:InvokeFunction"
        assert model.outputs()["AuthorizerArn"] == target
    assert app({"InvokingApis": ""}).resources("AWS::Lambda::Permission") == {}
    elsewhere = "arn:aws:execute-api:eu-west-1:111122223333:z9y8x7w6v5"
    model = app({"InvokingApis": f"a1b2c3d4e5,{elsewhere}"})
    sources = [model.properties(p) for p in model.resources("AWS::Lambda::Permission")]
    assert sorted((p["SourceArn"], p["SourceAccount"]) for p in sources) == [
        ("arn:aws:execute-api:eu-west-1:111122223333:z9y8x7w6v5/authorizers/*", "111122223333"),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/authorizers/*", "123456789012"),
    ]
    assert len(app({"InvokingApis": "a1b2c3d4e5"}).resources("AWS::Lambda::Permission")) == 1


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a1b2c3d4e5", True),
        (FIVE_APIS, True),
        (FIVE_APIS + ",z1z2z3z4z5", False),  # a sixth has no permission slot
        ("*", False),
        ("a1b2c3d4e5,*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5", True),
        ("a1b2c3d4e5,arn:aws-cn:execute-api:cn-north-1:123456789012:a1b2c3d4e5", True),
        ("arn:aws:execute-api:us-east-1:123456789012:*", False),
        ("arn:aws:execute-api:*:123456789012:a1b2c3d4e5", False),
        ("arn:aws:execute-api:us-east-1:*:a1b2c3d4e5", False),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/*", False),
        ("arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/authorizers/*", False),
    ],
)
def test_invoking_apis_take_api_ids_or_api_arns_and_no_wildcard(value: str, ok: bool) -> None:
    pattern = load_app_template()["Parameters"]["InvokingApis"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is ok


# --- the application alone -----------------------------------------------------------


def test_alone_it_needs_a_pool_and_a_rest_api_needs_its_routes() -> None:
    assert app().rule_failures() == []
    assert app({"UserPoolId": "", "AppClientIds": ""}).rule_failures() == [
        "OnePoolOrUserPools: Give UserPoolId and AppClientIds, or UserPools."
    ]
    pools = '[{"userPoolId": "us-east-1_A", "appClientIds": ["a"]}]'
    assert app({"UserPoolId": "", "AppClientIds": "", "UserPools": pools}).rule_failures() == []
    assert app({"ApiType": "rest"}).rule_failures() == [
        "RestApisNameTheirRoutes: ApiType rest needs ApiRoutes, every method of the REST API."
    ]
    assert app({"ApiRoutes": "GET /hello"}).rule_failures() == [
        "HttpApisTakeNoRoutes: ApiRoutes is for ApiType rest only."
    ]


def test_the_api_type_reaches_the_authorizer_only_for_a_rest_api() -> None:
    http = app().properties("AuthorizerFunction")["Environment"]["Variables"]
    assert "API_TYPE" not in http
    assert "API_ROUTES" not in http
    rest = app({"ApiType": "rest", "ApiRoutes": "GET /hello,POST /hello"})
    variables = rest.properties("AuthorizerFunction")["Environment"]["Variables"]
    assert (variables["API_TYPE"], variables["API_ROUTES"]) == ("rest", "GET /hello,POST /hello")


def test_names_follow_the_prefix_else_the_stack() -> None:
    def names(model: DeployModel) -> tuple[str, str]:
        return (
            model.properties("AuthorizerLogGroup")["LogGroupName"],
            model.properties("OperationsDashboard")["DashboardName"],
        )

    assert names(app()) == ("/aws/lambda/hello-stack-authorizer", "hello-stack-operations")
    assert names(app({"NamePrefix": "team-a"})) == (
        "/aws/lambda/team-a-authorizer",
        "team-a-operations",
    )
    # nested by the demo: the demo's own stack name
    demo = deploy(TEMPLATE, {})
    assert names(demo) == ("/aws/lambda/hello-stack-authorizer", "hello-stack-operations")


def test_outputs_give_a_consumer_what_it_needs() -> None:
    outputs = app().outputs()
    assert outputs["AuthorizerArn"] == ResourceRef("AuthorizerFunction", "Arn")
    assert outputs["AuthorizerUri"] == (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "<AuthorizerFunction.Arn>/invocations"
    )
    assert outputs["AuthorizerFunctionName"] == ResourceRef("AuthorizerFunction")
    assert outputs["AuthorizerLogGroupName"] == ResourceRef("AuthorizerLogGroup")


# --- the examples ------------------------------------------------------------------


def example_authorizer(template: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one authorizer's security scheme, and the Lambda ARN its URI names."""
    [api] = [
        r["Properties"]["Body"]
        for r in template["Resources"].values()
        if r["Type"] in ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")
    ]
    schemes = api.get("components", {}).get("securitySchemes") or api["securityDefinitions"]
    (scheme,) = schemes.values()
    settings = scheme["x-amazon-apigateway-authorizer"]
    return scheme, settings


def test_the_http_example_attaches_a_request_authorizer_by_arn() -> None:
    model = deploy(EXAMPLES["http"], {"AuthorizerArn": AUTHORIZER_ARN})
    _, settings = example_authorizer(dict(model.template))
    resolved = model.resolve(settings)
    assert resolved["type"] == "request"
    assert resolved["authorizerPayloadFormatVersion"] == "2.0"
    assert resolved["enableSimpleResponses"] is True
    assert resolved["identitySource"] == ["$request.header.Authorization", "$context.routeKey"]
    assert resolved["authorizerResultTtlInSeconds"] == "300"
    assert resolved["authorizerUri"] == (
        f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{AUTHORIZER_ARN}/invocations"
    )


def test_the_rest_example_attaches_a_token_authorizer_by_arn() -> None:
    model = deploy(EXAMPLES["rest"], {"AuthorizerArn": AUTHORIZER_ARN})
    scheme, settings = example_authorizer(dict(model.template))
    resolved = model.resolve(settings)
    assert resolved["type"] == "token"
    assert scheme["name"] == "Authorization"
    assert resolved["authorizerResultTtlInSeconds"] == "300"
    assert AUTHORIZER_ARN in resolved["authorizerUri"]


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_an_example_refuses_what_is_not_a_lambda_arn(name: str) -> None:
    pattern = SamTemplate.read(EXAMPLES[name]).source["Parameters"]["AuthorizerArn"]
    for value, ok in (
        (AUTHORIZER_ARN, True),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn", True),
        ("arn:aws:lambda:us-east-1:123456789012:function:*", False),
        ("", False),
    ):
        assert bool(re.fullmatch(pattern["AllowedPattern"], value)) is ok, value


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_the_examples_pass_cfn_lint_and_sam_validate(name: str, tmp_path: Path) -> None:
    env = offline_aws_env(tmp_path)
    for args in (
        [str(BIN / "cfn-lint"), str(EXAMPLES[name])],
        [str(BIN / "sam"), "validate", "--lint", "--template-file", str(EXAMPLES[name])],
    ):
        result = run_tool(args, env)
        assert result.returncode == 0, result.stdout + result.stderr


# --- the Serverless Application Repository ------------------------------------------------


def sar_metadata() -> dict[str, Any]:
    metadata: dict[str, Any] = load_app_template()["Metadata"]["AWS::ServerlessRepo::Application"]
    return metadata


# The Serverless Application Repository's rules for each field of the metadata
# (AWS SAM Developer Guide, "AWS SAM template Metadata section properties":
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-template-publishing-applications-metadata-properties.html,
# the same as the CreateApplication API's). A publish with any field outside its
# rule is refused by SAR, after the package was uploaded.
SAR_MAX_FILE_BYTES = 5 * 1024 * 1024  # LicenseUrl, ReadmeUrl: "Maximum size 5 MB"
# https://semver.org/#is-there-a-suggested-regular-expression-regex-to-check-a-semver-string
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)


def sar_problems(metadata: dict[str, Any], base_dir: Path) -> list[str]:
    """Every field of the metadata SAR's documented rules refuse; [] when it publishes."""
    from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

    problems = []

    def check(field: str, ok: bool) -> None:
        if not ok:
            problems.append(field)

    for required in ("Name", "Description", "Author"):
        check(required, isinstance(metadata.get(required), str))
    name, author = str(metadata.get("Name", "")), str(metadata.get("Author", ""))
    check("Name", 1 <= len(name) <= 140 and re.fullmatch(r"[a-zA-Z0-9\-]+", name) is not None)
    check("Description", 1 <= len(str(metadata.get("Description", ""))) <= 256)
    check(
        "Author",
        1 <= len(author) <= 127
        and re.fullmatch(r"^[a-z0-9](([a-z0-9]|-(?!-))*[a-z0-9])?$", author) is not None,
    )
    labels = metadata.get("Labels", [])
    check("Labels", isinstance(labels, list) and len(labels) <= 10)
    for label in labels if isinstance(labels, list) else []:
        check(
            f"Labels: {label!r}",
            isinstance(label, str)
            and 1 <= len(label) <= 127
            and re.fullmatch(r"^[a-zA-Z0-9+\-_:\/@]+$", label) is not None,
        )
    if "SpdxLicenseId" in metadata:  # one identifier of the SPDX License List
        spdx = str(metadata["SpdxLicenseId"])
        try:
            check(
                "SpdxLicenseId", canonicalize_license_expression(spdx) == spdx and " " not in spdx
            )
        except InvalidLicenseExpression:
            check("SpdxLicenseId", False)
    if "SemanticVersion" in metadata:
        check("SemanticVersion", SEMVER.fullmatch(str(metadata["SemanticVersion"])) is not None)
    for url in ("HomePageUrl", "SourceCodeUrl"):
        if url in metadata:
            check(url, str(metadata[url]).startswith("https://"))
    for local_file in ("LicenseUrl", "ReadmeUrl"):  # local until sam package uploads them
        if local_file in metadata:
            path = base_dir / str(metadata[local_file])
            check(local_file, path.is_file() and path.stat().st_size <= SAR_MAX_FILE_BYTES)
    return problems


def test_the_metadata_passes_every_rule_sar_documents() -> None:
    assert sar_problems(sar_metadata(), APP_TEMPLATE.parent) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Author", "cognito-lambda-authorizer maintainers"),  # a space
        ("Author", "Maintainers"),  # upper case
        ("Author", "two--hyphens"),
        ("Author", "-leading"),
        ("Author", "x" * 128),
        ("Name", "with space"),
        ("Name", "x" * 141),
        ("Description", "x" * 257),
        ("Description", ""),
        ("Labels", [f"label{n}" for n in range(11)]),
        ("Labels", ["api gateway"]),
        ("SpdxLicenseId", "MIT-Zero"),
        ("SpdxLicenseId", "MIT OR Apache-2.0"),
        ("SemanticVersion", "1.0"),
        ("HomePageUrl", "http://example.com"),
        ("ReadmeUrl", "../no-such-file.md"),
    ],
)
def test_the_rules_refuse_what_sar_refuses(field: str, value: Any) -> None:
    metadata = {**sar_metadata(), field: value}
    assert [p for p in sar_problems(metadata, APP_TEMPLATE.parent) if p.startswith(field)]


def test_a_readme_or_licence_over_5_mb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_bytes(b"x" * (SAR_MAX_FILE_BYTES + 1))
    (tmp_path / "LICENSE").write_bytes(b"x" * SAR_MAX_FILE_BYTES)
    metadata = {**sar_metadata(), "ReadmeUrl": "README.md", "LicenseUrl": "LICENSE"}
    assert sar_problems(metadata, tmp_path) == ["ReadmeUrl"]


def test_the_application_carries_the_metadata_sam_publish_reads() -> None:
    metadata = sar_metadata()
    required = {
        "Name", "Description", "Author", "SpdxLicenseId", "LicenseUrl", "ReadmeUrl",
        "Labels", "HomePageUrl", "SemanticVersion", "SourceCodeUrl",
    }  # fmt: skip
    assert required <= set(metadata)
    # The licence and readme are the repository's own files (sam package uploads them); the
    # readme is the page about the application (its parameters, outputs, how to attach it),
    # not the demo's front door.
    assert (APP_TEMPLATE.parent / metadata["LicenseUrl"]).resolve() == ROOT / "LICENSE"
    assert (APP_TEMPLATE.parent / metadata["ReadmeUrl"]).resolve() == ROOT / "docs" / "your-api.md"
    # The licence file is the one the metadata names.
    assert metadata["SpdxLicenseId"] == "MIT-0"
    assert (ROOT / "LICENSE").read_text().startswith("MIT No Attribution\n")
    # One version for the project and the application.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert metadata["SemanticVersion"] == project["version"]


# The Serverless Application Repository deploys only listed resource types; these
# are the ones of that list an authorizer application may use:
# https://docs.aws.amazon.com/serverlessrepo/latest/devguide/list-supported-resources.html
SAR_SUPPORTED = {
    "AWS::Serverless::Function",
    "AWS::Lambda::Function",
    "AWS::Lambda::Alias",
    "AWS::Lambda::Version",
    "AWS::Lambda::Permission",
    "AWS::IAM::Role",
    "AWS::Logs::LogGroup",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::DynamoDB::Table",
    "AWS::Serverless::SimpleTable",
}


def test_every_resource_of_the_application_is_one_sar_deploys() -> None:
    source = {r["Type"] for r in load_app_template()["Resources"].values()}
    deployed = {r["Type"] for r in app(dict(OPERATIONS_ON)).resources().values()}
    assert source | deployed <= SAR_SUPPORTED


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """An S3 look-alike on loopback (moto), with one bucket, for `sam package` to upload to."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="offline",
            aws_secret_access_key="offline",
        ).create_bucket(Bucket="sar-artifacts")
        yield url
    finally:
        server.stop()


def test_make_package_produces_what_sam_publish_takes(s3_endpoint: str, tmp_path: Path) -> None:
    """`make package` against a local S3; then SAR's publish request, stubbed at the API."""
    import boto3
    from botocore.stub import Stubber
    from samcli.vendor.serverlessrepo import publish_application

    env = {
        **offline_aws_env(tmp_path),
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
    }
    result = run_tool(
        [
            "make",
            "--no-print-directory",
            "package",
            "PACKAGE_BUCKET=sar-artifacts",
            f"PACKAGE_DIR={tmp_path / 'package'}",
        ],
        env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    packaged = (tmp_path / "package" / "packaged-authorizer.yaml").read_text()
    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse(packaged)
    code = template["Resources"]["AuthorizerFunction"]["Properties"]["CodeUri"]
    assert code.startswith("s3://sar-artifacts/cognito-jwt-lambda-authorizer/")
    metadata = template["Metadata"]["AWS::ServerlessRepo::Application"]
    for url in ("LicenseUrl", "ReadmeUrl"):
        assert metadata[url].startswith("s3://sar-artifacts/"), metadata[url]

    client = boto3.client(
        "serverlessrepo",
        region_name="us-east-1",
        aws_access_key_id="offline",
        aws_secret_access_key="offline",
    )
    application_id = "arn:aws:serverlessrepo:us-east-1:123456789012:applications/x"
    with Stubber(client) as stubbed:
        # The stub checks the request against the API's own model, as SAR would.
        stubbed.add_response("create_application", {"ApplicationId": application_id})
        published = publish_application(packaged, sar_client=client)
        stubbed.assert_no_pending_responses()
    assert published["application_id"] == application_id
