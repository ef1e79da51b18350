"""Every documented rule held at its edge: inputs one step from a valid one.

Each test feeds what differs from something valid only where the rule draws
its line: a prefix or a suffix, one character of case or of another script,
one element more or fewer, a type Python would coerce (``true`` as 1, ``"1"``
as 1), a range's ends and one past them, multi-byte text at a size limit.
The semantic mutants (tests/mutation/semantic.toml) plant the loosened rules
these tests must catch.
"""

from __future__ import annotations

import base64
import json
import math
import string
from collections.abc import Callable
from typing import Any, Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authorizer.api.rest import RestAuthorizer, load_api_settings
from authorizer.exceptions import InvalidClaim, MalformedToken, MissingToken
from authorizer.verification.config import load_config
from authorizer.verification.rules import RouteRule, enforce
from authorizer.verification.token import extract_token, parse_bearer
from authorizer.verification.verify import context_claims
from greeter.app import lambda_handler as greeter
from shared.context import AuthContext, claims_size, decode_context, encode_context
from shared.exceptions import ConfigurationError
from tests.forge import (
    POOL_ID,
    authorizer_event,
    claims,
    forged_key,
    load_event,
    sign,
    sign_raw,
)
from tests.helpers import BASE_ENV, WiredAuthorizer, make_config
from tests.unit.test_claim_rules import on_route

VALID_POOL_ID: Final = "us-east-1_AbC123xyz"
ORIGINAL_ISSUER: Final = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL_ID}"
FAST: Final = settings(max_examples=60, deadline=None)
KEY: Final = forged_key()


def refused(env: dict[str, str]) -> str:
    """The variable a configuration error names."""
    with pytest.raises(ConfigurationError) as caught:
        load_config(env)
    return caught.value.variable


def pools(*specs: dict[str, Any]) -> dict[str, str]:
    return {"USER_POOLS": json.dumps(list(specs))}


def pool(**changes: Any) -> dict[str, Any]:
    return {"userPoolId": VALID_POOL_ID, "appClientIds": ["abc"], **changes}


# --- whole-match validators: pool ids, issuers, loopback hosts, names -----------------


@pytest.mark.parametrize(
    "pool_id",
    [
        f"{VALID_POOL_ID}/x",
        f"{VALID_POOL_ID}-x",
        f"{VALID_POOL_ID}.",
        f"{VALID_POOL_ID}\u00e9",  # a letter of another alphabet after the id
        f"x{VALID_POOL_ID}",
        f"/{VALID_POOL_ID}",
        "US-EAST-1_AbC123xyz",  # the region in capitals
        "us-east-1_AbC123xyz\u0430",  # a Cyrillic a, looks like the Latin one
        "us-east-1_",
        "us-east_AbC123xyz",
        "us-east-1-AbC123xyz",
    ],
)
def test_a_pool_id_is_matched_whole(pool_id: str) -> None:
    assert refused({**BASE_ENV, "USER_POOL_ID": pool_id}) == "USER_POOL_ID"
    assert refused(pools(pool(userPoolId=pool_id))) == "USER_POOLS"


@FAST
@given(
    affix=st.text(min_size=1, max_size=8).filter(lambda s: s.strip() == s),
    suffix=st.booleans(),
)
def test_anything_around_a_pool_id_makes_it_invalid(affix: str, suffix: bool) -> None:
    # A suffix of id characters is still an id, a prefix of lower-case letters or hyphens
    # may still spell a region: only the others are "around" it.
    keeps_shape = string.ascii_letters + string.digits if suffix else string.ascii_lowercase + "-"
    if affix[0 if suffix else -1] in keeps_shape:
        return
    pool_id = VALID_POOL_ID + affix if suffix else affix + VALID_POOL_ID
    assert refused({**BASE_ENV, "USER_POOL_ID": pool_id}) == "USER_POOL_ID"


@pytest.mark.parametrize(
    "issuer",
    [
        ORIGINAL_ISSUER + "x",  # another pool whose id starts with ours
        ORIGINAL_ISSUER + "/",
        ORIGINAL_ISSUER + "/extra",
        ORIGINAL_ISSUER[:-1],
        ORIGINAL_ISSUER.replace(POOL_ID, POOL_ID.upper()),
    ],
)
def test_issuer_must_end_with_exactly_the_pool_id(issuer: str) -> None:
    assert refused({**BASE_ENV, "ISSUER": issuer}) == "ISSUER"


