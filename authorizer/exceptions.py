"""The authorizer's errors: why a token is denied, and why no decision can be made.

Each class carries a stable ``reason`` code: it is what the decision log
prints, what the metrics count, what tests assert on, and what an operator
greps for. Messages are fixed text chosen here or by the caller: they never
echo a token, a claim value or a secret.
"""

from __future__ import annotations

from shared.exceptions import ProductError

# --- token problems: the authorizer answers deny -----------------------------


class TokenError(ProductError):
    """The request's token cannot be trusted: the authorizer denies.

    ``kid`` and ``sub`` are filled in when known, for the decision log.
    """

    reason = "invalid_token"
    kid: str | None = None
    sub: str | None = None


class MissingToken(TokenError):
    """No token in the identity source or the Authorization header."""

    reason = "missing_token"


class MalformedToken(TokenError):
    """The token is not a well-formed compact JWS with JSON header and claims."""

    reason = "malformed_token"


class UnsupportedAlgorithm(TokenError):
    """The token's alg is not RS256."""

    reason = "unsupported_alg"


class UnsupportedHeader(TokenError):
    """The token's header asks for an extension this verifier does not implement."""

    reason = "unsupported_header"


class MissingKeyId(TokenError):
    """The token's header has no usable kid."""

    reason = "missing_kid"


class UnknownKeyId(TokenError):
    """The token's kid is not in the user pool's key set."""

    reason = "unknown_kid"


class InvalidSignature(TokenError):
    """The signature does not verify with the user pool's key."""

    reason = "bad_signature"


class TokenExpired(TokenError):
    """The token's exp is in the past."""

    reason = "expired"


class TokenNotYetValid(TokenError):
    """The token's nbf is in the future."""

    reason = "not_yet_valid"


class TokenIssuedInFuture(TokenError):
    """The token's iat is in the future."""

    reason = "issued_in_future"


class WrongIssuer(TokenError):
    """The token's iss is not the configured user pool."""

    reason = "wrong_issuer"


class WrongAudience(TokenError):
    """The token's aud or client_id is not an allowed app client."""

    reason = "wrong_audience"


class WrongTokenUse(TokenError):
    """The token's token_use is missing, unknown or not allowed here."""

    reason = "wrong_token_use"


class MissingClaim(TokenError):
    """A required claim is absent."""

    reason = "missing_claim"


class InvalidClaim(TokenError):
    """A claim has the wrong JSON type or an impossible value."""

    reason = "invalid_claim"


class MissingGroup(TokenError):
    """The caller is in none of the Cognito groups the route requires (ROUTE_RULES)."""

    reason = "missing_group"


class MissingScope(TokenError):
    """The token carries none of the scopes the route requires (ROUTE_RULES)."""

    reason = "missing_scope"


class ClaimMismatch(TokenError):
    """A claim the route requires holds none of the values it allows (ROUTE_RULES)."""

    reason = "claim_mismatch"


class AuthTooOld(TokenError):
    """The sign-in (auth_time) is older than the route allows (ROUTE_RULES)."""

    reason = "auth_too_old"


class ContextTooLarge(TokenError):
    """The claims to copy into the context exceed CONTEXT_CLAIMS_MAX_BYTES."""

    reason = "context_too_large"


class UnknownRoute(TokenError):
    """REST: the request's route is not in API_ROUTES, so the policy names no Allow for it."""

    reason = "unknown_route"


class UnexpectedEvent(TokenError):
    """The event is not what API_TYPE says API Gateway sends: no decision is made from it."""

    reason = "unexpected_event"


# --- key set problems: the authorizer cannot decide and raises ---------------


class JwksError(ProductError):
    """The user pool's key set cannot be had, so no decision can be made."""

    reason = "jwks_unavailable"


class JwksFetchError(JwksError):
    """Fetching the key set failed (network, status, size, redirect or timeout)."""

    reason = "jwks_fetch_failed"


class JwksParseError(JwksError):
    """The fetched key set is not a usable JWKS document."""

    reason = "jwks_invalid"
