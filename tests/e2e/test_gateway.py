"""The HTTP API emulator in-process, with stand-in functions: IAM-policy answers, its result cache.

The offline stack's own tests (test_offline_api.py) run real functions behind
real HTTP; these cover what the product's template does not use but an
authorizer may answer: API Gateway's IAM-policy response format (payload 2.0
with simple responses off).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, cast

import pytest
from werkzeug.test import Client

from local.console import Console
from local.exceptions import TemplateError
from local.functions import LambdaFunction
from local.gateway import MAX_CACHE_ENTRIES, AuthorizerCache, Decision, HttpApiEmulator
from local.sam import SamTemplate
from local.template import FunctionSpec, load_api

POLICY_API = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {Runtime: python3.13, CodeUri: ., Handler: x.handler}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Policy
        Authorizers:
          Policy:
            FunctionArn: !GetAtt Auth.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: false
            Identity: {Headers: [Authorization], ReauthorizeEvery: 0}
  Auth:
    Type: AWS::Serverless::Function
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Get: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /items, Method: GET}}
"""
ROUTE_ARN = "arn:aws:execute-api:us-east-1:123456789012:offline/$default/GET/items"


class StandIn:
    """Answers like a function: a fixed result, or raises what it is given."""

    def __init__(self, spec: FunctionSpec, answer: Any) -> None:
        self.spec = spec
        self.name = spec.logical_id
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any], request_id: str, timeout: float) -> Any:
        self.events.append(event)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def serve(
    tmp_path: Path, authorizer_answer: Any, integration_answer: Any = None
) -> tuple[Client, StandIn, io.StringIO]:
    path = tmp_path / "template.yaml"
    path.write_text(POLICY_API, encoding="utf-8")
    model = load_api(SamTemplate.read(path), {})
    assert not model.authorizers["Policy"].simple_responses
    ok = {"statusCode": 200, "body": json.dumps({"reached": "integration"})}
    integration = StandIn(
        model.functions["Fn"], ok if integration_answer is None else integration_answer
    )
    functions = {"Auth": StandIn(model.functions["Auth"], authorizer_answer), "Fn": integration}
    log = io.StringIO()
    app = HttpApiEmulator(model, cast(dict[str, LambdaFunction], functions), Console(log))
    return Client(app), integration, log


def policy(*statements: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "principalId": "caller",
        "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
        **extra,
    }


def statement(
    effect: str, resource: Any = ROUTE_ARN, action: Any = "execute-api:Invoke"
) -> dict[str, Any]:
    return {"Effect": effect, "Action": action, "Resource": resource}


def get_items(client: Client) -> tuple[int, Any]:
    response = client.get("/items", headers={"Authorization": "token"})
    return response.status_code, json.loads(response.get_data(as_text=True) or "null")


def test_an_allow_on_the_route_reaches_the_integration_with_the_context(tmp_path: Path) -> None:
    answer = policy(statement("Allow"), context={"who": "caller"})
    client, integration, _ = serve(tmp_path, answer)
    response = client.get("/items", headers={"Authorization": "token"})
    assert response.status_code == 200
    assert integration.events[0]["requestContext"]["authorizer"] == {"lambda": {"who": "caller"}}


@pytest.mark.parametrize(
    ("answer", "status"),
    [
        (policy(statement("Allow", resource="arn:aws:execute-api:*:*:*/*/GET/*")), 200),
        (policy(statement("Allow", action="execute-api:*")), 200),
        (policy(statement("Allow", resource=[ROUTE_ARN]), statement("Allow", resource="x")), 200),
        # a single statement may be an object rather than a list
        ({"principalId": "caller", "policyDocument": {"Statement": statement("Allow")}}, 200),
        # an explicit Deny wins over any Allow
        (policy(statement("Allow"), statement("Deny")), 403),
        # no Allow that covers this route and action
        (policy(statement("Allow", resource=ROUTE_ARN.replace("GET", "POST"))), 403),
        (policy(statement("Allow", action="s3:GetObject")), 403),
        (policy(), 403),
    ],
)
def test_iam_policy_answers_as_api_gateway_reads_them(
    tmp_path: Path, answer: dict[str, Any], status: int
) -> None:
    client, integration, _ = serve(tmp_path, answer)
    code, body = get_items(client)
    assert code == status
    if status == 200:
        assert body == {"reached": "integration"}
    else:
        assert body == {"message": "Forbidden"}
        assert integration.events == []


@pytest.mark.parametrize(
    "answer",
    [
        {"policyDocument": {"Statement": [statement("Allow")]}},  # no principalId
        {"principalId": "caller", "policyDocument": "allow"},
        {"principalId": "caller", "policyDocument": {"Statement": "Allow"}},
        {"principalId": "caller", "policyDocument": {"Statement": ["Allow"]}},
        policy(statement("Allow"), context="not an object"),
        "allow",
    ],
)
def test_a_malformed_policy_answer_is_a_500(tmp_path: Path, answer: Any) -> None:
    client, integration, log = serve(tmp_path, answer)
    assert get_items(client) == (500, {"message": "Internal Server Error"})
    assert integration.events == []
    assert "gave a malformed response" in log.getvalue()


def test_a_bug_in_the_emulator_still_answers_like_api_gateway(tmp_path: Path) -> None:
    client, _, log = serve(tmp_path, policy(statement("Allow")), RuntimeError("emulator bug"))
    assert get_items(client) == (500, {"message": "Internal Server Error"})
    assert "emulator error: RuntimeError: emulator bug" in log.getvalue()


def test_a_named_stage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(
        POLICY_API.replace(
            "    Properties:\n      Auth:", "    Properties:\n      StageName: prod\n      Auth:"
        ),
        encoding="utf-8",
    )
    with pytest.raises(
        TemplateError, match=r"only the \$default stage is served offline, not 'prod'"
    ):
        load_api(SamTemplate.read(path), {})


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_result_cache_keeps_an_answer_for_its_ttl_only() -> None:
    clock = Clock()
    cache = AuthorizerCache(clock)
    key = ("Policy", ("token",))
    cache.put(key, Decision("allow", {"who": "caller"}), ttl=2)
    clock.now += 1.9
    assert cache.get(key) == Decision("allow", {"who": "caller"})
    clock.now += 0.1
    assert cache.get(key) is None


def test_the_result_cache_is_bounded_oldest_first() -> None:
    cache = AuthorizerCache(Clock())
    for n in range(MAX_CACHE_ENTRIES + 1):
        cache.put(("Policy", (str(n),)), Decision("deny"), ttl=60)
    assert cache.get(("Policy", ("0",))) is None
    assert cache.get(("Policy", ("1",))) == Decision("deny")
    assert cache.get(("Policy", (str(MAX_CACHE_ENTRIES),))) == Decision("deny")