def test_an_issuer_ending_with_the_pool_id_is_accepted() -> None:
    config = make_config(ISSUER=ORIGINAL_ISSUER)
    assert config.pool.issuers == frozenset({ORIGINAL_ISSUER})


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost.example.com/jwks.json",
        "http://localhostx/jwks.json",
        "http://xlocalhost/jwks.json",
        "http://127.0.0.1.example.com/jwks.json",
        "http://127.0.0.1.nip.io/jwks.json",
        "http://127.1/jwks.json",  # not an address ipaddress reads; not guessed at
        "http://128.0.0.1/jwks.json",
        "http://10.0.0.1/jwks.json",
        "http://[::2]/jwks.json",
        # urlsplit reads the host after the last "@", requests (urllib3) before the
        # backslash: the rule must hold for the host the fetch really connects to.
        "http://evil.example\\@localhost/jwks.json",
        "http://evil.example\\@127.0.0.1/jwks.json",
        "http://user@localhost/jwks.json",
        "ftp://127.0.0.1/jwks.json",
    ],
)
def test_plain_http_only_for_a_loopback_host_matched_whole(url: str) -> None:
    assert refused({**BASE_ENV, "JWKS_URL": url}) == "JWKS_URL"
    assert refused(pools(pool(jwksUrl=url))) == "USER_POOLS"


@pytest.mark.parametrize(
    "url",
    [
        "https://user:secret@keys.example.com/jwks.json",
        "https://keys.example.com@other.example/jwks.json",
        "https://keys.example.com\\jwks.json",
        "https://keys.example.com/a\\b/jwks.json",
    ],
)
def test_a_key_url_with_user_info_or_a_backslash_is_refused(url: str) -> None:
    assert refused({**BASE_ENV, "JWKS_URL": url}) == "JWKS_URL"
    assert refused(pools(pool(jwksUrl=url))) == "USER_POOLS"


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9229/jwks.json",
        "http://LOCALHOST:9229/jwks.json",  # host names are case-insensitive
        "http://127.0.0.1:9229/jwks.json",
        "http://127.0.0.2/jwks.json",
        "http://[::1]:9229/jwks.json",
        "https://keys.example.com/jwks.json",
    ],
)
def test_loopback_hosts_and_https_are_accepted(url: str) -> None:
    assert make_config(JWKS_URL=url).pool.jwks_url == url
    assert load_config(pools(pool(jwksUrl=url))).pool.jwks_url == url


@pytest.mark.parametrize(
    "regions",
    [["eu-west-1x"], ["eu-west-1 "], [" eu-west-1"], ["EU-WEST-1"], ["eu-west-1/"], ["us-east-1"]],
)
def test_replica_regions_are_matched_whole(regions: list[str]) -> None:
    assert refused(pools(pool(replicaRegions=regions))) == "USER_POOLS"
    listed = ",".join(regions)
    if listed.strip() == listed:  # the variable's comma-separated entries are stripped
        env = {**BASE_ENV, "USER_POOL_ID": VALID_POOL_ID, "REPLICA_REGIONS": listed}
        assert refused(env) == "REPLICA_REGIONS"


def test_a_replica_region_is_accepted_once() -> None:
    replica = f"https://cognito-idp.eu-west-1.amazonaws.com/{VALID_POOL_ID}"
    assert replica in load_config(pools(pool(replicaRegions=["eu-west-1"]))).pool.issuers
    env = {**BASE_ENV, "USER_POOL_ID": VALID_POOL_ID, "REPLICA_REGIONS": "eu-west-1"}
    assert replica in load_config(env).pool.issuers
    twice = ["eu-west-1", "eu-west-1"]
    assert refused(pools(pool(replicaRegions=twice))) == "USER_POOLS"
    assert refused({**env, "REPLICA_REGIONS": ",".join(twice)}) == "REPLICA_REGIONS"


