"""Verify a Cognito JWT: PyJWT checks the token, then Cognito's rules are applied on its output.

PyJWT (``jwt.decode``) does everything it knows how to do: the compact-JWS
structure and strict base64url, the header (including ``crit``), the RS256
signature with the key bound to its algorithm, ``exp`` / ``nbf`` / ``iat``
with the leeway, ``iss``, and the required claims. This module adds only what
PyJWT cannot know: which key (by ``kid``, from our JWKS cache), Cognito's
``token_use`` / ``aud`` vs ``client_id`` / groups / scopes / usernames, and
claim types stricter than PyJWT's (it reads ``"123"`` and ``true`` as dates
and ``null`` as absent). Nothing here decodes a token's base64url or JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import jwt
from cachetools import LRUCache

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
# header segments; remembering the checked ones saves PyJWT a second parse.
HEADER_CACHE_SIZE: Final = 64
ALGORITHMS: Final = ["RS256"]

# Header parameters that would change how the token must be read; Cognito uses none.
# jku, x5u, jwk and x5c are simply never read: keys come only from the pool's JWKS.
_UNSUPPORTED_HEADERS: Final = ("crit", "b64")
_NUMERIC_DATES: Final = ("exp", "iat", "nbf")
_STRING_CLAIMS: Final = ("iss", "sub", "jti")


class Verified(NamedTuple):
    context: AuthContext
    kid: str
    key: jwt.PyJWK
    expires_at: float


class _CognitoJWT(jwt.PyJWT):
    """PyJWT with our claim types checked where PyJWT offers the seam for it.

    ``_decode_payload`` is PyJWT's documented override point ("intended to be
    overridden by subclasses"): it runs after the signature check and the JSON
    parse, and before PyJWT's required-claim, time and issuer checks, so a
    wrongly typed date or issuer is named ``invalid_claim`` rather than being
    coerced (``int("123")``) or misreported as expired or a wrong issuer.
    """

    def __init__(self) -> None:
        super().__init__(
            options={
                "require": ["exp", "iat", "iss", "sub"],
                # Cognito puts the app client in aud (id tokens) or client_id
                # (access tokens); check_claims picks the right one.
                "verify_aud": False,
                "enforce_minimum_key_length": True,
            }
        )
        # The claims of the last token whose signature verified, kept so a
        # deny for an expired token can still say whose it was.
        self.signed_claims: dict[str, Any] | None = None

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        payload = super()._decode_payload(decoded)
        self.signed_claims = payload
        check_claim_types(payload)
        return payload


def check_claim_types(claims: dict[str, Any]) -> None:
    """Dates are JSON numbers and iss/sub/jti strings; present-but-null is the wrong type."""
    for name in _NUMERIC_DATES:
        if name in claims:
            value = claims[name]
            # bool is an int in Python; any size of int compares exactly.
            if not (type(value) is int or (type(value) is float and math.isfinite(value))):
                raise InvalidClaim(f"{name} must be a number")
    for name in _STRING_CLAIMS:
        if name in claims and not isinstance(claims[name], str):
            raise InvalidClaim(f"{name} must be a string")


def token_error(err: jwt.PyJWTError) -> TokenError:
    """Our stable reason code for each of PyJWT's rejections: the one place they are mapped.

    Where PyJWT uses one class for two of our reasons, its (pinned) message
    tells them apart; tests pin every row. The algorithm, the kid and the
    claim types are checked by our own rules before PyJWT could object to
    them, so its errors for those never arrive here; an unknown rejection is
    still a deny, with the generic ``invalid_token`` reason.
    """
    message = str(err)
    if isinstance(err, jwt.InvalidSignatureError):  # a DecodeError: test it first
        return InvalidSignature("signature does not verify")
    if isinstance(err, jwt.ExpiredSignatureError):
        return TokenExpired("token has expired")
    if isinstance(err, jwt.ImmatureSignatureError):
        if "(iat)" in message:
            return TokenIssuedInFuture("token was issued in the future (iat)")
        return TokenNotYetValid("token is not valid yet (nbf)")
    if isinstance(err, jwt.InvalidIssuerError):
        return WrongIssuer("iss is not the configured user pool")
    if isinstance(err, jwt.MissingRequiredClaimError):
        return MissingClaim(f"{err.claim} is required")
    if "'b64'" in message:  # detached payloads (RFC 7797), a DecodeError or not
        return UnsupportedHeader("crit/b64 header parameters are not supported")
    if isinstance(err, jwt.DecodeError):
        return MalformedToken("token is not a well-formed JWS with JSON header and claims")
    if "Key ID" in message:
        return MissingKeyId("header kid is not a string")
    if "crit" in message:
        return UnsupportedHeader("crit/b64 header parameters are not supported")
    return TokenError("PyJWT rejected the token")


def check_header(header: dict[str, Any]) -> str:
    """Our header rules on PyJWT's parsed header; returns the kid."""
    if header.get("alg") != "RS256":
        raise UnsupportedAlgorithm("alg is not RS256")
    if any(name in header for name in _UNSUPPORTED_HEADERS):
        raise UnsupportedHeader("crit/b64 header parameters are not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MissingKeyId("header has no kid")
    return kid


def warm_up(keys: list[jwt.PyJWK]) -> None:
    """Run one throwaway check per key through PyJWT during initialisation.

    OpenSSL sets up its RSA and SHA-256 machinery on first use, which costs
    about 40 checks' worth of time; better in the init phase than in the
    first request.
    """
    for key in keys:
        key.Algorithm.verify(b"warm-up", key.key, b"\x00" * (key.key.key_size // 8))


def _groups(claims: dict[str, Any]) -> tuple[str, ...]:
    """``cognito:groups``: a list of names; the context joins them with spaces."""
    if "cognito:groups" not in claims:
        return ()
    value = claims["cognito:groups"]
    # Splitting the joined names gives them back exactly when every one is a
    # non-empty string with no whitespace anywhere (one C-level pass, no loop).
    try:
        if isinstance(value, list) and " ".join(value).split() == value:
            return tuple(value)
    except TypeError:  # a name that is not a string
        pass
    raise InvalidClaim("cognito:groups must be a list of names without whitespace")


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


def check_claims(claims: dict[str, Any], config: AuthorizerConfig) -> AuthContext:
    """Cognito's rules on claims PyJWT has verified; returns the context for the backend."""
    token_use = claims.get("token_use")
    if token_use not in ("id", "access"):
        raise WrongTokenUse("token_use must be id or access")
    if config.token_use not in ("any", token_use):
        raise WrongTokenUse(f"this API accepts {config.token_use} tokens only")

    is_id = token_use == "id"
    client_id = _string(claims, "aud" if is_id else "client_id")
    if client_id not in config.app_client_ids:
        raise WrongAudience("aud/client_id is not an allowed app client")

    sub: str = claims["sub"]  # PyJWT required it; check_claim_types made it a string
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

    ``clock`` is wall-clock seconds for the remembered tokens' exp; PyJWT reads
    the time itself for its own exp/nbf/iat checks.
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
        # Header segment -> kid, for headers that passed check_header.
        self._checked_headers: dict[str, str] = {}
        self._decoder = _CognitoJWT()

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
        verified = self._verify_fresh(token)
        if verified.expires_at > self._clock():  # past exp but inside the leeway: not kept
            self._verified[token] = verified
        return verified, False

    def forget_tokens(self) -> None:
        """Drop every remembered token: the next sight of each is verified afresh."""
        self._verified.clear()

    def _verify_fresh(self, token: str) -> Verified:
        kid: str | None = None
        self._decoder.signed_claims = None
        try:
            if len(token) > MAX_TOKEN_CHARS:
                raise MalformedToken("token is too long")
            kid, key = self._key_for(token)
            try:
                payload = self._decoder.decode(
                    token,
                    key,
                    algorithms=ALGORITHMS,
                    issuer=self._config.issuer,
                    leeway=self._config.leeway_seconds,
                )
            except jwt.PyJWTError as err:
                raise token_error(err) from None
            context = check_claims(payload, self._config)
        except TokenError as err:
            err.kid = kid
            # Only a signature-checked sub says who it was; an unsigned one is a claim.
            signed = self._decoder.signed_claims
            sub = signed.get("sub") if signed is not None else None
            err.sub = sub if isinstance(sub, str) else None
            raise
        # min(): a valid exp may be an int too large for a float (10**400 means "never").
        expires_at = float(min(payload["exp"], 2**53))
        return Verified(context=context, kid=kid, key=key, expires_at=expires_at)

    def _key_for(self, token: str) -> tuple[str, jwt.PyJWK]:
        """The kid and key for ``token``; a garbage token never reaches a key fetch.

        A header seen before (the common case) with its key in the fresh set
        needs no parse here: PyJWT's decode then checks the whole token. Any
        other token is parsed by PyJWT first (every segment, the header's JSON
        and crit), so only a well-formed token can make the cache fetch.
        """
        header_segment = token.partition(".")[0]
        kid = self._checked_headers.get(header_segment)
        if kid is not None:
            key = self._jwks.fresh_key(kid)
            if key is not None:
                return kid, key
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as err:
            raise token_error(err) from None
        kid = check_header(header)
        if len(self._checked_headers) >= HEADER_CACHE_SIZE:
            self._checked_headers.clear()  # only made-up headers get here; nothing worth an LRU
        self._checked_headers[header_segment] = kid
        return kid, self._jwks.get_key(kid)
