"""Edges: times at whole seconds around the leeway, and identities that are almost right.

The clock stands on a whole second, so ``exp`` at exactly ``now - leeway`` and
``iat`` / ``nbf`` at exactly ``now + leeway`` are the edge itself, not a
rounding of it. README: "`exp` in the past, `nbf` or `iat` in the future, each
with `LEEWAY_SECONDS`"; PyJWT's rule is ``exp <= now - leeway`` is expired and
``iat`` / ``nbf`` ``> now + leeway`` is too early.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final

import pytest

from authorizer.operations.metrics import MetricsEmitter
from authorizer.verification.jwks import JwksCache
from shared.context import claims_size, decode_context
from tests.forge import (
    CLIENT_ID,
    ISSUER,
    OTHER_CLIENT_ID,
    authorizer_event,
    claims,
    forged_key,
    jwks_body,
    load_event,
    sign,
)
from tests.helpers import FakeClock, WiredAuthorizer, make_config, wire_authorizer

NOW: Final = 1_767_225_600  # 2026-01-01T00:00:00Z, a whole second
KEY: Final = forged_key()


def wired_with(**settings: str) -> WiredAuthorizer:
    return wire_authorizer(make_config(**settings), FakeClock(float(NOW)), lambda _: jwks_body(KEY))


def outcome(wired: WiredAuthorizer, token: str, capsys: pytest.CaptureFixture[str]) -> str:
    """``ok`` for an allow, else the deny's reason code from the decision log."""
    capsys.readouterr()
    response = wired.handle(authorizer_event(token))
    [line] = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if '"authorization decision"' in line
    ]
    assert (line["decision"] == "allow") is (response.get("isAuthorized") is True)
    return str(line["reason"])


def token_at(**times: int) -> str:
    values: dict[str, Any] = {"iat": NOW - 600, "exp": NOW + 3600} | times
    return sign(claims("id", now=NOW, **values))


# --- times -------------------------------------------------------------------------

LEEWAYS: Final = [30, 0, 7]


