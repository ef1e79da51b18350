"""What Cognito issues today is trusted by default, and each token always gets the same answer.

Forged keys only. The default one-pool settings (``USER_POOL_ID`` +
``APP_CLIENT_IDS``) accept both of Cognito's issuer forms as exact strings, a
declared replica region's original form, and EU Sovereign Cloud pools under
their own DNS suffix; every near miss is ``wrong_issuer``. A token is parsed
in full and matched to a trusted pool by its ``iss`` before any key lookup that
could fetch, so garbage and untrusted issuers never reach the JWKS endpoint
and a token's reason code never depends on what the instance saw before.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any, Final

import pytest

from authorizer.verification.config import load_config
from shared.exceptions import ConfigurationError
from tests.forge import (
    CLIENT_ID,
    ForgedKey,
    authorizer_event,
    b64url_json,
    claims,
    forged_key,
    jwks_body,
    sign,
)
from tests.helpers import BASE_ENV, FakeClock, WiredAuthorizer, log_records, wire_authorizer

NOW: Final = 1_767_225_600
POOL: Final = "us-east-1_TestPool1"
ORIGINAL: Final = f"https://cognito-idp.us-east-1.amazonaws.com/{POOL}"
UPDATED: Final = f"https://issuer-cognito-idp.us-east-1.amazonaws.com/{POOL}"
KEY: Final = forged_key()
# A second trusted pool (with USER_POOLS) and its own key.
OTHER_POOL: Final = "us-east-1_OtherPool"
OTHER_KEY: Final = forged_key("other-key")


def wired(key_sets: dict[str, ForgedKey] | None = None, **settings: str) -> WiredAuthorizer:
    """An authorizer whose JWKS endpoint serves ``key_sets`` (pool id -> key) and counts fetches."""
    served = key_sets or {POOL: KEY}

    def fetch(url: str) -> bytes:
        pool = next(pool for pool in served if f"/{pool}/" in url)
        return jwks_body(served[pool])

    config = load_config({**BASE_ENV, **settings})
    return wire_authorizer(config, FakeClock(float(NOW)), fetch)


def outcome(authorizer: WiredAuthorizer, token: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``ok`` for an allow, else the deny's reason code from the decision record."""
    capsys.readouterr()
    answer = authorizer.handle(authorizer_event(token))
    [record] = [r for r in log_records(capsys.readouterr().out) if "decision" in r]
    assert (record["decision"] == "allow") is (answer.get("isAuthorized") is True)
    return str(record["reason"])


def token(iss: str, key: ForgedKey = KEY, **overrides: Any) -> str:
    return sign(claims(now=NOW, iss=iss, **overrides), key)


# --- both issuer forms, by default -----------------------------------------------

NEAR_MISSES: Final = [
    form + suffix
    for form in (ORIGINAL, UPDATED)
    for suffix in ("/", "1", " ", "/.well-known/jwks.json")
] + [
    ORIGINAL[:-1],
    UPDATED.upper(),
    ORIGINAL.replace("cognito-idp", "Cognito-idp"),
    UPDATED.replace(POOL, POOL.lower()),
    ORIGINAL.replace("https://", "http://"),
    UPDATED.replace("https://", "http://"),
    ORIGINAL.replace(POOL, "us-east-1_OtherPool"),  # another pool
    UPDATED.replace(POOL, "us-east-1_OtherPool"),
    ORIGINAL.replace("us-east-1.", "us-west-2."),  # another region, not declared
    UPDATED.replace("us-east-1.", "us-west-2."),
    ORIGINAL.replace("amazonaws.com", "amazonaws.eu"),  # another partition's suffix
    "https://issuer-cognito-idp.amazonaws.com/" + POOL,
    "https://cognito-idp.us-east-1.amazonaws.com.evil.example/" + POOL,
    f"{ORIGINAL} {UPDATED}",
]


@pytest.mark.parametrize("iss", [ORIGINAL, UPDATED], ids=["original", "updated"])
def test_the_default_one_pool_settings_accept_both_issuer_forms(
    iss: str, capsys: pytest.CaptureFixture[str]
) -> None:
    authorizer = wired()
    assert outcome(authorizer, token(iss), capsys) == "ok"
    assert outcome(authorizer, token(iss, token_use="access", client_id=CLIENT_ID), capsys) == "ok"
    # Keys come from the original host, which serves every pool whatever its form.
    assert authorizer.fetches == [f"{ORIGINAL}/.well-known/jwks.json"]


@pytest.mark.parametrize("iss", NEAR_MISSES)
def test_every_near_miss_of_either_form_is_the_wrong_issuer(
    iss: str, capsys: pytest.CaptureFixture[str]
) -> None:
    authorizer = wired()
    assert outcome(authorizer, token(iss), capsys) == "wrong_issuer"
    assert authorizer.fetches == []  # refused before any key was looked up


