"""The authorizer agrees with an independent oracle on randomly mutated tokens.

The oracle (tests/oracle.py) is ``jwt.get_unverified_header`` + ``jwt.decode``
used plainly, then Cognito's rules written out again, independently of
``authorizer/verification/verify.py``. For random valid and mutated tokens (claims,
headers, signatures, characters, padding, cuts), both must accept the same
ones and, when they accept, produce the same context.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authorizer.exceptions import TokenError
from authorizer.verification.config import AuthorizerConfig
from authorizer.verification.jwks import JwksCache
from authorizer.verification.verify import TokenVerifier
from shared.context import encode_context
from shared.jsonlog import get_logger
from tests.forge import b64url, b64url_json, claims, forged_key, jwks_body
from tests.helpers import make_config
from tests.oracle import reference

KEY = forged_key()
OTHER = forged_key("impostor")
PUBLIC: RSAPublicKey = KEY.private_key.public_key()
CONFIG = make_config()
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _verifier(config: AuthorizerConfig) -> TokenVerifier:
    jwks = JwksCache(
        config.pool.jwks_url,
        cache_seconds=config.jwks_cache_seconds,
        miss_cooldown_seconds=config.jwks_miss_cooldown_seconds,
        logger=get_logger("authorizer", "ERROR"),
        fetch=lambda _url: jwks_body(KEY),
    )
    return TokenVerifier(config, jwks)


VERIFIER = _verifier(CONFIG)


def ours(token: str) -> dict[str, Any] | None:
    try:
        verified, _ = VERIFIER.verify(token)
    except TokenError:
        return None
    return encode_context(verified.context)


# --- token strategies -----------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([10**400, -(10**400), 2**63, -(2**63)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
claim_names = st.sampled_from(
    [
        "exp", "iat", "nbf", "iss", "sub", "aud", "client_id", "token_use", "jti",
        "cognito:username", "username", "cognito:groups", "email", "scope", "auth_time",
    ]
)  # fmt: skip
header_names = st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jku", "x5c", "cty"])
# Times well away from the leeway boundaries, so the two clocks cannot disagree.
offsets = st.sampled_from([-100_000, -3600, -90, -10, 0, 10, 90, 3600, 100_000])


@st.composite
def base_tokens(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    now = time.time()
    payload = claims(draw(st.sampled_from(["id", "access"])), now=now)
    payload["exp"] = int(now) + draw(offsets)
    payload["iat"] = int(now) + draw(offsets)
    if draw(st.booleans()):
        payload["nbf"] = int(now) + draw(offsets)
    if draw(st.booleans()):
        payload["aud" if payload["token_use"] == "id" else "client_id"] = draw(
            st.sampled_from(["testclient123", "otherclient456", "stranger"])
        )
    return {"alg": "RS256", "kid": KEY.kid}, payload


def assemble(header: dict[str, Any], payload: dict[str, Any], signer: Any) -> str:
    signing_input = f"{b64url_json(header)}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


@st.composite
def tokens(draw: st.DrawFn) -> str:
    header, payload = draw(base_tokens())
    mutation = draw(st.integers(min_value=0, max_value=9))
    signer = KEY.sign_bytes
    if mutation == 1:
        payload[draw(claim_names)] = draw(json_values)
    elif mutation == 2:
        payload.pop(draw(claim_names), None)
    elif mutation == 3:
        header[draw(header_names)] = draw(json_values)
    elif mutation == 4:
        header.pop(draw(header_names), None)
    elif mutation == 5:
        signer = OTHER.sign_bytes
    token = assemble(header, payload, signer)
    if mutation == 6:  # one character changed anywhere
        index = draw(st.integers(min_value=0, max_value=len(token) - 1))
        token = token[:index] + draw(st.sampled_from(ALPHABET + "=.!+/ é")) + token[index + 1 :]
    elif mutation == 7:  # padding added to one segment
        parts = token.split(".")
        which = draw(st.integers(min_value=0, max_value=2))
        parts[which] += draw(st.sampled_from(["=", "==", "==="]))
        token = ".".join(parts)
    elif mutation == 8:  # cut or extended
        cut = draw(st.integers(min_value=0, max_value=len(token)))
        token = token[:cut] + draw(st.text(alphabet=ALPHABET + ".", max_size=8))
    elif mutation == 9:  # a segment replaced by random base64url
        parts = token.split(".")
        parts[draw(st.integers(min_value=0, max_value=2))] = draw(
            st.text(alphabet=ALPHABET, max_size=40)
        )
        token = ".".join(parts)
    return token


@settings(
    max_examples=1500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tokens())
def test_authorizer_and_oracle_agree(token: str) -> None:
    assert ours(token) == reference(token, PUBLIC, CONFIG)


@pytest.mark.parametrize("token_use", ["id", "access"])
def test_agreement_is_not_vacuous(token_use: str) -> None:
    """The reference accepts valid tokens, so agreement covers accepts as well as rejects."""
    token = assemble({"alg": "RS256", "kid": KEY.kid}, claims(token_use), KEY.sign_bytes)
    accepted = reference(token, PUBLIC, CONFIG)
    assert accepted is not None
    assert accepted == ours(token)