@pytest.mark.parametrize(
    "iss",
    [
        ORIGINAL_ISSUER + "/",
        ORIGINAL_ISSUER + "x",
        ORIGINAL_ISSUER + "/.well-known/jwks.json",
        ORIGINAL_ISSUER + " ",
        ORIGINAL_ISSUER.replace("https://cognito-idp.", "https://COGNITO-IDP."),
        ORIGINAL_ISSUER.replace("https://", "http://"),
        ORIGINAL_ISSUER.replace("cognito-idp", "cognito-idp-fips"),
        ORIGINAL_ISSUER.replace(POOL_ID, POOL_ID.lower()),
    ],
)
@pytest.mark.parametrize("kid", ["key-1", "kid-nobody-has"])
def test_an_issuer_that_is_almost_a_trusted_one_is_denied_before_any_fetch(
    make_wired: Callable[..., WiredAuthorizer],
    jwks_endpoint: object,
    iss: str,
    kid: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wired = make_wired()
    token = sign(claims(iss=iss), KEY, kid=kid)
    assert on_route(wired, "GET /any", token, capsys) == "wrong_issuer"
    assert wired.fetches == []  # an untrusted iss never reaches a key set


@pytest.mark.parametrize(
    "names",
    ["email verified", "email,email", "caf\u00e9", "x" * 129, "email,", "a\tb"],
)
def test_context_claim_names_are_matched_whole(names: str) -> None:
    assert refused({**BASE_ENV, "CONTEXT_CLAIMS": names}) == "CONTEXT_CLAIMS"


def test_a_context_claim_name_of_128_printable_characters_is_accepted() -> None:
    name = "x" * 127 + "~"
    assert make_config(CONTEXT_CLAIMS=name).context_claims == (name,)


@pytest.mark.parametrize(
    "route",
    [
        "GET /hello x",
        "GET /hello\t",
        "get /hello",
        "GET  /hello",
        " GET /hello",
        "$default ",
        "GETS /x",
    ],
)
def test_route_rule_keys_are_matched_whole(route: str) -> None:
    rules = json.dumps({route: {"groups": ["admins"]}})
    assert refused({**BASE_ENV, "ROUTE_RULES": rules}) == "ROUTE_RULES"


# --- settings that must be refused, not ignored ----------------------------------------


# Each one-pool setting with a value it would accept alone (README: they cannot be combined).
ONE_POOL_SETTINGS: Final = {
    **BASE_ENV,
    "TOKEN_USE": "access",
    "REPLICA_REGIONS": "eu-west-1",
    "ISSUER": ORIGINAL_ISSUER,
    "JWKS_URL": "https://keys.example.com/jwks.json",
}


@pytest.mark.parametrize(
    "single",
    ["USER_POOL_ID", "APP_CLIENT_IDS", "TOKEN_USE", "REPLICA_REGIONS", "ISSUER", "JWKS_URL"],
)
def test_one_pool_settings_beside_user_pools_are_refused(single: str) -> None:
    assert refused({**pools(pool()), single: ONE_POOL_SETTINGS[single]}) == "USER_POOLS"


# (variable, smallest, largest) as README's Configuration table states them.
RANGES: Final = [
    ("JWKS_CACHE_SECONDS", 1, 604800),
    ("JWKS_MISS_COOLDOWN_SECONDS", 1, 604800),
    ("LEEWAY_SECONDS", 0, 300),
    ("CONTEXT_CLAIMS_MAX_BYTES", 64, 8192),
]
ATTRIBUTE: Final = {
    "JWKS_CACHE_SECONDS": "jwks_cache_seconds",
    "JWKS_MISS_COOLDOWN_SECONDS": "jwks_miss_cooldown_seconds",
    "LEEWAY_SECONDS": "leeway_seconds",
    "CONTEXT_CLAIMS_MAX_BYTES": "context_claims_max_bytes",
}


@pytest.mark.parametrize(("variable", "smallest", "largest"), RANGES)
def test_whole_number_settings_at_their_range_ends(
    variable: str, smallest: int, largest: int
) -> None:
    for accepted in (smallest, largest):
        config = make_config(**{variable: str(accepted)})
        assert getattr(config, ATTRIBUTE[variable]) == accepted
    for outside in (smallest - 1, largest + 1):
        assert refused({**BASE_ENV, variable: str(outside)}) == variable


@pytest.mark.parametrize("variable", [variable for variable, _, _ in RANGES])
@pytest.mark.parametrize("raw", ["1.0", "1e3", "true", "0x10", "ten", "100 s"])
def test_whole_number_settings_refuse_what_python_could_coerce(variable: str, raw: str) -> None:
    assert refused({**BASE_ENV, variable: raw}) == variable


def test_a_cooldown_of_zero_is_refused_not_read_as_no_cooldown() -> None:
    assert refused({**BASE_ENV, "JWKS_MISS_COOLDOWN_SECONDS": "0"}) == "JWKS_MISS_COOLDOWN_SECONDS"


@pytest.mark.parametrize(
    "rule",
    [
        {"maxAuthAgeSeconds": 604801},
        {"maxAuthAgeSeconds": 0},
        {"maxAuthAgeSeconds": -1},
        {"maxAuthAgeSeconds": 900.0},
        {"maxAuthAgeSeconds": False},
        {"maxAuthAgeSeconds": None, "groups": []},
        {"groups": ["admins", 1]},
        {"groups": "admins"},
        {"scopes": ["hello/read", None]},
        {"claims": {"custom:tenant_id": ["acme", {"b": 1}]}},
        {"claims": {"custom:tenant_id": ["acme", None]}},
        {"claims": {"custom:tenant_id": ["acme", ["globex"]]}},
        {"claims": {"custom:level": float("nan")}},
        {"tokenUse": "ID"},
        {"tokenUse": "any"},
    ],
)
def test_route_rule_values_at_the_edge_are_refused(rule: dict[str, Any]) -> None:
    assert refused({**BASE_ENV, "ROUTE_RULES": json.dumps({"GET /x": rule})}) == "ROUTE_RULES"


def test_max_auth_age_of_a_week_is_accepted() -> None:
    rules = make_config(ROUTE_RULES=json.dumps({"GET /x": {"maxAuthAgeSeconds": 604800}}))
    assert rules.route_rules["GET /x"].max_auth_age_seconds == 604800


# --- claim rules -------------------------------------------------------------------------

NON_STRINGS: Final = [1, 1.5, True, None, ["x"], {"a": "b"}]
# Every claim the docs type, the token use it is read for, and the reason a wrong type gets.
TYPED_CLAIMS: Final = [
    ("iss", "id", "invalid_claim"),
    ("sub", "id", "invalid_claim"),
    ("jti", "id", "invalid_claim"),
    ("jti", "access", "invalid_claim"),
    ("email", "id", "invalid_claim"),
    ("cognito:username", "id", "invalid_claim"),
    ("aud", "id", "invalid_claim"),
    ("username", "access", "invalid_claim"),
    ("scope", "access", "invalid_claim"),
    ("client_id", "access", "invalid_claim"),
    ("token_use", "id", "wrong_token_use"),
]


@pytest.fixture
def plain(make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: object) -> WiredAuthorizer:
    return make_wired(
        make_config(
            ROUTE_RULES=json.dumps(
                {
                    "GET /fresh": {"maxAuthAgeSeconds": 900},
                    "GET /admins": {"groups": ["admins"]},
                    "GET /write": {"scopes": ["hello/write"]},
                }
            ),
            CONTEXT_CLAIMS="custom:roles,custom:note",
            CONTEXT_CLAIMS_MAX_BYTES="64",
        )
    )


def decide(wired: WiredAuthorizer, payload: dict[str, Any], capsys: Any, route: str) -> str:
    return on_route(wired, route, sign(payload), capsys)


@pytest.mark.parametrize(("claim", "token_use", "reason"), TYPED_CLAIMS)
@pytest.mark.parametrize("value", NON_STRINGS, ids=repr)
def test_every_typed_claim_refuses_every_other_json_type(
    plain: WiredAuthorizer,
    claim: str,
    token_use: str,
    reason: str,
    value: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload = claims(token_use) | {claim: value}  # forge.claims would drop a None
    # Assembled by hand: PyJWT's encode refuses to write a non-string iss.
    token = sign_raw({"alg": "RS256", "kid": KEY.kid}, payload, KEY.sign_bytes)
    assert on_route(plain, "GET /any", token, capsys) == reason


def test_a_string_jti_and_no_jti_are_both_fine(
    plain: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert decide(plain, claims(jti="anything"), capsys, "GET /any") == "ok"
    assert decide(plain, claims(jti=None), capsys, "GET /any") == "ok"


@pytest.mark.parametrize("date", ["exp", "iat", "nbf"])
@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, True, False, "1767225600", [1]], ids=repr
)
def test_dates_must_be_finite_numbers(
    plain: WiredAuthorizer, date: str, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # json.dumps writes NaN and Infinity, and Python's JSON parser (PyJWT's) reads them back.
    assert decide(plain, claims(**{date: value}), capsys, "GET /any") == "invalid_claim"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "invalid_claim"),
        (math.inf, "invalid_claim"),
        (-math.inf, "invalid_claim"),
        (True, "invalid_claim"),
        ("0", "invalid_claim"),
        (None, "invalid_claim"),
        ([0], "invalid_claim"),
        # Whole numbers too large for a float are still numbers, compared exactly.
        (10**400, "ok"),
        (-(10**400), "auth_too_old"),
    ],
    ids=repr,
)
def test_auth_time_must_be_a_finite_number_on_a_sign_in_age_route(
    plain: WiredAuthorizer, value: Any, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = claims() | {"auth_time": value}
    assert decide(plain, payload, capsys, "GET /fresh") == reason


@pytest.mark.parametrize(
    ("groups", "reason"),
    [
        (["admins"], "ok"),
        (["readers", "admins"], "ok"),
        (["Admins"], "missing_group"),
        (["ADMINS"], "missing_group"),
        (["admin"], "missing_group"),
        (["adminsx"], "missing_group"),
        (["\uff41\uff44\uff4d\uff49\uff4e\uff53"], "missing_group"),  # fullwidth letters
        (["\u0430dmins"], "missing_group"),  # a Cyrillic a
        (["admins\u200b"], "missing_group"),  # a zero-width space is not whitespace
        (["readers admins"], "invalid_claim"),  # one name holding a space is not two
        (["readers", "adm\u00a0ins"], "invalid_claim"),
        (["readers", 1], "invalid_claim"),
        ("admins", "invalid_claim"),
    ],
)
def test_groups_are_compared_exactly(
    plain: WiredAuthorizer, groups: Any, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert decide(plain, claims(**{"cognito:groups": groups}), capsys, "GET /admins") == reason


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("openid hello/write", "ok"),
        ("Hello/Write", "missing_scope"),
        ("HELLO/WRITE", "missing_scope"),
        ("hello/writes", "missing_scope"),
        ("hello/writ", "missing_scope"),
        ("hello/write\u00a0", "invalid_claim"),
        ("openid hello\uff0fwrite", "invalid_claim"),  # a fullwidth solidus
    ],
)
def test_scopes_are_compared_exactly(
    plain: WiredAuthorizer, scope: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert decide(plain, claims("access", scope=scope), capsys, "GET /write") == reason


NAME_CHARS: Final = st.characters(blacklist_categories=("Cs", "Z", "Cc"))


@FAST
@given(name=st.text(NAME_CHARS, min_size=1, max_size=12))
def test_only_the_exact_group_name_meets_a_group_rule(name: str) -> None:
    rule = RouteRule(groups=frozenset({"admins"}))
    context = AuthContext("sub", "user", "id", "client", groups=(name,))
    if name == "admins":
        enforce(rule, context, {}, 0.0)
    else:
        with pytest.raises(Exception, match="none of the groups"):
            enforce(rule, context, {}, 0.0)


SCALARS: Final = (
    st.text(max_size=5)
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
)
NON_SCALARS: Final = st.sampled_from(
    [None, {"a": 1}, ["nested"], [], math.nan, math.inf, -math.inf, {}]
)


@FAST
@given(items=st.lists(SCALARS, max_size=5), odd=NON_SCALARS, data=st.data())
def test_one_non_scalar_item_in_a_copied_list_claim_is_invalid(
    items: list[Any], odd: Any, data: st.DataObject
) -> None:
    assert context_claims({"roles": items}, ["roles"], 8192) == (("roles", tuple(items)),)
    position = data.draw(st.integers(0, len(items)))
    with pytest.raises(InvalidClaim):
        context_claims({"roles": [*items[:position], odd, *items[position:]]}, ["roles"], 8192)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, None, {"a": 1}], ids=repr)