@pytest.mark.parametrize("leeway", LEEWAYS)
@pytest.mark.parametrize(
    ("offset", "expected"), [(-1, "expired"), (0, "expired"), (1, "ok")], ids=["-1", "0", "+1"]
)
def test_exp_at_now_minus_leeway(
    leeway: int, offset: int, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wired = wired_with(LEEWAY_SECONDS=str(leeway))
    exp = NOW - leeway + offset
    assert outcome(wired, token_at(iat=exp - 3600, exp=exp), capsys) == expected


@pytest.mark.parametrize("leeway", LEEWAYS)
@pytest.mark.parametrize(
    ("claim", "too_early"), [("iat", "issued_in_future"), ("nbf", "not_yet_valid")]
)
@pytest.mark.parametrize("offset", [-1, 0, 1], ids=["-1", "0", "+1"])
def test_iat_and_nbf_at_now_plus_leeway(
    leeway: int, claim: str, too_early: str, offset: int, capsys: pytest.CaptureFixture[str]
) -> None:
    wired = wired_with(LEEWAY_SECONDS=str(leeway))
    token = token_at(**{claim: NOW + leeway + offset})
    assert outcome(wired, token, capsys) == (too_early if offset > 0 else "ok")


def test_leeway_setting_is_used_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    """Not a fixed 30 s: a larger leeway admits more, a smaller one less."""
    late = token_at(iat=NOW - 7200, exp=NOW - 100)
    assert outcome(wired_with(LEEWAY_SECONDS="120"), late, capsys) == "ok"
    assert outcome(wired_with(LEEWAY_SECONDS="30"), late, capsys) == "expired"
    early = token_at(iat=NOW + 100)
    assert outcome(wired_with(LEEWAY_SECONDS="120"), early, capsys) == "ok"
    assert outcome(wired_with(LEEWAY_SECONDS="30"), early, capsys) == "issued_in_future"


def test_a_remembered_token_is_not_served_at_its_exp_with_no_leeway(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wired = wired_with(LEEWAY_SECONDS="0")
    token = token_at(exp=NOW + 10)
    assert outcome(wired, token, capsys) == "ok"
    wired.clock.advance(9)
    assert wired.verifier.verify(token)[1] is True  # remembered one second before exp
    wired.clock.advance(1)  # now == exp
    assert outcome(wired, token, capsys) == "expired"


def test_a_token_past_exp_inside_the_leeway_is_allowed_but_not_remembered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wired = wired_with()
    token = token_at(exp=NOW - 10)
    assert outcome(wired, token, capsys) == "ok"
    assert wired.verifier.verify(token)[1] is False


# --- almost-right identities --------------------------------------------------------

ALMOST_CLIENT_IDS: Final = [
    CLIENT_ID[:-1],  # a prefix of an allowed id
    CLIENT_ID[:4],
    CLIENT_ID + "4",  # an allowed id and one more character
    f"{CLIENT_ID},{OTHER_CLIENT_ID}",  # two allowed ids joined
    f"{CLIENT_ID}, {OTHER_CLIENT_ID}",
    f"{CLIENT_ID} {OTHER_CLIENT_ID}",
    CLIENT_ID + OTHER_CLIENT_ID,
    CLIENT_ID.upper(),
    f" {CLIENT_ID}",
    "",
]


@pytest.mark.parametrize("client_id", ALMOST_CLIENT_IDS)
@pytest.mark.parametrize("token_use", ["id", "access"])
def test_almost_an_allowed_client_is_the_wrong_audience(
    client_id: str, token_use: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wired = wired_with()
    field = "aud" if token_use == "id" else "client_id"
    token = sign(claims(token_use, now=NOW, **{field: client_id}))
    assert outcome(wired, token, capsys) == "wrong_audience"
    right = sign(claims(token_use, now=NOW, **{field: OTHER_CLIENT_ID}))
    assert outcome(wired, right, capsys) == "ok"


OTHER_POOL_ISSUER: Final = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool"
ALMOST_ISSUERS: Final = [
    ISSUER + "1",  # one extra character
    ISSUER + "/",
    ISSUER[:-1],
    ISSUER.replace("https://", "http://"),
    ISSUER.replace("cognito-idp", "COGNITO-IDP"),
    ISSUER.replace("cognito-idp.", "issuer-cognito-idp.") + "/",  # the updated form, almost
    ISSUER.replace("cognito-idp.", "Issuer-cognito-idp."),
    ISSUER.replace("us-east-1.", "eu-west-1."),  # the pool's id in another region
    OTHER_POOL_ISSUER,  # another pool's issuer
    f"{ISSUER} {OTHER_POOL_ISSUER}",
]


@pytest.mark.parametrize("iss", ALMOST_ISSUERS)
def test_almost_the_issuer_is_the_wrong_issuer(
    iss: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert outcome(wired_with(), sign(claims(now=NOW, iss=iss)), capsys) == "wrong_issuer"


def two_pools() -> dict[str, Any]:
    return {
        "USER_POOL_ID": "",
        "APP_CLIENT_IDS": "",
        "USER_POOLS": json.dumps(
            [
                {"userPoolId": "us-east-1_TestPool1", "appClientIds": [CLIENT_ID]},
                {"userPoolId": "us-east-1_OtherPool", "appClientIds": [OTHER_CLIENT_ID]},
            ]
        ),
    }


@pytest.mark.parametrize(
    "iss",
    [
        ISSUER + "1",
        ISSUER[:-1],
        OTHER_POOL_ISSUER + "/",
        "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_ThirdPool",
    ],
)
def test_with_several_pools_almost_an_issuer_is_still_wrong(
    iss: str, capsys: pytest.CaptureFixture[str]
) -> None:
    wired = wired_with(**two_pools())
    assert outcome(wired, sign(claims(now=NOW, iss=iss)), capsys) == "wrong_issuer"
    assert wired.fetches == []  # an untrusted iss never costs a key fetch


def test_with_several_pools_a_token_is_held_to_its_own_pools_clients(
    capsys: pytest.CaptureFixture[str],
) -> None:
    wired = wired_with(**two_pools())
    own = sign(claims(now=NOW, aud=CLIENT_ID))
    assert outcome(wired, own, capsys) == "ok"
    # The other pool's client id, in a token of the first pool: not this pool's client.
    assert outcome(wired, sign(claims(now=NOW, aud=OTHER_CLIENT_ID)), capsys) == "wrong_audience"


# --- smaller edges ------------------------------------------------------------------


def test_context_claims_exactly_at_their_byte_cap_pass(capsys: pytest.CaptureFixture[str]) -> None:
    cap = 64
    filler = "x" * (cap - claims_size((("custom:team", ""),)))
    assert claims_size((("custom:team", filler),)) == cap
    settings = {"CONTEXT_CLAIMS": "custom:team", "CONTEXT_CLAIMS_MAX_BYTES": str(cap)}
    at_cap = sign(claims(now=NOW, **{"custom:team": filler}))
    assert outcome(wired_with(**settings), at_cap, capsys) == "ok"
    over = sign(claims(now=NOW, **{"custom:team": filler + "x"}))
    assert outcome(wired_with(**settings), over, capsys) == "context_too_large"


def test_a_fractional_auth_time_counts_like_any_number(capsys: pytest.CaptureFixture[str]) -> None:
    wired = wired_with(ROUTE_RULES=json.dumps({"POST /hello": {"maxAuthAgeSeconds": 60}}))
    recent = sign(claims(now=NOW, auth_time=NOW - 59.5))
    assert outcome(wired, recent, capsys) == "ok"
    old = sign(claims(now=NOW, auth_time=NOW - 60.5))
    assert outcome(wired, old, capsys) == "auth_too_old"


def test_a_key_set_baked_a_moment_ago_is_trusted_for_the_whole_cache_period() -> None:
    clock = FakeClock(float(NOW))
    cache = JwksCache(
        "https://example.invalid/jwks.json",
        cache_seconds=60,
        miss_cooldown_seconds=10,
        logger=logging.getLogger("tests.edges"),
        fetch=lambda _: b"",
        clock=clock,
    )
    cache.load(json.loads(jwks_body(KEY)), source="baked", age_seconds=0)
    clock.advance(59.5)
    assert cache.fresh_key(KEY.kid) is not None
    clock.advance(0.5)
    assert cache.fresh_key(KEY.kid) is None


def test_metrics_fold_an_unknown_reason_into_other_and_never_count_below_zero() -> None:
    emitter = MetricsEmitter("fn", write=lambda _: None)
    assert emitter.decision_document("deny", "made_up_reason", 1.0)["Reason"] == "other"
    assert emitter.decision_document("deny", "expired", 1.0)["Reason"] == "expired"
    assert emitter.stale_keys_served_document()["JwksStaleKeysServed"] == 1
    assert emitter.stale_keys_served_document(0)["JwksStaleKeysServed"] == 0
    assert emitter.stale_keys_served_document(-3)["JwksStaleKeysServed"] == 0


def test_an_email_that_is_not_text_is_left_out_of_the_decoded_context() -> None:
    event = load_event("greeter_post.json")
    event["requestContext"]["authorizer"]["lambda"]["email"] = 5
    assert decode_context(event).email is None
