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

    ``kid``, ``sub`` and ``tenant_id`` are filled in when known, for the decision log.
    """

    reason = "invalid_token"
    kid: str | None = None
    sub: str | None = None
    tenant_id: str | None = None


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


class Revoked(TokenError):
    """The token's family (origin_jti) or its user's tokens up to a sign-out are revoked."""

    reason = "revoked"


class TenantSuspended(TokenError):
    """The token's user pool belongs to a tenant the registry marks suspended (TENANT_TABLE)."""

    reason = "tenant_suspended"


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


# --- tables kept in memory: the authorizer cannot decide and raises ---------


class TableUnavailable(ProductError):
    """A table the authorizer must check has not been read within its maximum staleness."""

    reason = "table_unavailable"


class RevocationUnavailable(TableUnavailable):
    """The revocation list could not be read for longer than REVOCATION_MAX_STALE_SECONDS."""

    reason = "revocation_unavailable"


class TenantRegistryUnavailable(TableUnavailable):
    """The tenant registry could not be read for longer than TENANT_MAX_STALE_SECONDS."""

    reason = "tenant_registry_unavailable"


# --- sign-out problems (authorizer/signout/handler.py): answered with an HTTP status ---


class SignOutError(ProductError):
    """``POST /signout`` could not do what was asked; ``status`` is the HTTP answer."""

    reason = "signout_failed"
    status: int = 500

    def __init__(self, message: str | None = None, *, error_code: str | None = None) -> None:
        super().__init__(message)
        # The AWS error code or exception class behind it, for the log line.
        self.error_code = error_code


class BadSignOutRequest(SignOutError):
    """The request body or token does not allow the sign-out asked for."""

    reason = "bad_request"
    status = 400


class CognitoRefused(SignOutError):
    """Cognito refused the refresh or access token (RevokeToken, GlobalSignOut): nothing revoked."""

    reason = "cognito_refused"
    status = 400


class CognitoUnavailable(SignOutError):
    """Cognito did not answer (throttled, down, unreachable): nothing revoked, try again."""

    reason = "cognito_unavailable"
    status = 502


class RevocationWriteFailed(SignOutError):
    """The revocation list could not be written: the tokens stay valid until they expire."""

    reason = "revocation_write_failed"
    status = 503
