"""ROUTE_RULES on any claim, token use and resource audiences; scopes as RFC 6749 reads them;
claims copied into the context for the backend (CONTEXT_CLAIMS)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from greeter.app import lambda_handler as greeter
from shared.exceptions import ConfigurationError
from tests.forge import authorizer_event, claims, load_event, sign
from tests.helpers import WiredAuthorizer, make_config

RULES = {
    "GET /tenant": {"claims": {"custom:tenant_id": ["acme", "globex"]}},
    "GET /verified": {"claims": {"email_verified": True}},
    "GET /level": {"claims": {"custom:level": 3}},
    "GET /fresh": {"maxAuthAgeSeconds": 900},
    "GET /machine": {"tokenUse": "access"},
    "GET /orders": {"audiences": ["https://orders.example.com"]},
    "GET /all": {"groups": ["admins"], "claims": {"custom:tenant_id": "acme"}, "tokenUse": "id"},
}


def reasons(out: str) -> list[str]:
    """The reason of every decision line in captured output."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [str(x["reason"]) for x in lines if x.get("message") == "authorization decision"]


def token(extra: dict[str, Any], token_use: str = "id") -> str:
    """A signed token with these claims over the defaults (None drops a claim)."""
    return sign(claims(token_use, **extra))


@pytest.fixture
def ruled(make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: object) -> WiredAuthorizer:
    return make_wired(make_config(ROUTE_RULES=json.dumps(RULES)))


