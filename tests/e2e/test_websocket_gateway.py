"""The offline WebSocket API's edges, with a real client and functions that answer on cue.

The API is read from template-websocket.yaml as ``make run`` reads it; its
functions are stand-ins, so each of API Gateway's answers can be provoked: an
authorizer error or an unreadable answer is a 500 before the upgrade, a
``raise Exception("Unauthorized")`` a 401, a deny a 403, a ``$connect``
integration's non-2xx refuses the connection with its status, and what no
route takes is answered ``Forbidden`` on the socket.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from local.console import Console
from local.exceptions import FunctionRaised, FunctionTimeout
from local.sam import SamTemplate
from local.template import load_api
from local.websocket import WebSocketGateway, WebSocketModel
from tests.e2e.stackproc import ROOT

POOL = {"UserPoolId": "us-east-1_AbC123xyz", "AppClientIds": "abc"}
CONNECT_ARN = "arn:aws:execute-api:us-east-1:123456789012:offline0ws/prod/$connect"


@dataclass
class Spec:
    timeout_seconds: int = 3


@dataclass
class Stand:
    """A function that answers what ``answer`` says, and remembers each event."""

    name: str
    answer: Callable[[dict[str, Any]], Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    spec: Spec = field(default_factory=Spec)

    def invoke(self, event: dict[str, Any], request_id: str, timeout: float) -> Any:
        self.events.append(event)
        return self.answer(event)


def statement(effect: str, resource: str) -> dict[str, Any]:
    return {"Effect": effect, "Action": "execute-api:Invoke", "Resource": resource}


def allow(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "principalId": "user-1",
        "policyDocument": {"Statement": [statement("Allow", event["methodArn"])]},
        "context": {"sub": "user-1", "n": 1, "ok": True},
    }


def answered(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda event: {**allow(event), **changes}


def policy_of(effect: str, resource: str | None = None) -> Callable[[dict[str, Any]], Any]:
    return lambda event: {
        **allow(event),
        "policyDocument": {"Statement": [statement(effect, resource or event["methodArn"])]},
    }


def raises(error: Exception) -> Callable[[dict[str, Any]], Any]:
    def answer(event: dict[str, Any]) -> Any:
        raise error

    return answer


def unauthorized_error() -> FunctionRaised:
    error = FunctionRaised("Exception: Unauthorized")
    error.error_message = "Unauthorized"
    return error


@pytest.fixture(scope="module")
def model() -> WebSocketModel:
    template = SamTemplate.read(ROOT / "template-websocket.yaml")
    read = load_api(template, POOL)
    assert isinstance(read, WebSocketModel)
    return read


@dataclass
class Gateway:
    gateway: WebSocketGateway
    authorizer: Stand
    greeter: Stand

    @property
    def url(self) -> str:
        return f"{self.gateway.url}/prod"


@pytest.fixture
def api(model: WebSocketModel, tmp_path: Path) -> Iterator[Gateway]:
    authorizer = Stand("AuthorizerFunction", allow)
    greeter = Stand("GreeterFunction", lambda event: {"statusCode": 200, "body": "hi"})
    functions: dict[str, Any] = {"AuthorizerFunction": authorizer, "GreeterFunction": greeter}
    gateway = WebSocketGateway(model, functions, Console(), "127.0.0.1", 0, 0)
    gateway.start()
    try:
        yield Gateway(gateway, authorizer, greeter)
    finally:
        gateway.stop()


def refused(url: str) -> tuple[int, Any]:
    with pytest.raises(InvalidStatus) as raised, connect(url, open_timeout=10):
        pass
    response = raised.value.response
    return response.status_code, json.loads(bytes(response.body or b"null"))


def test_the_template_is_read_as_api_gateway_reads_it(model: WebSocketModel) -> None:
    assert {r.route_key: r.function for r in model.routes} == {
        "$connect": "GreeterFunction",
        "$disconnect": "GreeterFunction",
        "hello": "GreeterFunction",
        "$default": "GreeterFunction",
    }
    assert [r.route_key for r in model.routes if r.authorizer] == ["$connect"]
    assert model.two_way == {"hello", "$default"}
    assert (model.stage, model.selection_expression) == ("prod", "$request.body.action")
    [spec] = model.authorizers.values()
    assert (spec.function, spec.identity_source, spec.ttl_seconds) == (
        "AuthorizerFunction",
        ("route.request.querystring.token",),
        0,
    )
    assert model.streams == ()  # revocation off: no hang-up


@pytest.mark.parametrize(
    ("answer", "status", "body"),
    [
        (raises(FunctionTimeout("timed out")), 500, {"message": "Internal server error"}),
        (lambda event: {"policyDocument": {}}, 500, {"message": "Internal server error"}),
        (answered(policyDocument="x"), 500, {"message": "Internal server error"}),
        (answered(context=[]), 500, {"message": "Internal server error"}),
        (answered(principalId=None), 500, {"message": "Internal server error"}),
        (raises(unauthorized_error()), 401, {"message": "Unauthorized"}),
        (policy_of("Deny"), 403, {"message": "Forbidden"}),
        (policy_of("Allow", "arn:aws:execute-api:us-east-1:123456789012:other/prod/$connect"), 403,
         {"message": "Forbidden"}),
    ],
)  # fmt: skip
def test_the_authorizer_s_answer_decides_before_the_upgrade(
    api: Gateway, answer: Callable[[dict[str, Any]], Any], status: int, body: Any
) -> None:
    api.authorizer.answer = answer
    assert refused(f"{api.url}?token=t") == (status, body)
    assert api.greeter.events == []  # no $connect integration ran


def test_no_identity_source_is_a_401_without_the_authorizer(api: Gateway) -> None:
    assert refused(api.url) == (401, {"message": "Unauthorized"})
    assert refused(f"{api.url}?token=") == (401, {"message": "Unauthorized"})
    assert api.authorizer.events == []


def test_another_path_is_refused(api: Gateway) -> None:
    assert refused(f"{api.gateway.url}/test?token=t")[0] == 403


def test_the_authorizer_event_is_api_gateway_s(api: Gateway) -> None:
    with connect(f"{api.url}?token=t&x=1", open_timeout=10, additional_headers={"X-A": "b"}):
        pass
    [event] = api.authorizer.events
    assert (event["type"], event["methodArn"]) == ("REQUEST", CONNECT_ARN)
    assert event["queryStringParameters"] == {"token": "t", "x": "1"}
    assert event["multiValueQueryStringParameters"]["token"] == ["t"]
    assert event["headers"]["X-A"] == "b"
    context = event["requestContext"]
    assert (context["routeKey"], context["eventType"], context["apiId"], context["stage"]) == (
        "$connect",
        "CONNECT",
        "offline0ws",
        "prod",
    )


def test_a_connect_integration_s_status_refuses_the_connection(api: Gateway) -> None:
    api.greeter.answer = lambda event: {"statusCode": 429}
    assert refused(f"{api.url}?token=t")[0] == 429
    api.greeter.answer = raises(FunctionTimeout("timed out"))
    assert refused(f"{api.url}?token=t")[0] == 500


def test_every_route_gets_the_context_as_strings_and_disconnect_runs(api: Gateway) -> None:
    with connect(f"{api.url}?token=t", open_timeout=10) as socket:
        socket.send(json.dumps({"action": "hello"}))
        assert socket.recv(timeout=10) == "hi"
        socket.send(b"\x00binary")
        assert socket.recv(timeout=10) == "hi"  # $default, two-way too
    connect_event, hello, binary = api.greeter.events[:3]
    for event in (connect_event, hello, binary):
        assert event["requestContext"]["authorizer"] == {
            "principalId": "user-1",
            "integrationLatency": 0,
            "sub": "user-1",
            "n": "1",
            "ok": "true",
        }
    assert hello["requestContext"]["routeKey"] == "hello"
    assert (binary["requestContext"]["routeKey"], binary["isBase64Encoded"]) == ("$default", True)
    assert base64.b64decode(binary["body"]) == b"\x00binary"
    deadline = 50
    while len(api.greeter.events) < 4 and deadline:
        deadline -= 1
        time.sleep(0.1)
    disconnect = api.greeter.events[3]
    assert disconnect["requestContext"]["eventType"] == "DISCONNECT"
    assert disconnect["requestContext"]["disconnectStatusCode"] == 1000


def test_a_failing_route_answers_internal_server_error(api: Gateway) -> None:
    with connect(f"{api.url}?token=t", open_timeout=10) as socket:
        api.greeter.answer = raises(FunctionTimeout("timed out"))
        socket.send(json.dumps({"action": "hello"}))
        answer = json.loads(socket.recv(timeout=10))
    assert answer["message"] == "Internal server error"
    assert set(answer) == {"message", "connectionId", "requestId"}


def test_the_management_api_on_an_unknown_connection(api: Gateway) -> None:
    base = api.gateway.management_url
    gone = requests.post(f"{base}/@connections/nope", data=b"x", timeout=10)
    assert (gone.status_code, gone.headers["x-amzn-ErrorType"]) == (410, "GoneException")
    assert requests.get(f"{base}/elsewhere", timeout=10).status_code == 404
