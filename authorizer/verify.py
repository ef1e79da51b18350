"""Verify a Cognito JWT: strict compact-JWS parse, RS256 signature, then Cognito's claims.

The parse is written here rather than delegated to ``jwt.decode`` for speed:
PyJWT checks base64url characters one at a time in Python and a token checked
with ``get_unverified_header`` + ``decode`` is parsed twice. It follows PyJWT's
own rules (same alphabet, padding and canonical-encoding checks, same JSON
loader) and hands the signature to cryptography, as PyJWT does;
``tests/unit/test_verify_differential.py`` proves the two agree on every
accept and reject.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from cachetools import LRUCache
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256

from authorizer.b64url import b64url_decode
from authorizer.config import AuthorizerConfig
from authorizer.jwks import JwksCache
from shared.context import AuthContext
from shared.exceptions import (
    InvalidClaim,
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    MissingKeyId,
    TokenError,
    TokenExpired,
    TokenIssuedInFuture,
    TokenNotYetValid,
    UnsupportedAlgorithm,
    UnsupportedHeader,
    WrongAudience,
    WrongIssuer,
    WrongTokenUse,
)

# Cognito tokens are 1-4 KB; API Gateway refuses headers much larger than this anyway.
MAX_TOKEN_CHARS: Final = 16 * 1024
VERIFIED_CACHE_SIZE: Final = 2048
# A user pool signs with one or two keys, so its tokens carry one or two distinct
# header segments; remembering the checked ones skips a decode and a JSON parse.
HEADER_CACHE_SIZE: Final = 64

# Header parameters that would change how the token must be read; Cognito uses none.
# jku, x5u, jwk and x5c are simply never read: keys come only from the pool's JWKS.
_UNSUPPORTED_HEADERS: Final = ("crit", "b64")
_PADDING = PKCS1v15()
_SHA256 = SHA256()
_checked_headers: dict[str, str] = {}
_JSON = json.JSONDecoder()


class ParsedToken(NamedTuple):
    kid: str
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes


class Verified(NamedTuple):
    context: AuthContext
    kid: str
    key: RSAPublicKey
    expires_at: float


def _decode(segment: str, what: str) -> bytes:
    try:
        return b64url_decode(segment)
    except ValueError:
        raise MalformedToken(f"{what} is not strict base64url") from None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        if data[:1] == b"{" and data[1:2] != b"\x00":
            # What json.loads(bytes) does for this prefix (its encoding sniffing
            # picks UTF-8), minus the sniffing and the call overhead.
            value = _JSON.decode(data.decode("utf-8", "surrogatepass"))
        else:
            value = json.loads(data)
    except (ValueError, RecursionError):
        raise MalformedToken(f"{what} is not valid JSON") from None
    if not isinstance(value, dict):
        raise MalformedToken(f"{what} is not a JSON object")
    return value


def parse_token(token: str) -> ParsedToken:
    """Split and decode a compact JWS and apply the header rules; nothing is trusted yet."""
    if len(token) > MAX_TOKEN_CHARS:
        raise MalformedToken("token is too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedToken("token does not have three segments")
    header_b64, claims_b64, signature_b64 = parts
    kid = _checked_headers.get(header_b64)
    if kid is None:
        kid = check_header(_json_object(_decode(header_b64, "header"), "header"))
        if len(_checked_headers) >= HEADER_CACHE_SIZE:
            _checked_headers.clear()  # only made-up headers get here; nothing worth an LRU
        _checked_headers[header_b64] = kid
    claims = _json_object(_decode(claims_b64, "claims"), "claims")
    signature = _decode(signature_b64, "signature")
    signing_input = token[: len(header_b64) + 1 + len(claims_b64)].encode("ascii")
    return ParsedToken(kid, claims, signing_input, signature)


def check_header(header: dict[str, Any]) -> str:
    """Apply the header rules and return the kid."""
    if header.get("alg") != "RS256":
        raise UnsupportedAlgorithm("alg is not RS256")
    if any(name in header for name in _UNSUPPORTED_HEADERS):
        raise UnsupportedHeader("crit/b64 header parameters are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MissingKeyId("header has no kid")
    return kid


def warm_up(keys: list[RSAPublicKey]) -> None:
    """Run one throwaway check per key during initialisation.

    OpenSSL sets up its RSA and SHA-256 machinery on first use, which costs
    about 40 checks' worth of time; better in the init phase than in the
    first request.
    """
    for key in keys:
        with contextlib.suppress(CryptoInvalidSignature):
            key.verify(b"\x00" * (key.key_size // 8), b"warm-up", _PADDING, _SHA256)


def verify_signature(parsed: ParsedToken, key: RSAPublicKey) -> None:
    try:
        key.verify(parsed.signature, parsed.signing_input, _PADDING, _SHA256)
    except CryptoInvalidSignature:
        raise InvalidSignature("signature does not verify") from None


def _numeric_date(claims: dict[str, Any], name: str) -> int | None:
    if name not in claims:
        return None
    value = claims[name]
    if type(value) is int:  # any size: Python compares big ints exactly
        return value
    if type(value) is float and math.isfinite(value):
        return int(value)  # PyJWT and RFC 7519 NumericDate compare whole seconds
    raise InvalidClaim(f"{name} must be a number")


def _string(claims: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string claim; present-but-null counts as the wrong type, not as absent."""
    if name not in claims:
        if required:
            raise MissingClaim(f"{name} is required")
        return None
    value = claims[name]
    if not isinstance(value, str):
        raise InvalidClaim(f"{name} must be a string")
    return value


