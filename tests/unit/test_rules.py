"""ROUTE_RULES: per-route Cognito groups and OAuth scopes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from authorizer.verification.rules import RouteRule, parse_route_rules
from shared.exceptions import ConfigurationError
from tests.forge import authorizer_event, claims, sign
from tests.helpers import WiredAuthorizer, make_config

RULES = json.dumps(
    {
        "POST /hello": {"groups": ["admins", "greeters"]},
        "DELETE /hello": {"scopes": ["hello/admin"]},
        "PUT /hello": {"groups": ["admins"], "scopes": ["hello/write"]},
    }
)


def on_route(wired: WiredAuthorizer, route: str, token: str) -> dict[str, Any]:
    event = authorizer_event(token)
    event["routeKey"] = event["requestContext"]["routeKey"] = route
    return wired.handle(event)


@pytest.fixture
def ruled(make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: object) -> WiredAuthorizer:
    return make_wired(make_config(ROUTE_RULES=RULES))


def grouped(groups: list[str] | None, token_use: str = "id", **extra: Any) -> dict[str, Any]:
    """Claims with these cognito:groups (None: no groups claim at all)."""
    payload = claims(token_use, **extra)
    payload.pop("cognito:groups", None)
    if groups is not None:
        payload["cognito:groups"] = groups
    return payload


def reasons(out: str) -> list[str]:
    return [json.loads(line)["reason"] for line in out.splitlines() if "decision" in line]


def test_parse() -> None:
    rules = parse_route_rules(RULES)
    assert rules["POST /hello"] == RouteRule(groups=frozenset({"admins", "greeters"}))
    assert rules["PUT /hello"] == RouteRule(frozenset({"admins"}), frozenset({"hello/write"}))
    assert parse_route_rules("") == parse_route_rules("  ") == {}


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[]",
        '{"hello": {"groups": ["a"]}}',
        '{"POST hello": {"groups": ["a"]}}',
        '{"POST /hello": {}}',
        '{"POST /hello": {"groups": []}}',
        '{"POST /hello": {"groups": "admins"}}',
        '{"POST /hello": {"groups": ["two words"]}}',
        '{"POST /hello": {"roles": ["a"]}}',
        '{"POST /hello": ["admins"]}',
    ],
)
def test_bad_rules_name_the_variable(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        make_config(ROUTE_RULES=raw)
    assert caught.value.variable == "ROUTE_RULES"


def test_any_required_group_allows(ruled: WiredAuthorizer) -> None:
    token = sign(grouped(["greeters"]))
    assert on_route(ruled, "POST /hello", token)["isAuthorized"] is True


@pytest.mark.parametrize("groups", [None, [], ["readers"]])
def test_no_required_group_denies(
    ruled: WiredAuthorizer, groups: list[str] | None, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    token = sign(grouped(groups))
    assert on_route(ruled, "POST /hello", token) == {"isAuthorized": False}
    out = capsys.readouterr().out
    assert reasons(out) == ["missing_group"]
    [decision] = [json.loads(line) for line in out.splitlines() if "decision" in line]
    assert decision["sub"].startswith("0b7e5a3c")  # the verified caller is named


def test_scopes_are_any_of_and_only_in_access_tokens(ruled: WiredAuthorizer) -> None:
    admin = sign(claims("access", scope="openid hello/admin"))
    reader = sign(claims("access", scope="openid hello/read"))
    assert on_route(ruled, "DELETE /hello", admin)["isAuthorized"] is True
    assert on_route(ruled, "DELETE /hello", reader) == {"isAuthorized": False}
    assert on_route(ruled, "DELETE /hello", sign(claims("id"))) == {"isAuthorized": False}


def test_groups_and_scopes_both_apply(
    ruled: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    both = sign(grouped(["admins"], "access", scope="hello/write"))
    no_scope = sign(grouped(["admins"], "access", scope="hello/read"))
    assert on_route(ruled, "PUT /hello", both)["isAuthorized"] is True
    capsys.readouterr()
    assert on_route(ruled, "PUT /hello", no_scope) == {"isAuthorized": False}
    assert reasons(capsys.readouterr().out) == ["missing_scope"]


@pytest.mark.parametrize("route", [None, ["POST /hello"], {"k": 1}, 7])
def test_odd_route_keys_are_not_a_crash(ruled: WiredAuthorizer, route: Any) -> None:
    event = authorizer_event(sign(grouped(None)))
    event["routeKey"] = route
    assert ruled.handle(event)["isAuthorized"] is True  # no rule matches a non-route


def test_unlisted_routes_need_only_a_valid_token(ruled: WiredAuthorizer) -> None:
    token = sign(grouped(None))
    assert on_route(ruled, "GET /hello", token)["isAuthorized"] is True


def test_a_remembered_token_is_still_held_to_each_route(ruled: WiredAuthorizer) -> None:
    token = sign(grouped(["readers"]))
    assert on_route(ruled, "GET /hello", token)["isAuthorized"] is True
    assert on_route(ruled, "POST /hello", token) == {"isAuthorized": False}
