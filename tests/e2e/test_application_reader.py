"""The one template reader with applications: nested by a local Location, or attached by ARN."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.exceptions import TemplateError
from local.sam import Attachment, SamTemplate
from local.stack import AUTHORIZER_APPLICATION, LOCAL_AUTHORIZER_ARN
from local.template import load_api
from tests.e2e.stackproc import ROOT

CHILD = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {Type: String, AllowedValues: [hello, hi]}
  Suffix: {Type: String, Default: "!"}
Resources:
  Auth:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      CodeUri: ..
      Handler: authorizer.app.lambda_handler
      Environment: {Variables: {GREETING: !Sub "${Greeting}${Suffix}"}}
Outputs:
  Arn: {Value: !GetAtt Auth.Arn}
"""

PARENT = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting: {{Type: String, Default: hello}}
Resources:
  App:
    Type: AWS::Serverless::Application
    Properties:
      Location: {location}
      Parameters: {{Greeting: !Ref Greeting{extra}}}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Lambda
        Authorizers:
          Lambda:
            FunctionArn: !GetAtt App.Outputs.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {{Headers: [Authorization]}}
  {function}:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      CodeUri: .
      Handler: x.handler
      Events:
        Get: {{Type: HttpApi, Properties: {{ApiId: !Ref Api, Path: /x, Method: GET}}}}
"""


def parent(
    tmp_path: Path,
    *,
    location: str = "child/template.yaml",
    extra: str = "",
    function: str = "Fn",
) -> SamTemplate:
    (tmp_path / "child").mkdir(exist_ok=True)
    (tmp_path / "child" / "template.yaml").write_text(CHILD, encoding="utf-8")
    path = tmp_path / "template.yaml"
    text = PARENT.format(location=location, extra=extra, function=function)
    path.write_text(text, encoding="utf-8")
    return SamTemplate.read(path)


def test_a_nested_applications_function_runs_with_the_values_passed_to_it(tmp_path: Path) -> None:
    model = load_api(parent(tmp_path), {"Greeting": "hi"})
    assert model.authorizers["Lambda"].function == "Auth"
    auth = model.functions["Auth"]
    assert auth.environment == {"GREETING": "hi!"}  # passed, and the child's own default
    assert auth.code_dir == tmp_path.resolve()  # CodeUri .. from child/
    assert set(model.functions) == {"Auth", "Fn"}


def test_a_value_the_nested_template_refuses_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"Greeting='bonjour' is not one of"):
        load_api(parent(tmp_path), {"Greeting": "bonjour"})


def test_a_parameter_the_nested_template_lacks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no such template parameter: Nope"):
        load_api(parent(tmp_path, extra=", Nope: x"), {})


def test_two_functions_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="two functions are named Auth"):
        load_api(parent(tmp_path, function="Auth"), {})


def test_an_uploaded_nested_template_has_nothing_to_run_here(tmp_path: Path) -> None:
    uploaded = "https://s3.amazonaws.com/bucket/child.template"
    with pytest.raises(TemplateError, match="authorizerUri does not name a function"):
        load_api(parent(tmp_path, location=uploaded), {})


def test_an_application_attached_by_arn_runs_its_function_with_its_own_values() -> None:
    attachment = Attachment(
        parameter="AuthorizerArn",
        template=SamTemplate.read(AUTHORIZER_APPLICATION),
        parameters={"UserPoolId": "us-east-1_AbC123", "AppClientIds": "client1"},
        output="AuthorizerArn",
        arn=LOCAL_AUTHORIZER_ARN,
    )
    example = SamTemplate.read(ROOT / "examples" / "http-api.yaml")
    model = load_api(example, {}, (attachment,))
    assert model.parameters["AuthorizerArn"] == LOCAL_AUTHORIZER_ARN
    assert {route.function for route in model.routes} == {"GreeterFunction"}
    assert model.authorizers["CognitoAuthorizer"].function == "AuthorizerFunction"
    env = model.functions["AuthorizerFunction"].environment
    assert (env["USER_POOL_ID"], env["APP_CLIENT_IDS"]) == ("us-east-1_AbC123", "client1")
    # Without the attachment, the ARN names nothing that can run offline.
    arn = {"AuthorizerArn": "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"}
    with pytest.raises(TemplateError, match="authorizerUri does not name a function"):
        load_api(example, arn)
