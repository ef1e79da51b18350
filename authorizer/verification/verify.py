"""Verify a Cognito JWT: PyJWT checks the token, then Cognito's rules are applied on its output.

PyJWT (``jwt.decode``) does everything it knows how to do: the compact-JWS
structure and strict base64url, the header (including ``crit``), the RS256
signature with the key bound to its algorithm, ``exp`` / ``nbf`` / ``iat``
with the leeway, ``iss``, and the required claims. This module adds only what
PyJWT cannot know: which trusted pool and key (by exact ``iss`` and ``kid``,
from our JWKS caches), Cognito's ``token_use`` / ``aud`` vs ``client_id`` /
groups / scopes / usernames, the claims copied for the backend, and claim
types stricter than PyJWT's (it reads ``"123"`` and ``true`` as dates and
``null`` as absent). Nothing here decodes a token's base64url or JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

import jwt
from cachetools import LRUCache

from authorizer.exceptions import (
    ContextTooLarge,
    InvalidClaim,
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    MissingKeyId,
    TenantSuspended,
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
from authorizer.verification.config import AuthorizerConfig, PoolConfig
from authorizer.verification.jwks import JwksCache
from authorizer.verification.rules import SCOPE_TOKEN, is_scalar
from shared.context import AuthContext, ClaimValue, claims_size

if TYPE_CHECKING:  # the registry's types: nothing of it is imported while it is off
    from authorizer.verification.tenancy import Tenancy, Tenant

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
    # The claims route rules read (ROUTE_RULES), kept for remembered tokens too.
    rule_claims: dict[str, Any]
    user_pool_id: str
    # What a revocation list is checked against: the token's family and issue time.
    origin_jti: str | None
    issued_at: float
    # The registered tenant whose pool issued it (TENANT_TABLE), as the registry had it.
    tenant: Tenant | None = None


class RevocationCheck(Protocol):
    """Raises Revoked (deny) or RevocationUnavailable (cannot decide) for a verified token."""

    def check(self, verified: Verified) -> None: ...


class TrustedPool(NamedTuple):
    """A configured or registered pool with its key set, as the verifier uses them."""

    config: PoolConfig
    jwks: JwksCache
    # What PyJWT compares iss with: one string, or the set of the pool's issuers.
    issuer: str | frozenset[str]
    # The registered tenant the pool is (TENANT_TABLE); None for a configured pool.
    tenant: Tenant | None = None


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


def scopes(value: str) -> tuple[str, ...]:
    """An OAuth ``scope`` as RFC 6749 section 3.3 defines it: scope-tokens split on ASCII spaces.

    Empty pieces from repeated spaces are ignored; any other whitespace (tab,
    newline, no-break space) or a character outside the scope-token set makes
    the claim invalid, never a match.
    """
    pieces = tuple(piece for piece in value.split(" ") if piece)
    if not all(SCOPE_TOKEN.fullmatch(piece) for piece in pieces):
        raise InvalidClaim("scope holds a character outside RFC 6749's scope-token set")
    return pieces


def _claim_value(name: str, value: Any) -> ClaimValue:
    """A claim copied into the context: a string, number, boolean, or a list of those."""
    if is_scalar(value):
        return value
    if isinstance(value, list) and all(is_scalar(item) for item in value):
        return tuple(value)
    raise InvalidClaim(f"{name} is not a string, number, boolean or list of them")


def context_claims(
    claims: dict[str, Any], names: Iterable[str], max_bytes: int
) -> tuple[tuple[str, ClaimValue], ...]:
    """The configured claims for the backend (CONTEXT_CLAIMS), within their size cap."""
    copied = tuple((name, _claim_value(name, claims[name])) for name in names if name in claims)
    if copied and claims_size(copied) > max_bytes:
        raise ContextTooLarge(f"context claims exceed {max_bytes} bytes")
    return copied


def issued_at_seconds(iat: float) -> int:
    """The context's ``issuedAt``: ``iat`` in whole seconds, rounded up, never below 0.

    A revocation's ``revokedAt`` is a whole number from 0 up, and for such an R
    ``ceil(iat) <= R`` exactly when ``iat <= R`` (and a negative ``iat`` is
    before every R): what is read from the context decides as the token would.
    """
    return max(0, math.ceil(iat))


def check_claims(
    claims: dict[str, Any], config: AuthorizerConfig, pool: PoolConfig | None = None
) -> AuthContext:
    """Cognito's rules on claims PyJWT has verified; returns the context for the backend."""
    pool = pool or config.pool
    token_use = claims.get("token_use")
    if token_use not in ("id", "access"):
        raise WrongTokenUse("token_use must be id or access")
    if pool.token_use not in ("any", token_use):
        raise WrongTokenUse(f"this API accepts {pool.token_use} tokens only")

    is_id = token_use == "id"
    client_id = _string(claims, "aud" if is_id else "client_id")
    if client_id not in pool.app_client_ids:
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
        scopes=scopes(_string(claims, "scope", required=False) or "") if not is_id else (),
        email=email,
        claims=context_claims(claims, config.context_claims, config.context_claims_max_bytes)
        if config.context_claims
        else (),
        origin_jti=_string(claims, "origin_jti", required=False) or None,
        # PyJWT required it, and check_claim_types made it a finite number.
        issued_at=issued_at_seconds(claims["iat"]),
    )


