"""WebSocket APIs: ``$connect`` events with forged keys, answered with one connection's policy.

API Gateway evaluates the policy against this connection's ``$connect`` ARN
(local/policy.py does it as IAM does): an Allow for exactly that ARN lets the
upgrade happen, anything else refuses it. The token is read from the one
identity source the API declares, and never shows in a log line.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Callable
from typing import Any

import pytest
import responses

from authorizer.api.websocket import (
    MAX_METHOD_ARN_BYTES,
    IdentitySource,
    WebSocketAuthorizer,
    load_identity_source,
)
from local.policy import Effect, evaluate
from shared.context import decode_context
from shared.exceptions import ConfigurationError
from tests.forge import JWKS_URL, claims, forged_key, jwks_body, load_event, sign
from tests.helpers import (
    BASE_ENV,
    FakeClock,
    FakeRevocationTable,
    WiredAuthorizer,
    log_records,
    make_config,
    wire_authorizer,
)
from tests.leakcheck import assert_clean

CONNECT_ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/$connect"
QUERY = "route.request.querystring.token"
HEADER = "route.request.header.Authorization"
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"


def socket(wired: WiredAuthorizer, source: str = QUERY, rules: str = "") -> WebSocketAuthorizer:
    route_rules = make_config(ROUTE_RULES=rules).route_rules
    identity = load_identity_source({"WEBSOCKET_IDENTITY_SOURCE": source}, route_rules)
    return WebSocketAuthorizer(wired.authorizer, identity, route_rules)


def connect_event(token: str | None = None, *, header: str | None = None) -> dict[str, Any]:
    """The recorded ``$connect`` event, with ``token`` in the query string and/or a header."""
    event = load_event("websocket_connect.json")
    if token is not None:
        event["queryStringParameters"] = {"token": token}
        event["multiValueQueryStringParameters"] = {"token": [token]}
    if header is not None:
        event["headers"]["Authorization"] = header
        event["multiValueHeaders"]["Authorization"] = [header]
    return event


def effect(answer: dict[str, Any], arn: str = CONNECT_ARN) -> Effect:
    return evaluate(answer["policyDocument"], arn)


def unauthorized(handle: Callable[[Any], Any], event: Any) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handle(event)


def decision(out: str) -> dict[str, Any]:
    [record] = [r for r in log_records(out) if r.get("message") == "authorization decision"]
    return record


# --- allow -------------------------------------------------------------------------


def test_a_valid_token_in_the_query_string_connects_with_the_context(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    answer = socket(wired).handle(connect_event(sign(claims())))
    assert answer["principalId"] == SUB
    assert answer["policyDocument"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": [CONNECT_ARN]}
        ],
    }
    # What a route of the connection gets (requestContext.authorizer: principalId beside it).
    routed = {"requestContext": {"authorizer": {"principalId": SUB, **answer["context"]}}}
    caller = decode_context(routed)
    assert (caller.sub, caller.username, caller.token_use) == (SUB, "brian", "id")
    record = decision(capsys.readouterr().out)
    assert {k: record.get(k) for k in ("decision", "reason", "routeKey", "apiRequestId")} == {
        "decision": "allow",
        "reason": "ok",
        "routeKey": "$connect",
        "apiRequestId": "R1knPH17NjMFftw=",
    }
    assert (record["connectionId"], record["sub"]) == ("R1kmxc2VNjMCFIA=", SUB)


def test_a_header_source_reads_the_header_in_any_case(wired: WiredAuthorizer) -> None:
    token = sign(claims("access"))
    event = connect_event()
    event["headers"]["authorization"] = f"Bearer {token}"
    event["multiValueHeaders"]["authorization"] = [f"Bearer {token}"]
    assert effect(socket(wired, HEADER).handle(event)) is Effect.ALLOW


def test_the_query_string_takes_bearer_or_a_bare_token(wired: WiredAuthorizer) -> None:
    token = sign(claims())
    handle = socket(wired).handle
    assert effect(handle(connect_event(f"Bearer {token}"))) is Effect.ALLOW
    assert effect(handle(connect_event(token))) is Effect.ALLOW


# --- the policy names this connection's $connect and nothing else -------------------


@pytest.mark.parametrize(
    "other",
    [
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/hello",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/$default",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/test/$connect",
        "arn:aws:execute-api:us-east-1:123456789012:otherapi99/prod/$connect",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/$connect/x",
        "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/$connect",
        "arn:aws:execute-api:us-east-1:210987654321:abcdef1234/prod/$connect",
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/GET/hello",
    ],
)
def test_the_allow_covers_no_other_route_stage_or_api(wired: WiredAuthorizer, other: str) -> None:
    answer = socket(wired).handle(connect_event(sign(claims())))
    assert effect(answer) is Effect.ALLOW
    assert effect(answer, other) is Effect.IMPLICIT_DENY


def test_the_policy_names_the_event_s_own_api_and_stage(wired: WiredAuthorizer) -> None:
    event = connect_event(sign(claims()))
    arn = "arn:aws-cn:execute-api:cn-north-1:123456789012:zz9xq8wv7u/live_2/$connect"
    event["methodArn"] = arn
    event["requestContext"].update(apiId="zz9xq8wv7u", stage="live_2")
    answer = socket(wired).handle(event)
    assert answer["policyDocument"]["Statement"][0]["Resource"] == [arn]


# --- missing, forged, revoked, rule-failing -------------------------------------------


def test_no_token_is_a_401_without_a_policy(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    unauthorized(socket(wired).handle, connect_event())
    record = decision(capsys.readouterr().out)
    assert (record["reason"], record["status"], record["routeKey"]) == (
        "missing_token",
        401,
        "$connect",
    )


def test_a_token_in_the_other_source_is_not_read(wired: WiredAuthorizer) -> None:
    token = sign(claims())
    # The API declared the query string: a header token is not the identity it checked.
    unauthorized(socket(wired).handle, connect_event(header=f"Bearer {token}"))
    unauthorized(socket(wired, HEADER).handle, connect_event(token))
    # Nor under the same name in the other place: a "token" header, an "Authorization" parameter.
    as_header = connect_event()
    as_header["headers"]["token"] = token
    as_header["multiValueHeaders"]["token"] = [token]
    unauthorized(socket(wired).handle, as_header)
    as_parameter = connect_event()
    as_parameter["queryStringParameters"] = {"Authorization": f"Bearer {token}"}
    as_parameter["multiValueQueryStringParameters"] = {"Authorization": [f"Bearer {token}"]}
    unauthorized(socket(wired, HEADER).handle, as_parameter)


@pytest.mark.parametrize("source", [QUERY, HEADER])
def test_a_token_given_twice_is_a_401(wired: WiredAuthorizer, source: str) -> None:
    token = sign(claims())
    event = connect_event(token, header=f"Bearer {token}")
    if source == QUERY:
        event["multiValueQueryStringParameters"]["token"] = [token, token]
    else:
        event["headers"]["AUTHORIZATION"] = f"Bearer {token}"
    unauthorized(socket(wired, source).handle, event)


def test_a_forged_token_is_denied_by_policy(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    forged = sign(claims(), forged_key("key-1", 3072))  # the pool's kid, another key
    capsys.readouterr()
    answer = socket(wired).handle(connect_event(forged))
    assert answer == {
        "principalId": "anonymous",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": [CONNECT_ARN]}
            ],
        },
    }
    assert decision(capsys.readouterr().out)["reason"] == "bad_signature"


def test_an_expired_token_is_denied_naming_no_one(wired: WiredAuthorizer) -> None:
    old = wired.clock.now - 7200
    answer = socket(wired).handle(connect_event(sign(claims(now=old))))
    assert effect(answer) is Effect.EXPLICIT_DENY
    assert "context" not in answer


def test_a_revoked_family_is_denied(
    clock: FakeClock, jwks_endpoint: responses.RequestsMock
) -> None:
    table = FakeRevocationTable()
    wired = wire_authorizer(
        make_config(REVOCATION_TABLE="revocations"), clock, warm=True, revocation_query=table
    )
    payload = claims()
    table.put("family", payload["origin_jti"], clock.now)
    clock.advance(11)  # past the refresh interval: the next decision reads the list
    answer = socket(wired).handle(connect_event(sign(payload)))
    assert effect(answer) is Effect.EXPLICIT_DENY
    assert answer["principalId"] == SUB  # the signature held: the deny names who


def test_the_connect_rule_applies(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = json.dumps({"$connect": {"groups": ["chatters"]}})
    handle = socket(wired, rules=rules).handle
    capsys.readouterr()
    denied = handle(connect_event(sign(claims())))
    assert effect(denied) is Effect.EXPLICIT_DENY
    assert decision(capsys.readouterr().out)["reason"] == "missing_group"
    allowed = handle(connect_event(sign(claims() | {"cognito:groups": ["chatters"]})))
    assert effect(allowed) is Effect.ALLOW


# --- events that are not this API's $connect ------------------------------------------


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda event: event["requestContext"].pop(key)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda e: e.update(type="TOKEN"),
        lambda e: e.update(methodArn=CONNECT_ARN.replace("$connect", "hello")),
        lambda e: e.update(methodArn=CONNECT_ARN + "*"),
        lambda e: e.update(methodArn="x" + CONNECT_ARN),
        lambda e: e.update(methodArn=CONNECT_ARN.replace("abcdef1234", "*")),
        lambda e: e.update(methodArn=CONNECT_ARN.replace("prod", "*")),
        lambda e: e.update(methodArn=None),
        lambda e: e["requestContext"].update(routeKey="$default"),
        lambda e: e["requestContext"].update(apiId="otherapi99"),
        lambda e: e["requestContext"].update(stage="test"),
        _without("apiId"),
        _without("stage"),
        _without("routeKey"),
        lambda e: e.pop("requestContext"),
    ],
)
def test_an_event_that_is_not_this_api_s_connect_is_a_401(
    wired: WiredAuthorizer, spoil: Callable[[dict[str, Any]], None]
) -> None:
    event = connect_event(sign(claims()))
    spoil(event)
    unauthorized(socket(wired).handle, event)


def test_an_http_api_event_is_a_401(wired: WiredAuthorizer) -> None:
    event = load_event("authorizer_request.json")
    unauthorized(socket(wired).handle, event)
    unauthorized(socket(wired).handle, "not an event")


def test_a_method_arn_past_api_gateway_s_limit_is_a_401(wired: WiredAuthorizer) -> None:
    event = connect_event(sign(claims()))
    stage = "s" * (MAX_METHOD_ARN_BYTES - len(CONNECT_ARN) + len("prod") + 1)
    event["methodArn"] = CONNECT_ARN.replace("prod", stage)
    event["requestContext"]["stage"] = stage
    unauthorized(socket(wired).handle, event)
    shorter = stage[:-1]
    event["methodArn"] = CONNECT_ARN.replace("prod", shorter)
    event["requestContext"]["stage"] = shorter
    assert effect(socket(wired).handle(event), event["methodArn"]) is Effect.ALLOW


# --- no token in any log line -----------------------------------------------------------


def test_no_token_shows_in_any_line_whatever_the_decision(
    clock: FakeClock, jwks_endpoint: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    wired = wire_authorizer(make_config(LOG_LEVEL="DEBUG"), clock)
    handle = socket(wired).handle
    tokens = [
        sign(claims()),
        sign(claims(), forged_key("key-1", 3072)),
        sign(claims(now=clock.now - 7200)),
        "not.a.jwt-but-long-enough-to-matter",
    ]
    capsys.readouterr()
    for token in tokens:
        event = connect_event(token)
        event["headers"]["Cookie"] = f"session={token}"
        try:
            handle(event)
        except Exception as err:  # noqa: BLE001 - a 401 is fine here; the log is what is checked
            raised = str(err)
            assert raised == "Unauthorized"
    out = capsys.readouterr().out
    assert len(log_records(out)) >= len(tokens)
    assert_clean(out, tokens)
    assert "token=" not in out
    assert "queryString" not in out


# --- settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (QUERY, IdentitySource("querystring", "token")),
        (
            " route.request.header.Sec-WebSocket-Protocol ",
            IdentitySource("header", "Sec-WebSocket-Protocol"),
        ),
        (HEADER, IdentitySource("header", "Authorization")),
    ],
)
def test_the_identity_source_is_read(raw: str, expected: IdentitySource) -> None:
    assert load_identity_source({"WEBSOCKET_IDENTITY_SOURCE": raw}, {}) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "token",
        "$request.querystring.token",
        "method.request.header.Authorization",
        "route.request.querystring.",
        "route.request.path.token",
        "route.request.header.Authorization,route.request.querystring.token",
        "route.request.querystring.token x",
        "context.routeKey",
    ],
)
def test_an_identity_source_the_authorizer_cannot_read_stops_the_cold_start(raw: str) -> None:
    with pytest.raises(ConfigurationError, match="WEBSOCKET_IDENTITY_SOURCE: must be the API's"):
        load_identity_source({"WEBSOCKET_IDENTITY_SOURCE": raw}, {})


def test_rules_for_routes_the_authorizer_never_sees_are_refused() -> None:
    rules = make_config(ROUTE_RULES=json.dumps({"$default": {"groups": ["a"]}})).route_rules
    with pytest.raises(ConfigurationError, match=r"decides \$connect only, not \$default"):
        load_identity_source({"WEBSOCKET_IDENTITY_SOURCE": QUERY}, rules)


def test_rest_routes_are_refused() -> None:
    env = {"WEBSOCKET_IDENTITY_SOURCE": QUERY, "API_ROUTES": "GET /hello"}
    with pytest.raises(ConfigurationError, match="API_ROUTES: is for API_TYPE=rest only"):
        load_identity_source(env, {})


# --- the Lambda entry point ---------------------------------------------------------


def _cold_start(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Any:

    for name, value in {**BASE_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.app", None)
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
            return importlib.import_module("authorizer.app"), len(mock.calls)
    finally:
        sys.modules.pop("authorizer.app", None)


def test_the_app_module_serves_websocket_connects_when_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"API_TYPE": "websocket", "WEBSOCKET_IDENTITY_SOURCE": QUERY}
    app, _ = _cold_start(monkeypatch, env)
    answer = app.lambda_handler(connect_event(sign(claims())), None)
    assert (answer["principalId"], effect(answer)) == (SUB, Effect.ALLOW)
    unauthorized(lambda event: app.lambda_handler(event, None), connect_event())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"API_TYPE": "websocket"}, "WEBSOCKET_IDENTITY_SOURCE"),
        (
            {"ROUTE_RULES": json.dumps({"$connect": {"groups": ["a"]}})},
            r"ROUTE_RULES: \$connect is a WebSocket route: for API_TYPE=websocket only",
        ),
        (
            {
                "API_TYPE": "rest",
                "API_ROUTES": "GET /hello",
                "ROUTE_RULES": '{"$connect": {"groups": ["a"]}}',
            },
            r"ROUTE_RULES: names routes that API_ROUTES does not list: \$connect",
        ),
        ({"API_TYPE": "sockets"}, "API_TYPE: must be one of http, rest, websocket"),
    ],
)
def test_a_setting_for_the_wrong_api_type_stops_the_cold_start_before_any_fetch(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:

    for name, value in {**BASE_ENV, **env}.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.app", None)
    try:
        with (
            responses.RequestsMock() as mock,
            pytest.raises(ConfigurationError, match=message),
        ):
            importlib.import_module("authorizer.app")
        assert len(mock.calls) == 0
    finally:
        sys.modules.pop("authorizer.app", None)


# --- docs/websocket.md says what the code does ------------------------------------------


def test_the_page_states_the_code_s_facts() -> None:
    from pathlib import Path

    from authorizer.tables.connections import MAX_CONNECTION_SECONDS, connection_item
    from authorizer.verification.rules import CONNECT_ROUTE
    from tests.helpers import template_source

    root = Path(__file__).resolve().parents[2]
    page = " ".join((root / "docs" / "websocket.md").read_text().split())
    default = template_source(root / "authorizer" / "template.yaml")["Parameters"][
        "WebSocketIdentitySource"
    ]["Default"]
    assert f"`{default}` (the default)" in page
    assert f"`ROUTE_RULES` takes one key here, `{CONNECT_ROUTE}`" in page
    assert MAX_CONNECTION_SECONDS == 2 * 3600
    assert "`expiresAt` is two hours later" in page
    item = connection_item("c", "s", "f", 0, 0)
    section = page.split("The connections table's item", 1)[1].split("nothing else", 1)[0]
    listed = set(re.findall(r"`(\w+)`", section))
    assert set(item) == listed - {"origin_jti", "iat"}  # the token's claims each is from


# --- the decision records, word for word ---------------------------------------------


RECORD_KEYS = ("decision", "reason", "routeKey", "apiRequestId", "kid", "sub", "connectionId")


def records(out: str) -> list[dict[str, Any]]:
    return [
        {k: r.get(k) for k in (*RECORD_KEYS, "status", "verifiedTokenCache", "error")}
        for r in log_records(out)
        if r.get("message") == "authorization decision"
    ]


def test_each_decision_s_record(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    handle = socket(wired).handle
    token = sign(claims())
    capsys.readouterr()
    handle(connect_event(token))
    handle(connect_event(token))  # the verified-token cache answers the second
    handle(connect_event(sign(claims(), forged_key("key-1", 3072))))
    unauthorized(handle, connect_event())
    spoiled = connect_event(token)
    spoiled["requestContext"]["stage"] = "other"
    unauthorized(handle, spoiled)
    twice = connect_event(token)
    twice["multiValueQueryStringParameters"]["token"] = [token, token]
    unauthorized(handle, twice)
    common = {"routeKey": "$connect", "apiRequestId": "R1knPH17NjMFftw=", "error": None}
    ids = {**common, "connectionId": "R1kmxc2VNjMCFIA="}
    assert records(capsys.readouterr().out) == [
        {**ids, "decision": "allow", "reason": "ok", "kid": "key-1", "sub": SUB,
         "status": None, "verifiedTokenCache": False},
        {**ids, "decision": "allow", "reason": "ok", "kid": "key-1", "sub": SUB,
         "status": None, "verifiedTokenCache": True},
        {**ids, "decision": "deny", "reason": "bad_signature", "kid": "key-1", "sub": None,
         "status": None, "verifiedTokenCache": None},
        {**ids, "decision": "deny", "reason": "missing_token", "kid": None, "sub": None,
         "status": 401, "verifiedTokenCache": None},
        {**common, "routeKey": None, "decision": "deny", "reason": "unexpected_event",
         "kid": None, "sub": None, "connectionId": None, "status": 401,
         "verifiedTokenCache": None},
        {**ids, "decision": "deny", "reason": "malformed_token", "kid": None, "sub": None,
         "status": 401, "verifiedTokenCache": None},
    ]  # fmt: skip


def test_a_revoked_token_s_deny_names_who(
    clock: FakeClock, jwks_endpoint: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    table = FakeRevocationTable()
    wired = wire_authorizer(
        make_config(REVOCATION_TABLE="revocations"), clock, warm=True, revocation_query=table
    )
    payload = claims()
    table.put("user", payload["sub"], clock.now)
    clock.advance(11)
    capsys.readouterr()
    socket(wired).handle(connect_event(sign(payload)))
    [record] = records(capsys.readouterr().out)
    assert (record["decision"], record["reason"], record["sub"], record["kid"]) == (
        "deny",
        "revoked",
        SUB,
        "key-1",
    )


def test_no_key_set_is_an_error_the_client_sees_as_500(
    make_wired: Callable[..., WiredAuthorizer], capsys: pytest.CaptureFixture[str]
) -> None:
    from authorizer.exceptions import JwksError, JwksFetchError

    def unreachable(url: str) -> bytes:
        raise JwksFetchError("no route")

    wired = make_wired(fetch=unreachable)
    capsys.readouterr()
    with pytest.raises(JwksError):  # anything but "Unauthorized": API Gateway's 500
        socket(wired).handle(connect_event(sign(claims())))
    [record] = records(capsys.readouterr().out)
    assert (record["decision"], record["reason"], record["routeKey"], record["apiRequestId"]) == (
        "error",
        "jwks_fetch_failed",
        "$connect",
        "R1knPH17NjMFftw=",
    )


def test_a_time_bound_connect_rule_reads_the_verifier_s_clock(
    make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: responses.RequestsMock
) -> None:
    rules = json.dumps({"$connect": {"maxAuthAgeSeconds": 60}})
    wired = make_wired(make_config(ROUTE_RULES=rules))
    handle = socket(wired, rules=rules).handle
    assert effect(handle(connect_event(sign(claims())))) is Effect.ALLOW
    old = sign(claims(auth_time=int(wired.clock.now) - 120))
    assert effect(handle(connect_event(old))) is Effect.EXPLICIT_DENY


def test_a_header_given_twice_in_its_multi_values_is_a_401(wired: WiredAuthorizer) -> None:
    token = sign(claims())
    event = connect_event(header=f"Bearer {token}")
    event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}", f"Bearer {token}"]
    unauthorized(socket(wired, HEADER).handle, event)
    event["multiValueHeaders"]["Authorization"] = "not a list"
    unauthorized(socket(wired, HEADER).handle, event)


def test_a_token_that_is_not_text_is_no_token(wired: WiredAuthorizer) -> None:
    event = connect_event()
    event["queryStringParameters"] = {"token": 12345}
    unauthorized(socket(wired).handle, event)


def test_the_setting_errors_word_for_word() -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_identity_source({}, {})
    assert str(raised.value) == (
        "WEBSOCKET_IDENTITY_SOURCE: must be the API's identity source: "
        "route.request.querystring.<name> or route.request.header.<name>"
    )
    rules = make_config(
        ROUTE_RULES=json.dumps({"$default": {"groups": ["a"]}, "GET /x": {"groups": ["b"]}})
    ).route_rules
    with pytest.raises(ConfigurationError) as raised:
        load_identity_source({"WEBSOCKET_IDENTITY_SOURCE": QUERY}, rules)
    assert (raised.value.variable, str(raised.value)) == (
        "ROUTE_RULES",
        "ROUTE_RULES: a WebSocket API's authorizer decides $connect only, not $default, GET /x",
    )


def test_ids_that_are_not_text_are_not_logged(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    event = connect_event(sign(claims()))
    event["requestContext"].update(requestId=5, connectionId=["x"])
    capsys.readouterr()
    socket(wired).handle(event)
    [record] = records(capsys.readouterr().out)
    assert (record["apiRequestId"], record["connectionId"]) == (None, None)


def test_a_header_repeated_in_another_case_is_a_401(wired: WiredAuthorizer) -> None:
    token = sign(claims())
    event = connect_event()
    event["headers"]["authorization"] = f"Bearer {token}"
    event["multiValueHeaders"]["authorization"] = [f"Bearer {token}", f"Bearer {token}"]
    unauthorized(socket(wired, HEADER).handle, event)