def test_a_copied_claim_that_is_no_context_value_is_invalid(
    plain: WiredAuthorizer, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = claims() | {"custom:note": value}
    assert decide(plain, payload, capsys, "GET /any") == "invalid_claim"


def test_a_copied_list_claim_with_one_object_is_denied_through_the_authorizer(
    plain: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = claims() | {"custom:roles": ["reader", {"admin": True}, "writer"]}
    assert decide(plain, payload, capsys, "GET /any") == "invalid_claim"
    payload = claims() | {"custom:roles": ["reader", "writer"]}
    assert decide(plain, payload, capsys, "GET /any") == "ok"


# --- sizes in the unit the docs give ---------------------------------------------------

# '{"claim:custom:note":""}' is 24 bytes: a cap of 64 leaves 40 bytes for the value.
ENVELOPE: Final = len('{"claim:custom:note":""}')


@pytest.mark.parametrize(
    ("character", "width"), [("a", 1), ("\u00e9", 2), ("\u540d", 3), ("\U0001f600", 4)]
)
def test_the_context_claims_cap_counts_utf8_bytes(
    plain: WiredAuthorizer, character: str, width: int, capsys: pytest.CaptureFixture[str]
) -> None:
    fits = character * ((64 - ENVELOPE) // width)
    assert claims_size((("custom:note", fits),)) == ENVELOPE + len(fits) * width <= 64
    assert decide(plain, claims() | {"custom:note": fits}, capsys, "GET /any") == "ok"
    over = fits + character
    assert decide(plain, claims() | {"custom:note": over}, capsys, "GET /any") == (
        "context_too_large"
    )


@FAST
@given(value=st.text(max_size=40))
def test_the_claims_size_is_the_utf8_length_of_the_json_api_gateway_receives(value: str) -> None:
    encoded = json.dumps({"claim:x": value}, separators=(",", ":"), ensure_ascii=False)
    assert claims_size((("x", value),)) == len(encoded.encode("utf-8", "surrogatepass"))


def greet(first: str, last: str = "Morrison", **extra: str) -> dict[str, Any]:
    event = load_event("greeter_post.json")
    event["body"] = json.dumps({"firstName": first, "lastName": last, **extra}, ensure_ascii=False)
    return greeter(event, None)


@pytest.mark.parametrize("character", ["a", "\u00e9", "\u540d", "\U0001f600"])
def test_names_are_limited_in_characters_not_bytes(character: str) -> None:
    assert greet(character * 100)["statusCode"] == 200
    assert greet("Brian", character * 100)["statusCode"] == 200
    assert greet(character * 101)["statusCode"] == 400
    assert greet("Brian", character * 101)["statusCode"] == 400


def test_spaces_around_a_name_do_not_count_against_its_limit() -> None:
    answer = greet("  " + "a" * 100 + "  ")
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["message"] == f"Hello {'a' * 100} Morrison"


@pytest.mark.parametrize("base64_encoded", [False, True], ids=["text", "base64"])
@pytest.mark.parametrize("character", ["a", "\u00e9", "\u540d"])
def test_the_body_cap_is_4096_bytes(base64_encoded: bool, character: str) -> None:
    def body_of(size: int) -> str:
        head = json.dumps({"firstName": "Brian", "lastName": "Morrison", "pad": ""})[:-2]
        room = size - len(head.encode()) - 2
        pad = character * (room // len(character.encode())) + "x" * (room % len(character.encode()))
        text = head + pad + '"}'
        assert len(text.encode()) == size
        return text

    for size, status in ((4096, 200), (4097, 400)):
        event = load_event("greeter_post.json")
        text = body_of(size)
        if base64_encoded:
            event["body"] = base64.b64encode(text.encode()).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
            event["isBase64Encoded"] = False
        assert greeter(event, None)["statusCode"] == status, (size, character)


# --- prefix matches where a whole match is meant ---------------------------------------

ARN_PREFIX: Final = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"


def rest_handle(wired: WiredAuthorizer, request: str) -> dict[str, Any]:
    rules = make_config(ROUTE_RULES=json.dumps({"GET /admin": {"groups": ["ops"]}})).route_rules
    settings = load_api_settings({"API_TYPE": "rest", "API_ROUTES": "GET /hello,GET /admin"}, rules)
    event = load_event("rest_token.json")
    event["authorizationToken"] = f"Bearer {sign(claims())}"
    event["methodArn"] = ARN_PREFIX + request
    return RestAuthorizer(wired.authorizer, rules, settings.routes).handle(event)


@pytest.mark.parametrize(
    ("request_path", "reason"),
    [
        ("GET/hello", "ok"),
        ("GET/hello/admin", "unknown_route"),
        ("GET/hellox", "unknown_route"),
        ("GET/admin", "missing_group"),
        ("GET/admin/x", "unknown_route"),
        ("POST/hello", "unknown_route"),
    ],
)
def test_a_rest_request_is_matched_to_a_route_whole(
    wired: WiredAuthorizer, request_path: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    rest_handle(wired, request_path)
    [line] = [
        json.loads(x)
        for x in capsys.readouterr().out.splitlines()
        if '"authorization decision"' in x
    ]
    assert line["reason"] == reason


@pytest.mark.parametrize(
    "request_path", ["GET/hello*", "GET/hello?x=1", "GET/*", "get/hello", "GET/hello" + "/a" * 800]
)
def test_a_method_arn_is_parsed_whole(wired: WiredAuthorizer, request_path: str) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        rest_handle(wired, request_path)


@pytest.mark.parametrize(("character", "width"), [("a", 1), ("\u00e9", 2), ("\u540d", 3)])
def test_the_method_arn_bound_counts_bytes(
    wired: WiredAuthorizer, character: str, width: int
) -> None:
    room = 1600 - len((ARN_PREFIX + "GET/").encode())
    at_the_bound = "GET/" + character * (room // width) + "x" * (room % width)
    assert len((ARN_PREFIX + at_the_bound).encode()) == 1600
    assert "policyDocument" in rest_handle(wired, at_the_bound)
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        rest_handle(wired, at_the_bound + "x")


@pytest.mark.parametrize(
    "origin",
    [
        "https://app.example.com.evil.net",
        "https://app.example.co",
        "https://app.example.com/",
        "https://app.example.com:8443",
        "http://app.example.com",
        "https://evil-app.example.com",
    ],
)
def test_a_cors_origin_is_allowed_only_whole(origin: str) -> None:
    # The offline stack's werkzeug is not in make mutate's venv (local/ is not mutated there).
    local_cors = pytest.importorskip("local.cors")
    cors = local_cors.CorsConfig(allow_origins=("https://app.example.com", "https://b.example.com"))
    assert cors.allowed_origin(origin) is None
    assert cors.allowed_origin("https://app.example.com") == "https://app.example.com"
    assert cors.allowed_origin("https://b.example.com") == "https://b.example.com"


@pytest.mark.parametrize("name", ["authorization-hint", "x-authorization", "authorizationx"])
def test_the_token_comes_only_from_the_authorization_header_itself(name: str) -> None:
    event = authorizer_event(sign(claims()))
    del event["identitySource"]
    event["headers"][name] = event["headers"].pop("authorization")
    with pytest.raises(MissingToken):
        extract_token(event)


# --- the context contract the greeter reads --------------------------------------------


@pytest.mark.parametrize("key", ["sub", "username", "tokenUse", "clientId", "groups", "scope"])
@pytest.mark.parametrize("change", ["drop", "number"])
def test_every_required_context_key_must_be_a_string(key: str, change: str) -> None:
    values: dict[str, Any] = dict(encode_context(AuthContext("s", "u", "id", "c")))
    if change == "drop":
        del values[key]
    else:
        values[key] = 1
    event = load_event("greeter_post.json")
    event["requestContext"]["authorizer"] = {"lambda": values}
    assert greeter(event, None)["statusCode"] == 500
    with pytest.raises(Exception, match="authorizer context lacks"):
        decode_context(event)


@pytest.mark.parametrize("scheme", ["Bearerx", "Bearer-token", "Bearer:", "Bearers", "xBearer"])
def test_the_bearer_scheme_is_matched_whole(scheme: str) -> None:
    assert parse_bearer("Bearer abc.def.ghi") == parse_bearer("bEaReR abc.def.ghi") == "abc.def.ghi"
    with pytest.raises(MalformedToken):
        parse_bearer(f"{scheme} abc.def.ghi")


@pytest.mark.parametrize(
    ("principal", "status"),
    [("s", 200), ("s ", 500), ("S", 500), ("", 500), ("other", 500), (None, 500)],
)
def test_a_rest_context_is_trusted_only_beside_a_principal_that_is_its_sub(
    principal: str | None, status: int
) -> None:
    event = load_event("greeter_rest_post.json")
    event["requestContext"]["authorizer"] = {
        **encode_context(AuthContext("s", "u", "id", "c")),
        "principalId": principal,
    }
    assert greeter(event, None)["statusCode"] == status