def test_a_declared_replica_region_is_accepted_and_an_undeclared_one_denied(
    capsys: pytest.CaptureFixture[str],
) -> None:
    authorizer = wired(REPLICA_REGIONS="eu-central-1, us-west-2")
    for region in ("us-east-1", "eu-central-1", "us-west-2"):
        assert outcome(authorizer, token(ORIGINAL.replace("us-east-1.", f"{region}.")), capsys) == (
            "ok"
        )
    assert outcome(authorizer, token(UPDATED), capsys) == "ok"
    for iss in (
        ORIGINAL.replace("us-east-1.", "ap-south-1."),  # not declared
        UPDATED.replace("us-east-1.", "eu-central-1."),  # the updated form names the primary only
    ):
        assert outcome(authorizer, token(iss), capsys) == "wrong_issuer"


def test_an_eu_sovereign_cloud_pool_uses_its_own_dns_suffix(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pool = "eusc-de-east-1_AbC123xyz"
    original = f"https://cognito-idp.eusc-de-east-1.amazonaws.eu/{pool}"
    updated = f"https://issuer-cognito-idp.eusc-de-east-1.amazonaws.eu/{pool}"
    authorizer = wired({pool: KEY}, USER_POOL_ID=pool)
    assert outcome(authorizer, token(original), capsys) == "ok"
    assert outcome(authorizer, token(updated), capsys) == "ok"
    assert authorizer.fetches == [f"{original}/.well-known/jwks.json"]
    for iss in (original.replace(".eu/", ".com/"), updated.replace(".eu/", ".com/")):
        assert outcome(authorizer, token(iss), capsys) == "wrong_issuer"


def test_a_live_pool_switching_issuer_form_loses_no_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, during and after the switch, old and new tokens are both allowed, fresh or cached."""
    authorizer = wired()
    old = [token(ORIGINAL, sub=f"user-{n}") for n in range(3)]
    new = [token(UPDATED, sub=f"user-{n}") for n in range(3)]
    for step, tokens in enumerate((old, old + new, new + old, new)):
        for each in tokens:
            assert outcome(authorizer, each, capsys) == "ok", step
        authorizer.clock.advance(60)
    assert len(authorizer.fetches) == 1


def test_the_issuer_override_pins_exactly_that_one(capsys: pytest.CaptureFixture[str]) -> None:
    authorizer = wired(ISSUER=UPDATED, JWKS_URL=f"{ORIGINAL}/.well-known/jwks.json")
    assert outcome(authorizer, token(UPDATED), capsys) == "ok"
    assert outcome(authorizer, token(ORIGINAL), capsys) == "wrong_issuer"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"REPLICA_REGIONS": "mars"}, "REPLICA_REGIONS must list other regions"),
        ({"REPLICA_REGIONS": "us-east-1"}, "REPLICA_REGIONS must list other regions"),
        ({"REPLICA_REGIONS": "eu-west-1,eu-west-1"}, "REPLICA_REGIONS must list other regions"),
        ({"REPLICA_REGIONS": "eu-west-1,"}, "REPLICA_REGIONS must list other regions"),
        ({"REPLICA_REGIONS": "eu-west-1", "ISSUER": UPDATED}, "accepts exactly one iss"),
        (
            {
                "USER_POOL_ID": "",
                "APP_CLIENT_IDS": "",
                "REPLICA_REGIONS": "eu-west-1",
                "USER_POOLS": json.dumps([{"userPoolId": POOL, "appClientIds": [CLIENT_ID]}]),
            },
            "so REPLICA_REGIONS must not be",
        ),
    ],
)
def test_bad_replica_settings_are_refused_by_name(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_config({**BASE_ENV, **settings})


# --- one answer per token, and no fetch for garbage ------------------------------


def unknown_kid_token(payload: bytes) -> str:
    """A token with an unknown kid and ``payload`` as its (base64url) claims segment."""
    header = b64url_json({"alg": "RS256", "kid": "never-published", "typ": "JWT"})
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"{header}.{body}.{'A' * 342}"


GARBAGE: Final = {
    "not JSON": (b"not json at all", "malformed_token"),
    "JSON list": (b"[1, 2]", "malformed_token"),
    "truncated JSON": (b'{"iss": "' + ORIGINAL.encode(), "malformed_token"),
    "no iss": (json.dumps({"sub": "x", "exp": NOW + 60}).encode(), "missing_claim"),
    "iss a number": (json.dumps({"iss": 7}).encode(), "invalid_claim"),
    "untrusted pool": (
        json.dumps({"iss": ORIGINAL.replace(POOL, "us-east-1_Evil")}).encode(),
        "wrong_issuer",
    ),
    "untrusted host": (
        json.dumps({"iss": "https://evil.example/" + POOL}).encode(),
        "wrong_issuer",
    ),
}


@pytest.mark.parametrize("pools", ["one", "two"])
@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_garbage_and_untrusted_issuers_never_reach_the_jwks_endpoint(
    pools: str, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    payload, reason = GARBAGE[case]
    authorizer = two_pools() if pools == "two" else wired()
    forged = unknown_kid_token(payload)
    # Before any key set was fetched, once it is held, and again after the cooldown.
    assert outcome(authorizer, forged, capsys) == reason
    assert authorizer.fetches == []
    assert outcome(authorizer, token(ORIGINAL), capsys) == "ok"
    fetched = len(authorizer.fetches)
    for _ in range(3):
        authorizer.clock.advance(60)
        assert outcome(authorizer, forged, capsys) == reason
    assert len(authorizer.fetches) == fetched


def two_pools() -> WiredAuthorizer:
    pools = [
        {"userPoolId": POOL, "appClientIds": [CLIENT_ID]},
        {"userPoolId": OTHER_POOL, "appClientIds": [CLIENT_ID]},
    ]
    return wired(
        {POOL: KEY, OTHER_POOL: OTHER_KEY},
        USER_POOL_ID="",
        APP_CLIENT_IDS="",
        USER_POOLS=json.dumps(pools),
    )


OTHER_ORIGINAL: Final = ORIGINAL.replace(POOL, OTHER_POOL)
# Tokens whose reason a header cache or a held key set could have changed.
HISTORY_SENSITIVE: Final[dict[str, Callable[[], str]]] = {
    "pool A's iss, pool B's key": lambda: token(OTHER_ORIGINAL, KEY),
    "pool A's iss, pool B's kid, another key": lambda: token(
        OTHER_ORIGINAL, forged_key("key-1", 2048 + 8)
    ),
    "untrusted iss, a held kid": lambda: token(ORIGINAL.replace(POOL, "us-east-1_Evil")),
    "untrusted iss, bad signature": lambda: token(
        ORIGINAL.replace(POOL, "us-east-1_Evil"), forged_key("key-1", 2048 + 16)
    ),
    "trusted iss, bad signature": lambda: token(ORIGINAL, forged_key("key-1", 2048 + 24)),
    "expired": lambda: token(ORIGINAL, iat=NOW - 7200, exp=NOW - 3600),
    "wrong audience": lambda: token(ORIGINAL, aud="someone-else"),
}


@pytest.mark.parametrize("pools", ["one", "two"])
def test_a_tokens_reason_never_depends_on_what_the_instance_saw_before(
    pools: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = {name: make() for name, make in HISTORY_SENSITIVE.items()}

    def reasons(order: list[str], *, warm_first: bool) -> dict[str, str]:
        authorizer = two_pools() if pools == "two" else wired()
        if warm_first:  # every header and key set already known
            assert outcome(authorizer, token(ORIGINAL), capsys) == "ok"
            if pools == "two":
                assert outcome(authorizer, token(OTHER_ORIGINAL, OTHER_KEY), capsys) == "ok"
            for name in order:
                outcome(authorizer, tokens[name], capsys)
        return {name: outcome(authorizer, tokens[name], capsys) for name in order}

    names = sorted(tokens)
    cold = reasons(names, warm_first=False)
    assert reasons(names[::-1], warm_first=True) == cold
    assert reasons(names, warm_first=True) == cold
    assert "ok" not in cold.values()
    if pools == "two":
        assert cold["pool A's iss, pool B's key"] == "unknown_kid"
    else:
        assert cold["pool A's iss, pool B's key"] == "wrong_issuer"
    assert cold["untrusted iss, bad signature"] == "wrong_issuer"
    assert cold["trusted iss, bad signature"] == "bad_signature"


def named(
    authorizer: WiredAuthorizer, token: str, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str | None, str | None]:
    """A decision's reason, and the kid and sub its log line names."""
    capsys.readouterr()
    authorizer.handle(authorizer_event(token))
    [record] = [r for r in log_records(capsys.readouterr().out) if "decision" in r]
    return str(record["reason"]), record.get("kid"), record.get("sub")


@pytest.mark.parametrize("pools", ["one", "two"])
def test_what_a_deny_names_never_depends_on_what_the_instance_saw_before(
    pools: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A deny re-derived after the fast path names what a first sight names: no sub that
    only the fast path's key (another pool's) vouched for."""
    tokens = {name: make() for name, make in HISTORY_SENSITIVE.items()}

    def logged(*, warm_first: bool) -> dict[str, tuple[str, str | None, str | None]]:
        authorizer = two_pools() if pools == "two" else wired()
        if warm_first:
            assert outcome(authorizer, token(ORIGINAL), capsys) == "ok"
            if pools == "two":
                assert outcome(authorizer, token(OTHER_ORIGINAL, OTHER_KEY), capsys) == "ok"
        return {name: named(authorizer, tokens[name], capsys) for name in sorted(tokens)}

    cold = logged(warm_first=False)
    assert logged(warm_first=True) == cold
    # The pool its iss names holds no such key: nothing signed says who it is.
    assert cold["pool A's iss, pool B's key"][2] is None


# Two pools publishing the same kid with different keys (pool A's, pool B's).
SHARED_KID_KEYS: Final = (forged_key("shared"), forged_key("shared", 2048 + 32))


def shared_kid_pools() -> WiredAuthorizer:
    pools = [
        {"userPoolId": POOL, "appClientIds": [CLIENT_ID]},
        {"userPoolId": OTHER_POOL, "appClientIds": [CLIENT_ID]},
    ]
    return wired(
        dict(zip((POOL, OTHER_POOL), SHARED_KID_KEYS, strict=True)),
        USER_POOL_ID="",
        APP_CLIENT_IDS="",
        USER_POOLS=json.dumps(pools),
    )


@pytest.mark.parametrize("seen_first", [False, True], ids=["first-sight", "after-pool-a"])
def test_a_kid_two_pools_share_is_decided_by_the_tokens_issuer(
    seen_first: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two pools publish the same kid with different keys. Once pool A's key set is held
    and the header known, the fast path tries A's key on a token of B: its deny is
    re-derived by the issuer, and B's key (fetched then) allows it."""
    key_a, key_b = SHARED_KID_KEYS
    authorizer = shared_kid_pools()
    mine, theirs = token(ORIGINAL, key_a), token(OTHER_ORIGINAL, key_b)
    assert mine.partition(".")[0] == theirs.partition(".")[0]  # one header: one fast path
    if seen_first:
        assert outcome(authorizer, mine, capsys) == "ok"
    assert outcome(authorizer, theirs, capsys) == "ok"
    assert outcome(authorizer, mine, capsys) == "ok"
    assert outcome(authorizer, token(OTHER_ORIGINAL, key_a), capsys) == "bad_signature"


def test_a_kid_both_pools_hold_is_checked_once_with_the_key_its_issuer_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With both pools' key sets held, the fast path steps aside for a kid they share: the
    token's iss picks the key, one signature check per token, never one with the other
    pool's key first."""
    key_a, key_b = SHARED_KID_KEYS
    authorizer = shared_kid_pools()
    assert outcome(authorizer, token(ORIGINAL, key_a), capsys) == "ok"
    assert outcome(authorizer, token(OTHER_ORIGINAL, key_b), capsys) == "ok"  # both held now
    verifier = authorizer.verifier
    decode = verifier._decode
    checked: list[str] = []

    def counted(jwt_text: str, pool: Any, key: Any) -> dict[str, Any]:
        checked.append(pool.config.user_pool_id)
        return decode(jwt_text, pool, key)

    monkeypatch.setattr(verifier, "_decode", counted)
    # New tokens (a remembered one is not checked again), the header of the ones before.
    for iss, key, pool in ((OTHER_ORIGINAL, key_b, OTHER_POOL), (ORIGINAL, key_a, POOL)):
        checked.clear()
        assert outcome(authorizer, token(iss, key, sub="someone-else"), capsys) == "ok"
        assert checked == [pool]


def test_the_docs_state_the_rules_tested_here() -> None:
    """SECURITY.md, the one home of what is verified, says what these tests hold."""
    from tests.docs.pages import collapsed, page

    docs = collapsed(page("SECURITY.md"))
    for phrase in (
        "`https://cognito-idp.<region>.<suffix>/<pool>`",
        "`https://issuer-cognito-idp.<region>.<suffix>/<pool>`",
        "accepts **both forms** as exact strings, plus the original form in each declared "
        "replica region (`REPLICA_REGIONS`",
        "`<suffix>` is `amazonaws.com`, and `amazonaws.eu` for the AWS European Sovereign "
        "Cloud's `eusc-` regions",
        "a live pool can switch issuer form with no redeploy and no denied request",
        "`ISSUER` remains only as an override for non-standard setups: it then accepts "
        "exactly that one `iss`",
        "A token's reason code never depends on what the instance saw before",
        "a malformed payload is `malformed_token`, an untrusted issuer `wrong_issuer`, and "
        "neither ever reaches the JWKS endpoint",
        "a token's reason never depends on what the instance saw before",
    ):
        assert phrase in docs, phrase
