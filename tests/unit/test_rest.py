"""REST APIs: TOKEN and REQUEST events answered with IAM policies that stay right under the cache.

API Gateway caches a REST authorizer's answer per token and evaluates the
cached policy against every later method ARN. The central test here replays
exactly that: the policy made for one route is evaluated (as API Gateway
does, by local/policy.py) against every other route, for several callers,
and must agree with an oracle written from the rules' meaning.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

import pytest
import responses

from authorizer.api.rest import RestAuthorizer, load_api_settings, protocol_handler
from authorizer.exceptions import JwksError
from local.policy import Effect, evaluate
from shared.context import decode_context
from shared.exceptions import ConfigurationError
from tests.forge import (
    JWKS_URL,
    authorizer_event,
    claims,
    forged_key,
    jwks_body,
    load_event,
    sign,
)
from tests.helpers import BASE_ENV, WiredAuthorizer, make_config

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
ROUTES = "GET /, GET /hello, POST /hello, GET /items/{id}, DELETE /items/{id}, ANY /admin/{proxy+}"
# Each route, a request that API Gateway would route to it, and the group its rule requires.
REQUESTS = {
    "GET /": "GET/",
    "GET /hello": "GET/hello",
    "POST /hello": "POST/hello",
    "GET /items/{id}": "GET/items/42",
    "DELETE /items/{id}": "DELETE/items/42",
    "ANY /admin/{proxy+}": "PUT/admin/users/7",
}
REQUIRED_GROUP = {
    "POST /hello": "greeters",
    "DELETE /items/{id}": "admins",
    "ANY /admin/{proxy+}": "ops",
}
RULES = json.dumps({route: {"groups": [group]} for route, group in REQUIRED_GROUP.items()})


def rest(wired: WiredAuthorizer, routes: str = ROUTES, rules: str = "") -> RestAuthorizer:
    route_rules = make_config(ROUTE_RULES=rules).route_rules
    settings = load_api_settings({"API_TYPE": "rest", "API_ROUTES": routes}, route_rules)
    return RestAuthorizer(wired.authorizer, route_rules, settings.routes)


def with_groups(groups: list[str] | None) -> dict[str, Any]:
    """Valid claims whose cognito:groups are ``groups`` (None: no such claim)."""
    payload = claims()
    payload.pop("cognito:groups")
    if groups is not None:
        payload["cognito:groups"] = groups
    return payload


def token_event(
    token: str | None, request: str = "GET/hello", scheme: str = "Bearer "
) -> dict[str, Any]:
    event = load_event("rest_token.json")
    event["authorizationToken"] = "" if token is None else f"{scheme}{token}"
    event["methodArn"] = PREFIX + request
    return event


def request_event(token: str | None, header: str = "Authorization") -> dict[str, Any]:
    event = load_event("rest_request.json")
    del event["headers"]["Authorization"], event["multiValueHeaders"]["Authorization"]
    if token is not None:
        event["headers"][header] = f"Bearer {token}"
    return event


def unauthorized(handle: Callable[[Any], Any], event: Any) -> None:
    """API Gateway answers 401 only for an error whose message is exactly 'Unauthorized'."""
    with pytest.raises(Exception) as raised:  # noqa: PT011 - the type is the contract: Exception
        handle(event)
    assert type(raised.value) is Exception
    assert str(raised.value) == "Unauthorized"


# --- TOKEN and REQUEST events --------------------------------------------------


def test_a_token_event_with_a_valid_token_gets_the_sub_the_context_and_an_allow(
    wired: WiredAuthorizer,
) -> None:
    payload = claims()
    answer = rest(wired).handle(token_event(sign(payload)))
    assert answer["principalId"] == SUB
    assert answer["context"] == {
        "sub": SUB,
        "username": "brian",
        "tokenUse": "id",
        "clientId": "testclient123",
        "groups": "admins readers",
        "scope": "",
        "email": "brian@example.com",
        "originJti": payload["origin_jti"],
        "issuedAt": payload["iat"],
    }
    assert all(isinstance(v, str | int | float | bool) for v in answer["context"].values())
    # No rules: every route of the API is allowed, and only what lies below a
    # parameter's pattern, which no listed route names, is denied.
    statement, below = answer["policyDocument"]["Statement"]
    assert below["Effect"] == "Deny"
    assert sorted(below["Resource"]) == [PREFIX + "DELETE/items/*/*", PREFIX + "GET/items/*/*"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "execute-api:Invoke"
    any_method = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
    assert sorted(statement["Resource"]) == sorted(
        PREFIX + r
        for r in (
            "GET/",
            "GET/hello",
            "POST/hello",
            "GET/items/*",
            "DELETE/items/*",
            *(f"{method}/admin/*" for method in any_method),
        )
    )
    assert answer["policyDocument"]["Version"] == "2012-10-17"


@pytest.mark.parametrize("header", ["Authorization", "authorization", "AUTHORIZATION"])
def test_a_request_event_reads_the_authorization_header_in_any_case(
    wired: WiredAuthorizer, header: str
) -> None:
    answer = rest(wired).handle(request_event(sign(claims("access")), header))
    assert answer["principalId"] == SUB
    assert answer["context"]["tokenUse"] == "access"
    assert evaluate(answer["policyDocument"], PREFIX + "POST/hello") is Effect.ALLOW


def test_a_bare_token_and_any_case_of_bearer_are_accepted(wired: WiredAuthorizer) -> None:
    handle = rest(wired).handle
    assert handle(token_event(sign(claims()), scheme=""))["principalId"] == SUB
    assert handle(token_event(sign(claims()), scheme="bEaReR "))["principalId"] == SUB


# --- 401, 403, 500 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        token_event(None),
        token_event("", scheme="Bearer "),
        token_event("not-a-jwt"),
        token_event("a.b.c"),
        token_event("one two three", scheme=""),
        request_event(None),
    ],
    ids=["empty", "bearer-only", "no-dots", "garbage-segments", "three-words", "no-header"],
)
def test_a_missing_or_unparsable_token_is_unauthorized(
    wired: WiredAuthorizer, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    unauthorized(rest(wired).handle, event)
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "decision" in x]
    assert (line["decision"], line["status"]) == ("deny", 401)
    assert line["reason"] in ("missing_token", "malformed_token")


@pytest.mark.parametrize(
    ("token_claims", "principal"),
    [
        (claims(iat=1, exp=2), SUB),  # expired: the signature held, so the sub is known
        # An untrusted issuer is refused before any key is looked up: nobody is known.
        (claims(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"), "anonymous"),
        (claims(aud="someone-else"), SUB),
        (claims(token_use="refresh"), SUB),
    ],
    ids=["expired", "wrong-issuer", "wrong-audience", "wrong-token-use"],
)
def test_every_other_token_problem_is_a_deny_of_the_whole_stage(
    wired: WiredAuthorizer, token_claims: dict[str, Any], principal: str
) -> None:
    answer = rest(wired).handle(token_event(sign(token_claims)))
    assert answer["principalId"] == principal
    assert "context" not in answer
    document = answer["policyDocument"]
    assert document["Statement"] == [
        {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": [PREFIX + "*"]}
    ]
    # A cached deny is a deny for every method of the API, never an allow.
    for request in REQUESTS.values():
        assert evaluate(document, PREFIX + request) is Effect.EXPLICIT_DENY


def test_a_forged_signature_is_denied_without_naming_the_claimed_sub(
    wired: WiredAuthorizer,
) -> None:
    good = sign(claims())
    forged = sign(claims(sub="victim"), forged_key("key-1", 3072))
    header = good.split(".")[0]
    answer = rest(wired).handle(token_event(f"{header}.{'.'.join(forged.split('.')[1:])}"))
    assert answer["principalId"] == "anonymous"
    assert evaluate(answer["policyDocument"], PREFIX + "GET/hello") is Effect.EXPLICIT_DENY


def test_keys_that_cannot_be_had_raise_an_error_that_is_not_unauthorized(
    make_wired: Callable[..., WiredAuthorizer],
) -> None:
    def down(url: str) -> bytes:
        raise JwksError("Cognito is unreachable")

    handle = rest(make_wired(fetch=down)).handle
    with pytest.raises(JwksError) as raised:
        handle(token_event(sign(claims())))
    assert str(raised.value) != "Unauthorized"  # API Gateway answers 500, and caches nothing


@pytest.mark.parametrize(
    "event",
    [
        authorizer_event("PLACEHOLDER"),  # an HTTP API payload-2.0 event
        {"type": "TOKEN", "authorizationToken": "PLACEHOLDER"},  # no methodArn
        {"type": "TOKEN", "authorizationToken": "PLACEHOLDER", "methodArn": "arn:aws:s3:::bucket"},
        {"type": "WEIRD", "authorizationToken": "PLACEHOLDER", "methodArn": PREFIX + "GET/hello"},
        {"authorizationToken": "PLACEHOLDER", "methodArn": PREFIX + "GET/hello"},
        {
            "type": "TOKEN",
            "authorizationToken": "PLACEHOLDER",
            "methodArn": PREFIX + "GET/" + "x" * 1600,
        },
        ["not", "an", "object"],
        None,
    ],
    ids=[
        "http-2.0",
        "no-arn",
        "other-arn",
        "unknown-type",
        "no-type",
        "arn-too-long",
        "list",
        "none",
    ],
)
def test_an_event_of_the_wrong_shape_fails_closed_even_with_a_valid_token(
    wired: WiredAuthorizer, event: Any
) -> None:
    token = sign(claims())
    text = json.dumps(event).replace("PLACEHOLDER", f"Bearer {token}")
    unauthorized(rest(wired).handle, json.loads(text))


def test_an_http_api_authorizer_never_answers_a_rest_event_with_an_allow(
    wired: WiredAuthorizer,
) -> None:
    # API_TYPE left at http behind a REST API: no principalId or policy, so API
    # Gateway answers 500; never an allow.
    settings = load_api_settings({}, {})
    handle = protocol_handler(wired.authorizer, settings, {})
    answer = handle(token_event(sign(claims())))
    assert answer == {"isAuthorized": False}
    assert "policyDocument" not in handle(request_event(sign(claims())))


# --- the policy under the result cache -------------------------------------------


@pytest.mark.parametrize(
    "groups",
    [None, ["greeters"], ["admins"], ["ops", "greeters"], ["admins", "greeters", "ops"]],
    ids=["no-groups", "greeters", "admins", "ops+greeters", "all"],
)
def test_a_cached_policy_agrees_with_the_rules_on_every_route_whichever_route_made_it(
    wired: WiredAuthorizer, groups: list[str] | None
) -> None:
    handle = rest(wired, rules=RULES).handle
    token = sign(with_groups(groups))
    member = set(groups or [])
    expected = {
        route: REQUIRED_GROUP.get(route) is None or REQUIRED_GROUP[route] in member
        for route in REQUESTS
    }
    for first in REQUESTS.values():
        cached = handle(token_event(token, first))  # the answer API Gateway keeps for the TTL
        assert cached["principalId"] == SUB
        for route, later in REQUESTS.items():
            effect = evaluate(cached["policyDocument"], PREFIX + later)
            assert (effect is Effect.ALLOW) == expected[route], (first, route, effect)
            if not expected[route]:
                assert effect is Effect.EXPLICIT_DENY  # named, not merely left out


def test_the_policy_does_not_depend_on_the_method_that_made_it(wired: WiredAuthorizer) -> None:
    handle = rest(wired, rules=RULES).handle
    token = sign(with_groups(["greeters"]))
    answers = [handle(token_event(token, request)) for request in REQUESTS.values()]
    assert all(answer == answers[0] for answer in answers)


def test_a_method_of_another_stage_or_api_is_never_allowed(wired: WiredAuthorizer) -> None:
    answer = rest(wired).handle(token_event(sign(claims())))
    document = answer["policyDocument"]
    assert evaluate(document, PREFIX.replace("/prod/", "/dev/") + "GET/hello") is not Effect.ALLOW
    assert evaluate(document, PREFIX.replace("abcdef123", "other999") + "GET/hello") is not (
        Effect.ALLOW
    )


def test_a_route_missing_from_api_routes_is_denied_and_logged(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    answer = rest(wired, routes="GET /hello").handle(token_event(sign(claims()), "GET/secret"))
    assert evaluate(answer["policyDocument"], PREFIX + "GET/secret") is Effect.IMPLICIT_DENY
    assert evaluate(answer["policyDocument"], PREFIX + "GET/hello") is Effect.ALLOW
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "decision" in x]
    assert (line["decision"], line["reason"], line["routeKey"]) == (
        "deny",
        "unknown_route",
        "GET /secret",
    )


def test_the_decision_log_names_the_rule_that_refuses_this_request(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = rest(wired, rules=RULES).handle
    capsys.readouterr()
    handle(token_event(sign(with_groups(None)), "POST/hello"))
    handle(token_event(sign(with_groups(None)), "GET/hello"))
    denied, allowed = [
        json.loads(x) for x in capsys.readouterr().out.splitlines() if "decision" in x
    ]
    assert (denied["decision"], denied["reason"], denied["sub"]) == ("deny", "missing_group", SUB)
    assert (allowed["decision"], allowed["reason"]) == ("allow", "ok")
    assert (allowed["allowedRoutes"], allowed["deniedRoutes"]) == (3, 3)


def test_the_context_reaches_the_greeter_contract_as_api_gateway_hands_it_over(
    wired: WiredAuthorizer,
) -> None:
    answer = rest(wired).handle(token_event(sign(claims())))
    # REST proxy events: the context beside principalId, every value stringified.
    authorizer: dict[str, Any] = {k: str(v) for k, v in answer["context"].items()}
    authorizer |= {"principalId": answer["principalId"], "integrationLatency": 3}
    caller = decode_context({"requestContext": {"authorizer": authorizer}})
    assert (caller.sub, caller.username, caller.groups) == (SUB, "brian", ("admins", "readers"))


# --- configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"API_TYPE": "websocket"}, "API_TYPE"),
        ({"API_TYPE": "rest"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": " , "}, "API_ROUTES"),
        ({"API_ROUTES": "GET /hello"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "GET /hello,GET /hello"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "GET hello"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "FETCH /hello"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "GET /he*llo"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "GET /a?"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "GET /{p+}/x"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "GET /a//b"}, "API_ROUTES"),
        ({"API_TYPE": "rest", "API_ROUTES": "$default"}, "API_ROUTES"),
    ],
)
def test_bad_api_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_api_settings(env, {})
    assert raised.value.variable == variable


def test_a_rule_for_a_route_the_api_does_not_list_is_refused() -> None:
    rules = make_config(ROUTE_RULES=json.dumps({"POST /helo": {"groups": ["greeters"]}}))
    with pytest.raises(ConfigurationError, match="POST /helo"):
        load_api_settings({"API_TYPE": "rest", "API_ROUTES": "POST /hello"}, rules.route_rules)


def test_the_http_api_protocol_stays_the_default_and_untouched(wired: WiredAuthorizer) -> None:
    settings = load_api_settings({"API_TYPE": " HTTP "}, {})
    assert protocol_handler(wired.authorizer, settings, {}) == wired.authorizer.handle


def test_the_app_module_serves_rest_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**BASE_ENV, "API_TYPE": "rest", "API_ROUTES": "GET /hello"}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.app", None)
    try:
        with responses.RequestsMock() as mock:
            mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
            app = importlib.import_module("authorizer.app")
            answer = app.lambda_handler(token_event(sign(claims())), None)
        assert answer["principalId"] == SUB
        assert evaluate(answer["policyDocument"], PREFIX + "GET/hello") is Effect.ALLOW
        unauthorized(lambda event: app.lambda_handler(event, None), token_event(None))
    finally:
        sys.modules.pop("authorizer.app", None)


def test_bad_api_settings_fail_the_cold_start_before_any_key_fetch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**BASE_ENV, "API_TYPE": "rest"}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.app", None)
    try:
        with (
            responses.RequestsMock() as mock,
            pytest.raises(ConfigurationError, match="API_ROUTES"),
        ):
            importlib.import_module("authorizer.app")
        assert len(mock.calls) == 0
    finally:
        sys.modules.pop("authorizer.app", None)