def on_route(
    wired: WiredAuthorizer, route: str, token: str, capsys: pytest.CaptureFixture[str]
) -> str:
    """The decision's reason ("ok" for an allow)."""
    capsys.readouterr()
    event = authorizer_event(token)
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    response = wired.handle(event)
    [line] = [
        json.loads(x)
        for x in capsys.readouterr().out.splitlines()
        if '"authorization decision"' in x
    ]
    assert response["isAuthorized"] is (line["reason"] == "ok")
    return str(line["reason"])


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("acme", "ok"),
        ("globex", "ok"),
        (["other", "acme"], "ok"),  # a list claim matches when one of its items does
        ("acm", "claim_mismatch"),
        ("acme ", "claim_mismatch"),
        ("ACME", "claim_mismatch"),
        (["other"], "claim_mismatch"),
        (None, "missing_claim"),
    ],
)
def test_a_claim_any_of(
    ruled: WiredAuthorizer, value: Any, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert on_route(ruled, "GET /tenant", token({"custom:tenant_id": value}), capsys) == reason


@pytest.mark.parametrize(
    ("route", "claim", "value", "reason"),
    [
        ("GET /verified", "email_verified", True, "ok"),
        ("GET /verified", "email_verified", False, "claim_mismatch"),
        ("GET /verified", "email_verified", "true", "claim_mismatch"),  # a string is not true
        ("GET /verified", "email_verified", 1, "claim_mismatch"),  # nor is a number
        ("GET /level", "custom:level", 3, "ok"),
        ("GET /level", "custom:level", 3.0, "ok"),
        ("GET /level", "custom:level", "3", "claim_mismatch"),
        ("GET /level", "custom:level", True, "claim_mismatch"),  # True == 1 in Python, not here
        ("GET /level", "custom:level", 4, "claim_mismatch"),
    ],
)
def test_claims_compare_by_type_and_value(
    ruled: WiredAuthorizer,
    route: str,
    claim: str,
    value: Any,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert on_route(ruled, route, token({claim: value}), capsys) == reason


def test_sign_in_age(ruled: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    ruled.clock.now = now = int(ruled.clock.now)  # whole seconds: the edge is exact
    assert on_route(ruled, "GET /fresh", sign(claims(auth_time=now - 900)), capsys) == "ok"
    too_old = sign(claims(auth_time=now - 901))
    assert on_route(ruled, "GET /fresh", too_old, capsys) == "auth_too_old"
    assert on_route(ruled, "GET /fresh", sign(claims(auth_time=None)), capsys) == "missing_claim"
    odd = sign(claims(auth_time=str(now)))
    assert on_route(ruled, "GET /fresh", odd, capsys) == "invalid_claim"


def test_sign_in_age_follows_the_clock_for_remembered_tokens(
    ruled: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    remembered = sign(claims(auth_time=int(ruled.clock.now), exp=int(ruled.clock.now) + 3600))
    assert on_route(ruled, "GET /fresh", remembered, capsys) == "ok"
    ruled.clock.advance(901)
    assert on_route(ruled, "GET /fresh", remembered, capsys) == "auth_too_old"


def test_route_token_use(ruled: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert on_route(ruled, "GET /machine", sign(claims("access")), capsys) == "ok"
    assert on_route(ruled, "GET /machine", sign(claims("id")), capsys) == "wrong_token_use"


@pytest.mark.parametrize(
    ("token_use", "aud", "reason"),
    [
        ("access", "https://orders.example.com", "ok"),
        ("access", ["https://billing.example.com", "https://orders.example.com"], "ok"),
        ("access", "https://orders.example.com/", "wrong_audience"),
        ("access", "https://orders.example", "wrong_audience"),
        ("access", None, "missing_claim"),
        ("access", [1], "invalid_claim"),
        ("id", None, "wrong_token_use"),
    ],
)
def test_resource_server_audience(
    ruled: WiredAuthorizer,
    token_use: str,
    aud: Any,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = claims(token_use, aud=aud) if token_use == "access" else claims("id")
    assert on_route(ruled, "GET /orders", sign(payload), capsys) == reason


def test_every_part_of_a_rule_applies(
    ruled: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    good: dict[str, Any] = {"cognito:groups": ["admins"], "custom:tenant_id": "acme"}
    assert on_route(ruled, "GET /all", token(good), capsys) == "ok"
    assert on_route(ruled, "GET /all", token(good, "access"), capsys) == "wrong_token_use"
    wrong_group = {**good, "cognito:groups": ["readers"]}
    assert on_route(ruled, "GET /all", token(wrong_group), capsys) == "missing_group"
    other_tenant = {**good, "custom:tenant_id": "globex"}
    assert on_route(ruled, "GET /all", token(other_tenant), capsys) == "claim_mismatch"


@pytest.mark.parametrize(
    "rule",
    [
        {"claims": {}},
        {"claims": []},
        {"claims": {"custom:tenant_id": []}},
        {"claims": {"custom:tenant_id": None}},
        {"claims": {"custom:tenant_id": {"a": 1}}},
        {"claims": {"custom:tenant_id": [["nested"]]}},
        {"claims": {"": "x"}},
        {"maxAuthAgeSeconds": 0},
        {"maxAuthAgeSeconds": "900"},
        {"maxAuthAgeSeconds": True},
        {"maxAuthAgeSeconds": 900.5},
        {"tokenUse": "refresh"},
        {"audiences": []},
        {"audiences": ["two words"]},
        {"scopes": ["hello/read\u00a0hello/admin"]},
        {"scopes": ['quote"d']},
        {"tenant": "acme"},
    ],
)
def test_bad_claim_rules_name_the_variable(rule: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_config(ROUTE_RULES=json.dumps({"GET /x": rule}))
    assert caught.value.variable == "ROUTE_RULES"


# --- scopes, as RFC 6749 section 3.3 reads them ---------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("openid hello/read", "openid hello/read"),
        ("  openid   hello/read ", "openid hello/read"),  # empty pieces are ignored
        ("", ""),
    ],
)
def test_scope_splits_on_ascii_spaces(
    make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: object, scope: str, expected: str
) -> None:
    response = make_wired().handle(authorizer_event(sign(claims("access", scope=scope))))
    assert response["context"]["scope"] == expected


@pytest.mark.parametrize(
    "scope",
    [
        "hello/read\u00a0hello/admin",  # a no-break space is not a separator: no grant
        "hello/read\thello/admin",
        "hello/read\nhello/admin",
        'hello/"read"',
        "hello\\read",
        "héllo/read",
    ],
)
def test_other_whitespace_or_characters_in_scope_are_invalid(
    make_wired: Callable[..., WiredAuthorizer],
    jwks_endpoint: object,
    scope: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rules = json.dumps({"DELETE /hello": {"scopes": ["hello/admin"]}})
    wired = make_wired(make_config(ROUTE_RULES=rules))
    capsys.readouterr()
    event = authorizer_event(sign(claims("access", scope=scope)))
    event["routeKey"] = "DELETE /hello"
    assert wired.handle(event) == {"isAuthorized": False}
    assert reasons(capsys.readouterr().out) == ["invalid_claim"]


# --- claims for the backend --------------------------------------------------------------

CONTEXT_CLAIMS = "custom:tenant_id,email_verified,custom:roles,custom:level,absent"


@pytest.fixture
def copying(make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: object) -> WiredAuthorizer:
    return make_wired(make_config(CONTEXT_CLAIMS=CONTEXT_CLAIMS, CONTEXT_CLAIMS_MAX_BYTES="256"))


def test_configured_claims_reach_the_context_flat(copying: WiredAuthorizer) -> None:
    extra: dict[str, Any] = {
        "custom:tenant_id": "acme",
        "email_verified": True,
        "custom:roles": ["reader", "writer, with comma"],
        "custom:level": 3,
        "custom:secret": "not copied",
    }
    context = copying.handle(authorizer_event(token(extra)))["context"]
    assert context["claim:custom:tenant_id"] == "acme"
    assert context["claim:email_verified"] is True
    assert context["claim:custom:level"] == 3
    assert context["claimList:custom:roles"] == '["reader","writer, with comma"]'
    assert not any("secret" in key or "absent" in key for key in context)
    # the fixed keys are untouched and no value is anything but flat
    assert context["sub"] == "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
    assert all(type(v) in (str, int, float, bool) for v in context.values())


def test_custom_claims_round_trip_into_the_greeter(copying: WiredAuthorizer) -> None:
    extra: dict[str, Any] = {"custom:tenant_id": "acme", "custom:roles": ["reader", "writer"]}
    context = copying.handle(authorizer_event(token(extra)))["context"]
    event = load_event("greeter_post.json")
    event["requestContext"]["authorizer"] = {"lambda": context}
    event["requestContext"]["http"]["method"] = "GET"
    event["body"] = None
    response = greeter(event, None)
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["message"] == "Hello brian"
    assert body["tenant"] == "acme"
    assert body["claims"] == {
        "custom:tenant_id": "acme",
        "email_verified": True,
        "custom:roles": ["reader", "writer"],
    }


@pytest.mark.parametrize(
    "value",
    [{"nested": "object"}, [["nested"]], [{"a": 1}], None],
    ids=["object", "nested-list", "list-of-objects", "null"],
)
def test_a_claim_that_cannot_travel_flat_is_an_invalid_claim(
    copying: WiredAuthorizer, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = claims() | {"custom:roles": value}  # | keeps a null: it is not dropped
    capsys.readouterr()
    assert copying.handle(authorizer_event(sign(payload))) == {"isAuthorized": False}
    assert reasons(capsys.readouterr().out) == ["invalid_claim"]


def test_claims_over_the_size_cap_are_denied_with_their_own_reason(
    copying: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    fits = token({"custom:tenant_id": "a" * 100})
    assert copying.handle(authorizer_event(fits))["isAuthorized"] is True
    too_big = token({"custom:tenant_id": "a" * 300})
    capsys.readouterr()
    assert copying.handle(authorizer_event(too_big)) == {"isAuthorized": False}
    assert reasons(capsys.readouterr().out) == ["context_too_large"]


@pytest.mark.parametrize(
    "names",
    ["a b", "a,,b", "a,a", "x" * 129, "ok,\u00e9"],
    ids=["space", "empty", "dup", "long", "non-ascii"],
)
def test_bad_context_claims_name_the_variable(names: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_config(CONTEXT_CLAIMS=names)
    assert caught.value.variable == "CONTEXT_CLAIMS"


@pytest.mark.parametrize("size", ["63", "8193", "big"])
def test_context_size_cap_has_a_range(size: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_config(CONTEXT_CLAIMS_MAX_BYTES=size)
    assert caught.value.variable == "CONTEXT_CLAIMS_MAX_BYTES"


# docs/configuration.md's step-up example: Cognito now issues amr (a list) and acr in its tokens.
STEP_UP_RULES = {
    "POST /transfer": {"claims": {"amr": "mfa"}},
    "POST /wire": {"claims": {"acr": ["urn:example:loa:2", "urn:example:loa:3"]}},
}


@pytest.fixture
def step_up(make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: object) -> WiredAuthorizer:
    return make_wired(make_config(ROUTE_RULES=json.dumps(STEP_UP_RULES)))


@pytest.mark.parametrize(
    ("amr", "expected"),
    [
        (["pwd", "mfa"], "ok"),  # a list claim matches when one of its items does
        (["mfa"], "ok"),
        ("mfa", "ok"),
        (["pwd"], "claim_mismatch"),
        (["pwd", "otp"], "claim_mismatch"),
        (["MFA"], "claim_mismatch"),  # compared exactly
        ([], "claim_mismatch"),
        (None, "missing_claim"),
    ],
)
def test_step_up_requires_mfa_in_amr(
    step_up: WiredAuthorizer, amr: Any, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert on_route(step_up, "POST /transfer", token({"amr": amr}), capsys) == expected
    # Routes without the rule need only a valid token.
    assert on_route(step_up, "GET /hello", token({"amr": amr}), capsys) == "ok"


@pytest.mark.parametrize(
    ("acr", "expected"),
    [("urn:example:loa:3", "ok"), ("urn:example:loa:1", "claim_mismatch"), (None, "missing_claim")],
)
def test_step_up_by_acr_level(
    step_up: WiredAuthorizer, acr: Any, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert on_route(step_up, "POST /wire", token({"acr": acr}), capsys) == expected


def test_the_docs_step_up_example_is_the_rule_tested_here() -> None:
    from tests.docs.pages import section

    rules = section("docs/configuration.md", "Route rules")
    assert '{"POST /transfer": {"claims": {"amr": "mfa"}}}' in rules
    assert '{"claims": {"acr": ["urn:example:loa:2", "urn:example:loa:3"]}}' in rules


def test_context_claims_are_measured_in_utf8_bytes_keys_included() -> None:
    """docs/configuration.md: the copied entries' compact JSON in UTF-8 bytes; é is 2, € is 3."""
    from shared.context import claims_size

    assert claims_size((("n", "é€"),)) == len('{"claim:n":"é€"}'.encode()) == 19
    assert claims_size((("n", ("é",)),)) == len('{"claimList:n":"[\\"é\\"]"}'.encode())
