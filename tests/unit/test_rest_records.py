"""The REST path's decision records, metrics and setting errors, pinned word for word."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses

from authorizer.api.rest import MAX_METHOD_ARN_BYTES, RestAuthorizer, load_api_settings
from shared.exceptions import ConfigurationError
from tests.forge import JWKS_URL, claims, forged_key, load_event, sign
from tests.helpers import WiredAuthorizer, log_records, make_config

PREFIX = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"
ROUTES = "GET /hello, POST /hello, GET /items/{id}"
RULES = json.dumps({"GET /items/{id}": {"groups": ["admins"]}})


def rest(wired: WiredAuthorizer) -> RestAuthorizer:
    route_rules = make_config(ROUTE_RULES=RULES).route_rules
    settings = load_api_settings({"API_TYPE": "rest", "API_ROUTES": ROUTES}, route_rules)
    return RestAuthorizer(wired.authorizer, route_rules, settings.routes)


def request_event(token: str, request: str = "GET/hello") -> dict[str, Any]:
    """A REQUEST event: it carries API Gateway's request id, as the access log does."""
    event = load_event("rest_token.json")
    del event["authorizationToken"]
    event.update(
        {
            "type": "REQUEST",
            "methodArn": PREFIX + request,
            "headers": {"Authorization": f"Bearer {token}"},
            "requestContext": {"requestId": "rest-req-1"},
        }
    )
    return event


def record_and_metric(out: str) -> tuple[dict[str, Any], dict[str, Any]]:
    [record] = [r for r in log_records(out) if r.get("message") == "authorization decision"]
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    [metric] = [line for line in lines if "Decisions" in line]
    return record, metric


