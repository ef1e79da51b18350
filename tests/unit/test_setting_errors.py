"""A bad USER_POOLS or ROUTE_RULES stops the cold start with a message that says what to fix.

The message is all an operator gets (a failed init in the function's log),
so each is pinned word for word; and the limits are tested at their edges.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from authorizer.verification.config import load_config
from authorizer.verification.rules import parse_route_rules
from shared.exceptions import ConfigurationError

POOL: Final = {"userPoolId": "us-east-1_TestPool1", "appClientIds": ["testclient123"]}
POOL_KEYS: Final = "['appClientIds', 'jwksUrl', 'replicaRegions', 'tokenUse', 'userPoolId']"


def pools_error(document: Any) -> str:
    raw = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(ConfigurationError) as raised:
        load_config({"USER_POOLS": raw})
    assert raised.value.variable == "USER_POOLS"
    return str(raised.value)


def pool(index: int, **changes: Any) -> dict[str, Any]:
    spec = {"userPoolId": f"us-east-1_Pool{index}", "appClientIds": ["testclient123"]}
    spec.update(changes)
    return {k: v for k, v in spec.items() if v is not None}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[", "is not valid JSON"),
        ({}, "must be a JSON list of 1 to 10 pools"),
        ([], "must be a JSON list of 1 to 10 pools"),
        ([pool(i) for i in range(11)], "must be a JSON list of 1 to 10 pools"),
        ([POOL, POOL], "lists a user pool twice"),
        ([POOL, "x"], f"pool 1 must be an object with keys among {POOL_KEYS}"),
        ([POOL, {**POOL, "issuer": "x"}], f"pool 1 must be an object with keys among {POOL_KEYS}"),
        ([{"appClientIds": ["a"]}], "pool 0 needs a userPoolId"),
        ([pool(1, appClientIds=[])], "us-east-1_Pool1: appClientIds must list app client ids"),
        ([pool(1, tokenUse=1)], "us-east-1_Pool1: tokenUse must be a string"),
        ([pool(1, tokenUse="both")], "token use must be one of id, access, any"),
        (
            [pool(1, replicaRegions=["us-east-1"])],
            "us-east-1_Pool1: replicaRegions must list other regions, each once, e.g. eu-west-1",
        ),
        ([pool(1, jwksUrl=5)], "us-east-1_Pool1: jwksUrl must be a URL"),
    ],
    ids=[
        "json",
        "object",
        "empty",
        "eleven",
        "twice",
        "not-object",
        "unknown-key",
        "no-id",
        "no-clients",
        "token-use-type",
        "token-use-value",
        "replica-own-region",
        "jwks-url-type",
    ],
)
def test_user_pools_problems_are_named(document: Any, message: str) -> None:
    assert pools_error(document) == f"USER_POOLS: {message}"


@pytest.mark.parametrize("count", [1, 10])
def test_one_to_ten_pools_are_accepted(count: int) -> None:
    config = load_config({"USER_POOLS": json.dumps([pool(i) for i in range(count)])})
    assert [p.user_pool_id for p in config.pools] == [f"us-east-1_Pool{i}" for i in range(count)]
    assert all(p.token_use == "any" for p in config.pools)  # the default
    assert all(p.region == "us-east-1" for p in config.pools)


def rules_error(document: Any) -> str:
    with pytest.raises(ConfigurationError) as raised:
        parse_route_rules(document if isinstance(document, str) else json.dumps(document))
    assert raised.value.variable == "ROUTE_RULES"
    return str(raised.value)


RULE_KEYS: Final = "['audiences', 'claims', 'groups', 'maxAuthAgeSeconds', 'scopes', 'tokenUse']"
CLAIMS_PROBLEM: Final = (
    "'GET /x': claims must map claim names to a value or a non-empty list of values"
)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "is not valid JSON"),
        ([], "must be a JSON object keyed by route key"),
        (
            {"/x": {"groups": ["a"]}},
            "'/x' is not a route key like 'GET /hello', '$default' or '$connect'",
        ),
        ({"GET /x": {}}, f"'GET /x' needs an object with keys among {RULE_KEYS}"),
        (
            {"GET /x": {"maxAuthAgeSeconds": 0}},
            "'GET /x': maxAuthAgeSeconds must be a whole number 1..604800",
        ),
        (
            {"GET /x": {"maxAuthAgeSeconds": 604801}},
            "'GET /x': maxAuthAgeSeconds must be a whole number 1..604800",
        ),
        ({"GET /x": {"tokenUse": "any"}}, "'GET /x': tokenUse must be 'id' or 'access'"),
        (
            {"GET /x": {"groups": ["a b"]}},
            "'GET /x': groups must be a list of names without whitespace",
        ),
        ({"GET /x": {"scopes": []}}, "'GET /x': scopes must not be empty"),
        (
            {"GET /x": {"audiences": "api"}},
            "'GET /x': audiences must be a list of names without whitespace",
        ),
        ({"GET /x": {"claims": {}}}, CLAIMS_PROBLEM),
        ({"GET /x": {"claims": {"tier": []}}}, CLAIMS_PROBLEM),
        ({"GET /x": {"claims": {"tier": [1.5, float("inf")]}}}, CLAIMS_PROBLEM),
    ],
)
def test_route_rules_problems_are_named(document: Any, message: str) -> None:
    assert rules_error(document) == f"ROUTE_RULES: {message}"


@pytest.mark.parametrize("seconds", [1, 604800])
def test_max_auth_age_from_one_second_to_a_week(seconds: int) -> None:
    rules = parse_route_rules(json.dumps({"GET /x": {"maxAuthAgeSeconds": seconds}}))
    assert rules["GET /x"].max_auth_age_seconds == seconds


def test_group_names_need_only_be_free_of_whitespace() -> None:
    """Scopes are RFC 6749 scope-tokens; a group name may hold a quote or a backslash."""
    rules = parse_route_rules(json.dumps({"GET /x": {"groups": ['a"b', "c\\d"]}}))
    assert rules["GET /x"].groups == {'a"b', "c\\d"}
    assert "scopes" in rules_error({"GET /x": {"scopes": ['a"b']}})


def test_a_claim_rule_may_allow_a_fractional_number() -> None:
    rules = parse_route_rules(json.dumps({"GET /x": {"claims": {"tier": [1.5, 2]}}}))
    assert rules["GET /x"].claims == (("tier", (1.5, 2)),)


# --- the one-pool settings: each refusal word for word ------------------------------------

ONE_POOL: Final = {"USER_POOL_ID": "us-east-1_TestPool1", "APP_CLIENT_IDS": "testclient123"}
ORIGINAL_ISSUER: Final = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"JWKS_URL": "https://user:secret@keys.example.com/jwks.json"},
            "JWKS_URL: must not contain user info ('@') or a backslash",
        ),
        (
            {"USER_POOL_ID": "nope"},
            "USER_POOL_ID: must look like <region>_<id>, e.g. us-east-1_AbC123xyz",
        ),
        (
            {"APP_CLIENT_IDS": "a,,b"},
            "APP_CLIENT_IDS: must be comma-separated app client ids with no empty entries",
        ),
        (
            {"ISSUER": ORIGINAL_ISSUER, "REPLICA_REGIONS": "eu-west-1"},
            "ISSUER: accepts exactly one iss, so REPLICA_REGIONS must not be set",
        ),
        (
            {"ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/other"},
            "ISSUER: must end with /us-east-1_TestPool1 (USER_POOL_ID)",
        ),
        (
            {"CONTEXT_CLAIMS_MAX_BYTES": "63"},
            "CONTEXT_CLAIMS_MAX_BYTES: must be between 64 and 8192 bytes",
        ),
    ],
    ids=[
        "key-url-user-info",
        "pool-id",
        "client-ids",
        "issuer-beside-replicas",
        "issuer-end",
        "context-bytes",
    ],
)
def test_each_one_pool_refusal_says_what_to_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_config({**ONE_POOL, **env})
    assert str(raised.value) == message


def test_the_one_pool_defaults_are_what_the_reference_says() -> None:
    config = load_config({**ONE_POOL, "TOKEN_USE": " "})  # blank: any, as unset
    assert (config.pool.user_pool_id, config.pool.token_use) == ("us-east-1_TestPool1", "any")
    assert config.pool.issuer == ORIGINAL_ISSUER
    assert config.context_claims_max_bytes == 2048
    assert config.context_claims == ()