def _tenant_pool(tenant: Tenant, jwks: JwksCache) -> TrustedPool:
    """A registered tenant's pool as the verifier uses it, with the key set it is to use."""
    return TrustedPool(tenant.pool, jwks, _issuer_argument(tenant.pool), tenant)


def _issuer_argument(pool: PoolConfig) -> str | frozenset[str]:
    """PyJWT compares a str with ``!=`` and a container with ``in``: both exact."""
    return next(iter(pool.issuers)) if len(pool.issuers) == 1 else pool.issuers


class TokenVerifier:
    """Verifies tokens against the trusted pools, remembering the ones it has verified.

    A remembered token is answered without the RSA check until its exp, and
    only while the key that verified it is still the one its pool's key set
    holds for its kid (a rotation or a refreshed set with new material forgets
    it). Not thread-safe: a Lambda instance serves one request at a time.

    ``clock`` is wall-clock seconds for the remembered tokens' exp and for
    route rules; PyJWT reads the time itself for its exp/nbf/iat checks.
    """

    def __init__(
        self,
        config: AuthorizerConfig,
        jwks: JwksCache | Sequence[JwksCache],
        *,
        clock: Callable[[], float] = time.time,
        cache_size: int = VERIFIED_CACHE_SIZE,
        revocations: RevocationCheck | None = None,
        tenancy: Tenancy | None = None,
    ) -> None:
        key_sets = (jwks,) if isinstance(jwks, JwksCache) else tuple(jwks)
        if len(key_sets) != len(config.pools):
            raise ValueError("one key set per configured pool")
        self._config = config
        self._pools = tuple(
            TrustedPool(pool, key_set, _issuer_argument(pool))
            for pool, key_set in zip(config.pools, key_sets, strict=True)
        )
        # Exact strings only: a token's iss picks its pool by dictionary lookup.
        self._by_issuer = {iss: pool for pool in self._pools for iss in pool.config.issuers}
        self._by_pool_id = {pool.config.user_pool_id: pool for pool in self._pools}
        self._rule_claims = config.rule_claim_names
        self.clock = clock
        # Keyed by the whole token: only the exact bytes that were verified hit.
        self._verified: LRUCache[str, Verified] = LRUCache(maxsize=cache_size)
        # Header segment -> kid, for headers that passed check_header: a pool's
        # one or two, and each tenant's whose key set may be held.
        self._checked_headers: dict[str, str] = {}
        self._header_cache_size = HEADER_CACHE_SIZE + (
            2 * tenancy.key_sets.max_sets if tenancy is not None else 0
        )
        self._decoder = _CognitoJWT()
        self.revocations = revocations
        self.tenancy = tenancy
        # kid -> the registered pool whose key set held it at its last canonical check.
        self._tenant_kids: dict[str, str] = {}

    @property
    def key_sets(self) -> tuple[JwksCache, ...]:
        return tuple(pool.jwks for pool in self._pools)

    def verify(self, token: str) -> tuple[Verified, bool]:
        """The verified identity and whether it came from the verified-token cache.

        Raises a TokenError (deny), a JwksError or RevocationUnavailable (cannot
        decide). A remembered token is checked against the revocation list
        like a fresh one: remembering saves the RSA check, not the revocation.
        """
        verified, from_cache = self._verified_or_remembered(token)
        if self.revocations is not None:
            self.revocations.check(verified)
        return verified, from_cache

    def _verified_or_remembered(self, token: str) -> tuple[Verified, bool]:
        remembered = self._verified.get(token)
        if remembered is not None:
            if self.clock() < remembered.expires_at and self._still_holds(remembered):
                return remembered, True
            del self._verified[token]
        verified = self._verify_fresh(token)
        if verified.expires_at > self.clock():  # past exp but inside the leeway: not kept
            self._verified[token] = verified
        return verified, False

    def _still_holds(self, remembered: Verified) -> bool:
        """Whether the key (and, for a tenant, the tenant as it was) still verifies the token."""
        tenant, tenancy = remembered.tenant, self.tenancy
        jwks: JwksCache | None
        if tenant is None or tenancy is None:
            jwks = self._by_pool_id[remembered.user_pool_id].jwks
        elif tenancy.directory.tenant_of_pool(remembered.user_pool_id) is tenant:
            jwks = tenancy.key_sets.peek(tenant.pool.jwks_url)  # None once evicted
        else:
            return False  # changed, suspended or deleted since: verified afresh
        return jwks is not None and jwks.get_key(remembered.kid) is remembered.key

    def forget_tokens(self) -> None:
        """Drop every remembered token: the next sight of each is verified afresh."""
        self._verified.clear()

    def _verify_fresh(self, token: str) -> Verified:
        kid: str | None = None
        self._decoder.signed_claims = None
        try:
            if len(token) > MAX_TOKEN_CHARS:
                raise MalformedToken("token is too long")
            known = self._known_key(token)
            if known is None:
                kid, pool, key = self._key_for(token)
                payload = self._decode(token, pool, key)
            else:
                kid, pool, key = known
                try:
                    payload = self._decode(token, pool, key)
                except TokenError:
                    # The shortcut skipped the parse and the iss match, so its deny
                    # may name another reason than a first sight would. Re-derive
                    # it the one canonical way; a same pool and key decide alike,
                    # and its deny keeps whose token it was (another pool's key
                    # vouches for no sub).
                    signed = self._decoder.signed_claims
                    self._decoder.signed_claims = None
                    kid, canonical_pool, canonical_key = self._key_for(token)
                    if canonical_pool.config is pool.config and canonical_key is key:
                        self._decoder.signed_claims = signed
                        raise
                    pool, key = canonical_pool, canonical_key
                    payload = self._decode(token, pool, key)
            context = check_claims(payload, self._config, pool.config)
            tenant = pool.tenant
            if tenant is not None:
                context = context._replace(
                    tenant_id=tenant.tenant_id, tenant_attributes=tenant.attributes
                )
        except TokenError as err:
            if kid is not None:  # else _key_for named it, or there is none
                err.kid = kid
            # Only a signature-checked sub says who it was; an unsigned one is a claim.
            signed = self._decoder.signed_claims
            sub = signed.get("sub") if signed is not None else None
            err.sub = sub if isinstance(sub, str) else None
            raise
        # min(): a valid exp may be an int too large for a float (10**400 means "never").
        expires_at = float(min(payload["exp"], 2**53))
        rule_claims = {n: payload[n] for n in self._rule_claims if n in payload}
        return Verified(
            context,
            kid,
            key,
            expires_at,
            rule_claims,
            pool.config.user_pool_id,
            # check_claims read it (a string, else the token was denied): one reading.
            context.origin_jti,
            payload["iat"],
            tenant,
        )

    def _decode(self, token: str, pool: TrustedPool, key: jwt.PyJWK) -> dict[str, Any]:
        try:
            payload: dict[str, Any] = self._decoder.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=pool.issuer,
                leeway=self._config.leeway_seconds,
            )
        except jwt.PyJWTError as err:
            raise token_error(err) from None
        return payload

    def _known_key(self, token: str) -> tuple[str, TrustedPool, jwt.PyJWK] | None:
        """The fast path: a header seen before whose kid one pool holds in a fresh key set.

        No parse and no fetch: PyJWT's decode then checks the whole token, iss
        included, against that pool. Only an allow is final here; a deny is
        re-derived by ``_key_for``, so the reason never depends on what this
        instance has seen before.
        """
        kid = self._checked_headers.get(token.partition(".")[0])
        if kid is None:
            return None
        held = self._held_fresh(kid)
        if held is None and self.tenancy is not None:
            held = self._tenant_held_fresh(kid, self.tenancy)
        return None if held is None else (kid, *held)

    def _key_for(self, token: str) -> tuple[str, TrustedPool, jwt.PyJWK]:
        """The kid, pool and key for ``token``, the canonical way; garbage never causes a fetch.

        PyJWT parses the whole token first (every segment, the header's and the
        claims' JSON, crit), in every mode; the header rules apply; the claims'
        iss picks the one trusted pool by exact string. Only then may that
        pool's key set be asked for the kid (and fetch, if it lacks it). So a
        malformed payload or an untrusted issuer is denied for what it is and
        never reaches a key set.
        """
        try:
            unverified = jwt.decode_complete(token, options={"verify_signature": False})
        except jwt.PyJWTError as err:
            raise token_error(err) from None
        kid = check_header(unverified["header"])
        header_segment = token.partition(".")[0]
        if len(self._checked_headers) >= self._header_cache_size:
            self._checked_headers.clear()  # only made-up headers get here; nothing worth an LRU
        self._checked_headers[header_segment] = kid
        pool = self._pool_for_issuer(unverified["payload"], kid)
        try:
            key = pool.jwks.get_key(kid)
        except TokenError as err:  # an unknown kid: the decision log names it
            err.kid = kid
            raise
        if pool.tenant is not None:
            if len(self._tenant_kids) >= self._header_cache_size:
                self._tenant_kids.clear()
            self._tenant_kids[kid] = pool.config.user_pool_id
        return kid, pool, key

    def _held_fresh(self, kid: str) -> tuple[TrustedPool, jwt.PyJWK] | None:
        """The one pool holding ``kid`` in a fresh key set, without fetching; else None."""
        found = None
        for pool in self._pools:
            key = pool.jwks.fresh_key(kid)
            if key is not None:
                if found is not None:
                    return None  # two pools claim this kid: let iss decide
                found = (pool, key)
        return found

    def _tenant_held_fresh(
        self, kid: str, tenancy: Tenancy
    ) -> tuple[TrustedPool, jwt.PyJWK] | None:
        """The active tenant whose pool's key set held ``kid`` when last checked, if still fresh."""
        user_pool_id = self._tenant_kids.get(kid)
        if user_pool_id is None:
            return None
        tenant = tenancy.directory.tenant_of_pool(user_pool_id)
        if tenant is None or not tenant.active:
            return None
        jwks = tenancy.key_sets.peek(tenant.pool.jwks_url)
        if jwks is None:  # evicted: the canonical path makes it again
            return None
        key = jwks.fresh_key(kid)
        return None if key is None else (_tenant_pool(tenant, jwks), key)

    def _pool_for_issuer(self, payload: Any, kid: str) -> TrustedPool:
        try:
            if not isinstance(payload, dict):
                raise MalformedToken("claims are not a JSON object")
            if "iss" not in payload:
                raise MissingClaim("iss is required")
            iss = payload["iss"]
            if not isinstance(iss, str):
                raise InvalidClaim("iss must be a string")
            pool = self._by_issuer.get(iss)
            if pool is None and self.tenancy is not None:
                pool = self._registered_pool(iss, self.tenancy)
            if pool is None:
                raise WrongIssuer("iss is not a trusted user pool")
        except TokenError as err:
            err.kid = kid
            raise
        return pool

    @staticmethod
    def _registered_pool(iss: str, tenancy: Tenancy) -> TrustedPool | None:
        """The active tenant's pool for ``iss``: known from memory alone, never fetched for."""
        tenant = tenancy.directory.tenant_for_issuer(iss)
        if tenant is None:
            return None
        if not tenant.active:
            suspended = TenantSuspended("the token's tenant is suspended")
            suspended.tenant_id = tenant.tenant_id
            raise suspended
        return _tenant_pool(tenant, tenancy.key_sets.get(tenant.pool.jwks_url))