def _groups(claims: dict[str, Any]) -> tuple[str, ...]:
    """``cognito:groups``: a list of names; the context joins them with spaces."""
    if "cognito:groups" not in claims:
        return ()
    value = claims["cognito:groups"]
    # item.split() == [item]: a non-empty name with no whitespace anywhere.
    if isinstance(value, list) and all(isinstance(i, str) and i.split() == [i] for i in value):
        return tuple(value)
    raise InvalidClaim("cognito:groups must be a list of names without whitespace")


def check_claims(claims: dict[str, Any], config: AuthorizerConfig, now: float) -> AuthContext:
    """Cognito's rules for id and access tokens; returns the context for the backend."""
    leeway = config.leeway_seconds
    exp = _numeric_date(claims, "exp")
    iat = _numeric_date(claims, "iat")
    nbf = _numeric_date(claims, "nbf")
    if exp is None or iat is None:
        raise MissingClaim("exp and iat are required")
    if exp <= now - leeway:
        raise TokenExpired("token has expired")
    if nbf is not None and nbf > now + leeway:
        raise TokenNotYetValid("token is not valid yet (nbf)")
    if iat > now + leeway:
        raise TokenIssuedInFuture("token was issued in the future (iat)")

    if _string(claims, "iss") != config.issuer:
        raise WrongIssuer("iss is not the configured user pool")

    token_use = claims.get("token_use")
    if token_use not in ("id", "access"):
        raise WrongTokenUse("token_use must be id or access")
    if config.token_use not in ("any", token_use):
        raise WrongTokenUse(f"this API accepts {config.token_use} tokens only")

    is_id = token_use == "id"
    client_id = _string(claims, "aud" if is_id else "client_id")
    if client_id not in config.app_client_ids:
        raise WrongAudience("aud/client_id is not an allowed app client")

    _string(claims, "jti", required=False)
    sub = _string(claims, "sub")
    if not sub:
        raise MissingClaim("sub is empty")
    # Machine-to-machine access tokens (client credentials) carry no username.
    username = _string(claims, "cognito:username" if is_id else "username", required=is_id)
    email = _string(claims, "email", required=False) if is_id else None
    return AuthContext(
        sub=sub,
        username=username or "",
        token_use=token_use,
        client_id=client_id,
        groups=_groups(claims),
        scopes=tuple((_string(claims, "scope", required=False) or "").split()) if not is_id else (),
        email=email,
    )


class TokenVerifier:
    """Verifies tokens against one user pool, remembering the ones it has verified.

    A remembered token is answered without the RSA check until its exp, and
    only while the key that verified it is still the one the key set holds
    for its kid (a rotation or a refreshed set with new material forgets it).
    Not thread-safe: a Lambda instance serves one request at a time.
    """

    def __init__(
        self,
        config: AuthorizerConfig,
        jwks: JwksCache,
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = VERIFIED_CACHE_SIZE,
    ) -> None:
        self._config = config
        self._jwks = jwks
        self._clock = clock
        # Keyed by the whole token: only the exact bytes that were verified hit.
        self._verified: LRUCache[str, Verified] = LRUCache(maxsize=cache_size)

    def verify(self, token: str) -> tuple[Verified, bool]:
        """The verified identity and whether it came from the verified-token cache.

        Raises a TokenError (deny) or a JwksError (cannot decide).
        """
        remembered = self._verified.get(token)
        if remembered is not None:
            if self._clock() < remembered.expires_at and (
                self._jwks.get_key(remembered.kid) is remembered.key
            ):
                return remembered, True
            del self._verified[token]
        now = self._clock()
        verified = verify_token(token, self._jwks.get_key, self._config, now)
        if verified.expires_at > now:  # past exp but inside the leeway: not worth keeping
            self._verified[token] = verified
        return verified, False


def verify_token(
    token: str,
    get_key: Callable[[str], RSAPublicKey],
    config: AuthorizerConfig,
    now: float,
) -> Verified:
    """Parse, find the key, check the signature, then the claims; TokenError on any problem.

    A garbage token is rejected by the parse before ``get_key`` runs, so it can
    never cause a key fetch.
    """
    kid: str | None = None
    signed: dict[str, Any] | None = None
    try:
        parsed = parse_token(token)
        kid = parsed.kid
        key = get_key(kid)
        verify_signature(parsed, key)
        signed = parsed.claims
        context = check_claims(signed, config, now)
    except TokenError as err:
        err.kid = kid
        # Only a signature-checked sub says who it was; an unsigned one is a claim.
        sub = signed.get("sub") if signed is not None else None
        err.sub = sub if isinstance(sub, str) else None
        raise
    # min(): a valid exp may be an int too large for a float (10**400 means "never").
    expires_at = float(min(parsed.claims["exp"], 2**53))
    return Verified(context=context, kid=kid, key=key, expires_at=expires_at)
