"""Reading a SAM template into routes and functions, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.console import Console
from local.exceptions import TemplateError, Unresolvable
from local.gateway import HttpApiEmulator
from local.sam import SamTemplate
from local.template import load_api
from tests.e2e.stackproc import ROOT

ROUTING = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  UserPoolId: {Type: String, Default: ""}
Conditions:
  CreatePool: !Equals [!Ref UserPoolId, ""]
Globals:
  Function: {Runtime: python3.13, CodeUri: ., Handler: x.handler}
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
    Condition: CreatePool
  Api:
    Type: AWS::Serverless::HttpApi
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          POOL: !If [CreatePool, !Ref Pool, !Ref UserPoolId]
          JOINED: !Join ["-", [!Ref "AWS::Region", !Sub "${UserPoolId}x"]]
      Events:
        Literal: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /items/special, Method: GET}}
        Param: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/items/{id}", Method: GET}}
        Any: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/items/{id}", Method: ANY}}
        Greedy: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/files/{path+}", Method: GET}}
        Default: {Type: HttpApi, Properties: {ApiId: !Ref Api}}
"""


@pytest.fixture
def routing_template(tmp_path: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(ROUTING, encoding="utf-8")
    return path


def test_routes_prefer_literal_then_method_then_param_then_default(routing_template: Path) -> None:
    model = load_api(SamTemplate.read(routing_template), {"UserPoolId": "us-east-1_abc"})
    api = HttpApiEmulator(model, {}, Console())

    def route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
        found = api.find_route(method, path)
        return None if found is None else (found[0].route_key, found[1])

    assert route("GET", "/items/special") == ("GET /items/special", {})
    assert route("GET", "/items/42") == ("GET /items/{id}", {"id": "42"})
    assert route("DELETE", "/items/42") == ("ANY /items/{id}", {"id": "42"})
    assert route("GET", "/files/a/b.txt") == ("GET /files/{path+}", {"path": "a/b.txt"})
    assert route("POST", "/elsewhere") == ("$default", {})
    assert model.functions["Fn"].environment == {
        "POOL": "us-east-1_abc",
        "JOINED": "us-east-1-us-east-1_abcx",
    }


def test_a_value_that_exists_only_once_deployed_fails_clearly(routing_template: Path) -> None:
    with pytest.raises(Unresolvable, match=r"Fn\.Environment\.POOL: !Ref Pool"):
        load_api(SamTemplate.read(routing_template), {})


def test_parameters_are_checked_as_cloudformation_would() -> None:
    with pytest.raises(TemplateError, match="TokenUse"):
        load_api(
            SamTemplate.read(ROOT / "template.yaml"),
            {"UserPoolId": "us-east-1_a", "TokenUse": "both"},
        )
    with pytest.raises(TemplateError, match="no such template parameter: Nope"):
        load_api(SamTemplate.read(ROOT / "template.yaml"), {"Nope": "1"})


def test_the_real_template_reads_as_the_contract_says() -> None:
    model = load_api(
        SamTemplate.read(ROOT / "template.yaml"),
        {
            "UserPoolId": "us-east-1_AbC123",
            "AppClientIds": "client1",
            "AuthorizerCacheTtlSeconds": "7",
        },
    )
    assert {route.route_key for route in model.routes} >= {"POST /hello", "GET /hello"}
    assert all(route.authorizer == "CognitoAuthorizer" for route in model.routes)
    authorizer = model.authorizers["CognitoAuthorizer"]
    assert authorizer.function == "AuthorizerFunction"
    assert authorizer.identity_source == ("$request.header.Authorization", "$context.routeKey")
    assert authorizer.ttl_seconds == 7
    assert authorizer.simple_responses
    env = model.functions["AuthorizerFunction"].environment
    assert (env["USER_POOL_ID"], env["APP_CLIENT_IDS"]) == ("us-east-1_AbC123", "client1")
    assert "USER_POOL_ID" not in model.functions["GreeterFunction"].environment


PAYLOAD_V1 = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {{Runtime: python3.13, CodeUri: ., Handler: x.handler}}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Lambda
        Authorizers:
          Lambda:
            FunctionArn: !GetAtt Auth.Arn
            AuthorizerPayloadFormatVersion: "{authorizer}"
            EnableSimpleResponses: {simple}
            Identity: {{Headers: [Authorization]}}
  Auth:
    Type: AWS::Serverless::Function
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get:
          Type: HttpApi
          Properties: {{ApiId: !Ref Api, Path: /x, Method: GET, PayloadFormatVersion: "{route}"}}
"""


@pytest.mark.parametrize(
    ("authorizer", "route", "message"),
    [
        ("1.0", "2.0", r"authorizer Lambda: only payload format 2\.0 is emulated, not 1\.0"),
        ("2.0", "1.0", r"route GET /x: only payload format 2\.0 is emulated, not 1\.0"),
    ],
)
def test_only_payload_format_2_is_emulated(
    tmp_path: Path, authorizer: str, route: str, message: str
) -> None:
    path = tmp_path / "template.yaml"
    simple = "true" if authorizer == "2.0" else "false"
    path.write_text(
        PAYLOAD_V1.format(authorizer=authorizer, route=route, simple=simple), encoding="utf-8"
    )
    with pytest.raises(TemplateError, match=message):
        load_api(SamTemplate.read(path), {})
