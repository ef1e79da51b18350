"""One test per deny reason code (README, "Decision log"), through the handler, forged keys."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, hmac, serialization

from tests.forge import (
    CLIENT_ID,
    ISSUER,
    JWKS_URL,
    OTHER_CLIENT_ID,
    authorizer_event,
    b64url,
    b64url_json,
    claims,
    forged_key,
    sign,
    sign_raw,
)
from tests.helpers import WiredAuthorizer, make_config
from tests.imports import imported_modules


def decide(wired: WiredAuthorizer, token: str | None) -> dict[str, Any]:
    return wired.handle(authorizer_event(token))


def assert_denied(
    wired: WiredAuthorizer, token: str | None, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert decide(wired, token) == {"isAuthorized": False}
    decisions = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    decisions = [d for d in decisions if d.get("message") == "authorization decision"]
    assert [d["decision"] for d in decisions] == ["deny"]
    assert decisions[0]["reason"] == reason


def test_valid_id_token_is_allowed_with_context(wired: WiredAuthorizer) -> None:
    payload = claims("id")
    response = decide(wired, sign(payload))
    assert response == {
        "isAuthorized": True,
        "context": {
            "sub": "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
            "username": "brian",
            "tokenUse": "id",
            "clientId": CLIENT_ID,
            "groups": "admins readers",
            "scope": "",
            "email": "brian@example.com",
            "originJti": payload["origin_jti"],
            "issuedAt": payload["iat"],
        },
    }


def test_valid_access_token_is_allowed_with_context(wired: WiredAuthorizer) -> None:
    payload = claims("access", **{"cognito:groups": None})
    response = decide(wired, sign(payload))
    assert response == {
        "isAuthorized": True,
        "context": {
            "sub": "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
            "username": "brian",
            "tokenUse": "access",
            "clientId": CLIENT_ID,
            "groups": "",
            "scope": "openid profile hello/read",
            "originJti": payload["origin_jti"],
            "issuedAt": payload["iat"],
        },
    }


def test_the_context_s_issue_time_is_iat_in_whole_seconds_rounded_up(
    wired: WiredAuthorizer,
) -> None:
    """Compared with a whole revokedAt R, ceil(iat) <= R exactly when iat <= R does."""
    now = int(wired.clock.now)
    for iat, issued_at in ((now - 10.25, now - 10), (now - 10, now - 10), (-5, 0), (-0.5, 0)):
        response = decide(wired, sign(claims("id", iat=iat)))
        assert response["context"]["issuedAt"] == issued_at, iat


def test_a_token_without_origin_jti_has_none_in_its_context(wired: WiredAuthorizer) -> None:
    """App clients with token revocation off issue no origin_jti: allowed, no key in the context."""
    response = decide(wired, sign(claims("id", origin_jti=None)))
    assert response["isAuthorized"] is True
    assert "originJti" not in response["context"]


def test_a_non_string_origin_jti_is_an_invalid_claim(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_denied(wired, sign(claims("id", origin_jti=42)), "invalid_claim", capsys)


def test_second_app_client_is_accepted(wired: WiredAuthorizer) -> None:
    assert decide(wired, sign(claims("id", aud=OTHER_CLIENT_ID)))["isAuthorized"] is True


def test_machine_access_token_without_username_is_allowed(wired: WiredAuthorizer) -> None:
    token = sign(claims("access", username=None, sub=CLIENT_ID, **{"cognito:groups": None}))
    response = decide(wired, token)
    assert response["isAuthorized"] is True
    assert response["context"]["username"] == ""


def test_absent_token(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, None, "missing_token", capsys)


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "....",
        "!!!.e30.e30",
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.e30==.",
        "!!!.???.***",
    ],
)
def test_malformed(wired: WiredAuthorizer, token: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, token, "malformed_token", capsys)


def test_header_not_json(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    token = f"{b64url(b'not json')}.{b64url_json(claims())}.{b64url(b'sig')}"
    assert_denied(wired, token, "malformed_token", capsys)


def test_claims_not_an_object(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    key = forged_key()
    token = sign_raw({"alg": "RS256", "kid": key.kid}, [1, 2], key.sign_bytes)  # type: ignore[arg-type]
    assert_denied(wired, token, "malformed_token", capsys)


def test_non_canonical_base64_is_malformed(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    header, payload, signature = sign(claims()).split(".")
    # The last character of a 2-mod-4 segment carries 4 unused bits; setting one
    # decodes to the same bytes but is a different token.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(signature) % 4 == 2
    tweaked = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    assert_denied(wired, f"{header}.{payload}.{tweaked}", "malformed_token", capsys)


def test_alg_none(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign_raw({"alg": "none", "kid": "key-1"}, claims(), lambda _: b"")
    assert_denied(wired, token, "unsupported_alg", capsys)


def test_hs256_keyed_with_the_public_pem(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = (
        forged_key()
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def hs256(data: bytes) -> bytes:
        mac = hmac.HMAC(pem, hashes.SHA256())
        mac.update(data)
        return mac.finalize()

    token = sign_raw({"alg": "HS256", "kid": "key-1"}, claims(), hs256)
    assert_denied(wired, token, "unsupported_alg", capsys)


@pytest.mark.parametrize("alg", ["RS512", "PS256", "ES256", "rs256", None])
def test_other_algorithms(
    wired: WiredAuthorizer, alg: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    header = {"kid": "key-1"} if alg is None else {"alg": alg, "kid": "key-1"}
    token = sign_raw(header, claims(), forged_key().sign_bytes)
    assert_denied(wired, token, "unsupported_alg", capsys)


def test_missing_kid(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign_raw({"alg": "RS256"}, claims(), forged_key().sign_bytes)
    assert_denied(wired, token, "missing_kid", capsys)


@pytest.mark.parametrize("kid", ["", 7, None, ["key-1"]])
def test_unusable_kid(wired: WiredAuthorizer, kid: Any, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign_raw({"alg": "RS256", "kid": kid}, claims(), forged_key().sign_bytes)
    assert_denied(wired, token, "missing_kid", capsys)


def test_unknown_kid(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, sign(claims(), forged_key("stranger")), "unknown_kid", capsys)


def test_signed_by_another_key_with_a_known_kid(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    impostor = forged_key("impostor")
    token = sign(claims(), impostor, kid="key-1")
    assert_denied(wired, token, "bad_signature", capsys)


def test_payload_changed_after_signing(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    header, _, signature = sign(claims()).split(".")
    escalated: dict[str, Any] = {"cognito:groups": ["admins", "root"]}
    forged_payload = b64url_json(claims("id", **escalated))
    assert_denied(wired, f"{header}.{forged_payload}.{signature}", "bad_signature", capsys)


@pytest.mark.parametrize("field", ["jku", "x5u", "jwk", "x5c"])
def test_key_from_header_is_never_used(
    wired: WiredAuthorizer, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    attacker = forged_key("attacker")
    embedded: Any = {
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "jwk": attacker.jwk(),
        "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"],
    }[field]
    token = sign_raw(
        {"alg": "RS256", "kid": "key-1", field: embedded}, claims(), attacker.sign_bytes
    )
    assert_denied(wired, token, "bad_signature", capsys)


@pytest.mark.parametrize(
    "header", [{"crit": ["exp"]}, {"crit": ["b64"], "b64": False}, {"b64": True}]
)
def test_crit_and_b64_rejected(
    wired: WiredAuthorizer, header: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign_raw({"alg": "RS256", "kid": "key-1", **header}, claims(), forged_key().sign_bytes)
    assert_denied(wired, token, "unsupported_header", capsys)


def test_expired(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    now = wired.clock.now
    assert_denied(wired, sign(claims(iat=now - 7200, exp=now - 31)), "expired", capsys)


def test_expired_within_leeway_is_allowed(wired: WiredAuthorizer) -> None:
    now = wired.clock.now
    assert decide(wired, sign(claims(iat=now - 7200, exp=now - 29)))["isAuthorized"] is True


def test_not_yet_valid(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, sign(claims(nbf=wired.clock.now + 120)), "not_yet_valid", capsys)


def test_issued_in_the_future(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    now = wired.clock.now
    assert_denied(wired, sign(claims(iat=now + 120, exp=now + 3600)), "issued_in_future", capsys)


def test_wrong_issuer(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign(claims(iss="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"))
    assert_denied(wired, token, "wrong_issuer", capsys)


def test_the_updated_issuer_host_is_accepted_unless_issuer_pins_the_original(
    make_wired: Any, jwks_endpoint: Any
) -> None:
    newer = "https://issuer-cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"
    token = sign(claims(iss=newer))
    assert make_wired().handle(authorizer_event(token))["isAuthorized"] is True
    pinned = make_config(ISSUER=ISSUER, JWKS_URL=JWKS_URL)
    assert make_wired(pinned).handle(authorizer_event(token)) == {"isAuthorized": False}


def test_wrong_audience(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, sign(claims("id", aud="someoneelse")), "wrong_audience", capsys)


def test_wrong_client_id(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, sign(claims("access", client_id="someoneelse")), "wrong_audience", capsys)


def test_access_token_is_not_checked_against_aud(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    # An access token carrying an allowed aud but a foreign client_id is still foreign.
    token = sign(claims("access", client_id="someoneelse", aud=CLIENT_ID))
    assert_denied(wired, token, "wrong_audience", capsys)


def test_list_audience_is_invalid(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_denied(wired, sign(claims("id", aud=[CLIENT_ID])), "invalid_claim", capsys)


@pytest.mark.parametrize("token_use", [None, "refresh", "ID", 1])
def test_wrong_or_missing_token_use(
    wired: WiredAuthorizer, token_use: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = claims("id")
    if token_use is None:
        del payload["token_use"]
    else:
        payload["token_use"] = token_use
    assert_denied(wired, sign(payload), "wrong_token_use", capsys)


@pytest.mark.parametrize(("allowed", "presented"), [("id", "access"), ("access", "id")])
def test_token_use_setting(
    make_wired: Any,
    jwks_endpoint: Any,
    allowed: str,
    presented: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wired = make_wired(make_config(TOKEN_USE=allowed))
    assert_denied(wired, sign(claims(presented)), "wrong_token_use", capsys)
    assert decide(wired, sign(claims(allowed)))["isAuthorized"] is True


@pytest.mark.parametrize(
    ("token_use", "claim"),
    [
        ("id", "exp"),
        ("id", "iat"),
        ("id", "iss"),
        ("id", "sub"),
        ("id", "aud"),
        ("id", "cognito:username"),
        ("access", "client_id"),
        ("access", "exp"),
    ],
)
def test_missing_required_claim(
    wired: WiredAuthorizer, token_use: str, claim: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert_denied(wired, sign(claims(token_use, **{claim: None})), "missing_claim", capsys)


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", "9999999999"),
        ("exp", True),
        ("iat", "0"),
        ("nbf", [1]),
        ("sub", 123),
        ("iss", ["x"]),
        ("cognito:groups", "admins"),  # Cognito sends a list
        ("cognito:groups", ["has space"]),
        ("cognito:groups", [1]),
        ("email", {"a": 1}),
    ],
)
def test_claim_of_the_wrong_type(
    wired: WiredAuthorizer, claim: str, value: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # By hand: PyJWT refuses to encode some of these.
    token = sign_raw(
        {"alg": "RS256", "kid": "key-1"}, claims("id", **{claim: value}), forged_key().sign_bytes
    )
    assert_denied(wired, token, "invalid_claim", capsys)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_exp(
    wired: WiredAuthorizer, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Python's json accepts these literals; a NaN exp would compare as "never expired".
    key = forged_key()
    body = json.dumps(claims()).replace('"exp": ', '"exp": ' + value + ', "_exp": ')
    header = b64url_json({"alg": "RS256", "kid": key.kid})
    signing_input = f"{header}.{b64url(body.encode())}"
    token = f"{signing_input}.{b64url(key.sign_bytes(signing_input.encode()))}"
    assert_denied(wired, token, "invalid_claim", capsys)


@pytest.mark.parametrize(("exp", "allowed"), [(10**400, True), (-(10**400), False)])
def test_huge_integer_dates(wired: WiredAuthorizer, exp: int, allowed: bool) -> None:
    # json reads these as exact ints; math.isfinite(10**400) would overflow.
    token = sign_raw({"alg": "RS256", "kid": "key-1"}, claims(exp=exp), forged_key().sign_bytes)
    assert decide(wired, token)["isAuthorized"] is allowed


def test_empty_sub(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    assert_denied(wired, sign(claims(sub="")), "missing_claim", capsys)


def test_oversized_token(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    token = sign(claims(padding="x" * 20_000))
    assert_denied(wired, token, "malformed_token", capsys)


def test_forged_tokens_are_what_pyjwt_itself_accepts(wired: WiredAuthorizer) -> None:
    # A sanity check that our forged tokens are what PyJWT itself would accept.
    token = sign(claims())
    key = forged_key().private_key.public_key()
    decoded = jwt.decode(token, key, algorithms=["RS256"], audience=CLIENT_ID)
    assert decoded["token_use"] == "id"
    assert base64.urlsafe_b64decode(token.split(".")[0] + "==")


# --- PyJWT does the verification; garbage never reaches a key fetch -------------


def test_pyjwt_decodes_and_checks_the_signature_of_a_fresh_token(wired: WiredAuthorizer) -> None:
    called: set[str] = set()

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        module = frame.f_globals.get("__name__", "")
        if event == "call" and module.startswith("jwt."):
            called.add(f"{module}:{frame.f_code.co_qualname}")

    token = sign(claims())
    sys.setprofile(profile)
    try:
        response = decide(wired, token)
    finally:
        sys.setprofile(None)
    assert response["isAuthorized"] is True
    assert {
        "jwt.api_jwt:PyJWT.decode_complete",
        "jwt.api_jws:PyJWS._load",
        "jwt.api_jws:PyJWS._verify_signature",
        "jwt.algorithms:RSAAlgorithm.verify",
        "jwt.api_jwt:PyJWT._validate_claims",
        "jwt.api_jwt:PyJWT._validate_exp",
        "jwt.api_jwt:PyJWT._validate_iss",
    } <= called


def test_no_authorizer_module_decodes_a_token_itself() -> None:
    modules = sorted(Path("authorizer").rglob("*.py"))
    assert len(modules) > 15  # every group's modules, not the top level's alone
    for path in modules:
        assert imported_modules(path.read_bytes()) & {"base64", "binascii"} == set(), path
    # The token's JSON is PyJWT's to parse; json elsewhere reads key sets and config.
    for name in ("verify.py", "token.py"):
        path = Path("authorizer", "verification", name)
        assert "json" not in imported_modules(path.read_bytes()), name


@pytest.mark.parametrize(
    "payload",
    ["!!!", "e30.e30", "e3=0", "a" * 5001, "é"],
    # Plain ids: mutmut names each test by its id to run it again (no 5,001-character one).
    ids=["bangs", "two-segments", "padding-inside", "5001-characters", "non-ascii"],
)
def test_garbage_with_a_known_header_never_fetches(
    wired: WiredAuthorizer, payload: str, capsys: pytest.CaptureFixture[str]
) -> None:
    header, _, signature = sign(claims()).split(".")
    assert decide(wired, sign(claims()))["isAuthorized"] is True
    assert len(wired.fetches) == 1
    wired.clock.advance(3601)  # the key set is due for a refresh
    assert_denied(wired, f"{header}.{payload}.{signature}", "malformed_token", capsys)
    unknown_header = b64url_json({"alg": "RS256", "kid": "made-up"})
    assert_denied(wired, f"{unknown_header}.{payload}.{signature}", "malformed_token", capsys)
    assert len(wired.fetches) == 1