def test_an_allow_record_names_the_route_request_and_caller(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = rest(wired).handle
    token = sign(claims("access"))
    for cached in (False, True):
        capsys.readouterr()
        handle(request_event(token))
        record, metric = record_and_metric(capsys.readouterr().out)
        assert {k: record.get(k) for k in ("decision", "reason", "routeKey", "apiRequestId")} == {
            "decision": "allow",
            "reason": "ok",
            "routeKey": "GET /hello",
            "apiRequestId": "rest-req-1",
        }
        assert (record["kid"], record["tokenUse"], record["clientId"]) == (
            "key-1",
            "access",
            "testclient123",
        )
        assert record["verifiedTokenCache"] is cached
        assert metric["VerifiedTokenCacheHits"] == int(cached)


def test_a_wildcard_route_the_rule_closes_is_denied_for_its_reason(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    reader = sign(claims() | {"cognito:groups": ["readers"]})
    answer = rest(wired).handle(request_event(reader, "GET/items/42"))
    record, _ = record_and_metric(capsys.readouterr().out)
    # GET/items/* covers this request: its Deny is the reason, not "unknown_route".
    assert (record["decision"], record["reason"]) == ("deny", "missing_group")
    denied = {
        r
        for s in answer["policyDocument"]["Statement"]
        if s["Effect"] == "Deny"
        for r in s["Resource"]
    }
    # ...beside the Deny of what lies below the parameter, which no listed route names.
    assert denied == {PREFIX + "GET/items/*", PREFIX + "GET/items/*/*"}


def test_a_token_deny_and_a_401_name_the_route_and_request(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    handle = rest(wired).handle
    capsys.readouterr()
    handle(request_event(sign(claims(), forged_key("impostor"), kid="key-1")))
    record, _ = record_and_metric(capsys.readouterr().out)
    assert (record["reason"], record["routeKey"], record["apiRequestId"], record["kid"]) == (
        "bad_signature",
        "GET /hello",
        "rest-req-1",
        "key-1",
    )
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handle(request_event("not-a-jwt.x"))
    record, _ = record_and_metric(capsys.readouterr().out)
    assert (record["reason"], record["routeKey"], record["apiRequestId"], record["status"]) == (
        "malformed_token",
        "GET /hello",
        "rest-req-1",
        401,
    )
    header_only = sign(claims()).split(".")[0] + ".e30.x"  # a kid is known, the token is not
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handle(request_event(header_only))
    record, _ = record_and_metric(capsys.readouterr().out)
    assert record["kid"] == "key-1"


@pytest.mark.parametrize("raw", [123, None, ["Bearer x"]])
def test_a_token_event_without_a_text_token_is_401(wired: WiredAuthorizer, raw: Any) -> None:
    event = load_event("rest_token.json")
    event["authorizationToken"] = raw
    event["methodArn"] = PREFIX + "GET/hello"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        rest(wired).handle(event)


def test_an_unexpected_event_is_401_with_its_record(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        rest(wired).handle({"type": "TOKEN", "requestContext": {"requestId": "rest-req-2"}})
    record, _ = record_and_metric(capsys.readouterr().out)
    assert (record["reason"], record["apiRequestId"], record["status"]) == (
        "unexpected_event",
        "rest-req-2",
        401,
    )


def test_method_arns_up_to_the_limit_are_read(wired: WiredAuthorizer) -> None:
    handle = rest(wired).handle
    token = sign(claims())
    at_limit = "GET/hello" + "x" * (MAX_METHOD_ARN_BYTES - len(PREFIX) - len("GET/hello"))
    assert len((PREFIX + at_limit).encode()) == 1600
    answer = handle(request_event(token, at_limit))  # read: a policy, not a 401
    assert answer["principalId"] == "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handle(request_event(token, at_limit + "x"))


def test_keys_unavailable_is_an_error_record_with_the_route_and_request(
    make_wired: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, status=503, body="{}", content_type="application/json")
        wired = make_wired()
        capsys.readouterr()
        with pytest.raises(Exception, match="HTTP 503"):
            rest(wired).handle(request_event(sign(claims())))
    record, _ = record_and_metric(capsys.readouterr().out)
    assert (record["decision"], record["reason"], record["routeKey"]) == (
        "error",
        "jwks_fetch_failed",
        "GET /hello",
    )
    assert record["apiRequestId"] == "rest-req-1"
    assert record["error"] == f"HTTP 503 from {JWKS_URL}"


@pytest.mark.parametrize(
    ("env", "variable", "message"),
    [
        ({"API_TYPE": "grpc"}, "API_TYPE", "API_TYPE: must be one of http, rest, websocket"),
        (
            {"API_TYPE": "websocket"},
            "API_TYPE",
            "API_TYPE: websocket settings are not REST settings",
        ),
        ({"API_ROUTES": "GET /x"}, "API_ROUTES", "API_ROUTES: is for API_TYPE=rest only"),
        (
            {"API_TYPE": "rest"},
            "API_ROUTES",
            "API_ROUTES: is required with API_TYPE=rest: the API's routes, e.g. 'GET /hello'",
        ),
        (
            {"API_TYPE": "rest", "API_ROUTES": "GET /x,GET /x"},
            "API_ROUTES",
            "API_ROUTES: lists a route twice",
        ),
        (
            {"API_TYPE": "rest", "API_ROUTES": "GET"},
            "API_ROUTES",
            "API_ROUTES: 'GET' is not a REST route like 'GET /hello' or 'ANY /items/{id}'",
        ),
        (
            {"API_TYPE": "rest", "API_ROUTES": "GET /a{b}"},
            "API_ROUTES",
            "API_ROUTES: 'GET /a{b}' is not a REST route like 'GET /hello' or 'ANY /items/{id}'",
        ),
    ],
)
def test_rest_setting_errors_word_for_word(
    env: dict[str, str], variable: str, message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_api_settings(env, {})
    assert (caught.value.variable, str(caught.value)) == (variable, message)


def test_a_rule_for_an_unlisted_route_is_named() -> None:
    rules = make_config(
        ROUTE_RULES=json.dumps({"DELETE /x": {"groups": ["a"]}, "PUT /y": {"groups": ["a"]}})
    ).route_rules
    with pytest.raises(ConfigurationError) as caught:
        load_api_settings({"API_TYPE": "rest", "API_ROUTES": "GET /hello"}, rules)
    assert (caught.value.variable, str(caught.value)) == (
        "ROUTE_RULES",
        "ROUTE_RULES: names routes that API_ROUTES does not list: DELETE /x, PUT /y",
    )


def test_settings_name_their_protocol() -> None:
    assert (
        load_api_settings({"API_TYPE": "rest", "API_ROUTES": "GET /hello"}, {}).api_type == "rest"
    )
    assert load_api_settings({}, {}).api_type == "http"


def test_route_rules_on_sign_in_age_use_the_clock(make_wired: Any, jwks_endpoint: Any) -> None:
    rules = make_config(ROUTE_RULES=json.dumps({"GET /hello": {"maxAuthAgeSeconds": 900}}))
    wired = make_wired(rules)  # the verifier keeps auth_time because a rule reads it
    settings = load_api_settings(
        {"API_TYPE": "rest", "API_ROUTES": "GET /hello"}, rules.route_rules
    )
    handle = RestAuthorizer(wired.authorizer, rules.route_rules, settings.routes).handle
    now = int(wired.clock.now)
    fresh = handle(request_event(sign(claims(auth_time=now - 60))))
    stale = handle(request_event(sign(claims(auth_time=now - 901))))
    assert [s["Effect"] for s in fresh["policyDocument"]["Statement"]] == ["Allow"]
    assert [s["Effect"] for s in stale["policyDocument"]["Statement"]] == ["Deny"]
