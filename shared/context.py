"""The authorizer-context contract: what the authorizer hands to the functions behind it.

API Gateway passes a simple response's ``context`` to the integration under
``requestContext.authorizer.lambda`` (HTTP API, payload 2.0), and a REST
authorizer's ``context`` under ``requestContext.authorizer`` itself (payload
1.0, beside ``principalId``); every value must be a flat string,
number or boolean, so lists travel as space-joined strings (Cognito group
names and OAuth scopes contain no whitespace) and come back as tuples here.

Claims copied for the backend (the authorizer's CONTEXT_CLAIMS) travel under
keys that can never collide with the fixed ones, which hold no colon: a
string, number or boolean as it is under ``claim:<name>``, and a list as the
JSON text of an array under ``claimList:<name>``. With the tenant registry on,
the token's tenant is ``tenantId`` and each of its attributes ``tenant:<name>``.

``issuedAt`` is the token's ``iat`` as a whole number of epoch seconds, the one
number among the fixed keys: what a revocation of its user is compared with
(revoked when it is at or before the revocation's ``revokedAt``). A REST or
WebSocket integration gets it as text, as every value there; both read back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, TypeAlias

from shared.exceptions import MissingAuthContext

SUB: Final = "sub"
USERNAME: Final = "username"
TOKEN_USE: Final = "tokenUse"
CLIENT_ID: Final = "clientId"
GROUPS: Final = "groups"
SCOPE: Final = "scope"
EMAIL: Final = "email"
# The token family (one sign-in and its refreshes): Cognito's origin_jti, when
# the app client has token revocation on. The sign-out function revokes it.
ORIGIN_JTI: Final = "originJti"
# The token's iat, whole epoch seconds (rounded up: it compares with a whole revokedAt as iat does).
ISSUED_AT: Final = "issuedAt"
# The registered tenant whose user pool issued the token (the authorizer's TENANT_TABLE).
TENANT_ID: Final = "tenantId"
TENANT_PREFIX: Final = "tenant:"

REQUIRED_KEYS: Final = (SUB, USERNAME, TOKEN_USE, CLIENT_ID, GROUPS, SCOPE)
CLAIM_PREFIX: Final = "claim:"
CLAIM_LIST_PREFIX: Final = "claimList:"

Scalar: TypeAlias = str | int | float | bool
ClaimValue: TypeAlias = Scalar | tuple[Scalar, ...]
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


class AuthContext(NamedTuple):
    """Who the caller is, as the authorizer verified it.

    Immutable; a NamedTuple rather than a frozen dataclass because it is built
    on every fresh authorization and a tuple is several times cheaper to make.
    """

    sub: str
    username: str
    token_use: str
    client_id: str
    groups: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    email: str | None = None
    # Extra claims for the backend, as (name, value) pairs in configured order.
    claims: tuple[tuple[str, ClaimValue], ...] = ()
    origin_jti: str | None = None
    tenant_id: str | None = None
    # The tenant's attributes for the backend, as (name, value) pairs.
    tenant_attributes: tuple[tuple[str, str], ...] = ()
    # The token's iat in whole epoch seconds; None in a context that does not carry it.
    issued_at: int | None = None


def encode_claims(claims: tuple[tuple[str, ClaimValue], ...]) -> dict[str, Scalar]:
    """The context entries for the extra claims: scalars as they are, lists as JSON text."""
    encoded: dict[str, Scalar] = {}
    for name, value in claims:
        if isinstance(value, tuple):
            encoded[CLAIM_LIST_PREFIX + name] = _COMPACT.encode(list(value))
        else:
            encoded[CLAIM_PREFIX + name] = value
    return encoded


def claims_size(claims: tuple[tuple[str, ClaimValue], ...]) -> int:
    """Bytes the extra claims add to the context, as API Gateway receives it (UTF-8 JSON)."""
    return len(_COMPACT.encode(encode_claims(claims)).encode())


def encode_context(ctx: AuthContext) -> dict[str, Scalar]:
    """The simple response's ``context``: flat strings, numbers and booleans only."""
    encoded: dict[str, Scalar] = {
        SUB: ctx.sub,
        USERNAME: ctx.username,
        TOKEN_USE: ctx.token_use,
        CLIENT_ID: ctx.client_id,
        GROUPS: " ".join(ctx.groups),
        SCOPE: " ".join(ctx.scopes),
    }
    if ctx.email is not None:
        encoded[EMAIL] = ctx.email
    if ctx.origin_jti is not None:
        encoded[ORIGIN_JTI] = ctx.origin_jti
    if ctx.issued_at is not None:
        encoded[ISSUED_AT] = ctx.issued_at
    if ctx.claims:
        encoded.update(encode_claims(ctx.claims))
    if ctx.tenant_id is not None:
        encoded[TENANT_ID] = ctx.tenant_id
        for name, value in ctx.tenant_attributes:
            encoded[TENANT_PREFIX + name] = value
    return encoded


def decode_context(event: Mapping[str, Any]) -> AuthContext:
    """The authorizer's context from a payload-2.0 or 1.0 event, or raise MissingAuthContext."""
    request_context = event.get("requestContext")
    authorizer = request_context.get("authorizer") if isinstance(request_context, Mapping) else None
    if isinstance(authorizer, Mapping) and "lambda" in authorizer:
        values = authorizer["lambda"]  # payload 2.0
    else:
        values = _payload_1_context(authorizer)
    if not isinstance(values, Mapping):
        raise MissingAuthContext("no Lambda authorizer context in the event's requestContext")
    missing = [key for key in REQUIRED_KEYS if not isinstance(values.get(key), str)]
    if missing or not values[SUB]:
        raise MissingAuthContext(f"authorizer context lacks {', '.join(missing) or SUB}")
    email = values.get(EMAIL)
    origin_jti = values.get(ORIGIN_JTI)
    tenant_id = values.get(TENANT_ID)
    return AuthContext(
        sub=values[SUB],
        username=values[USERNAME],
        token_use=values[TOKEN_USE],
        client_id=values[CLIENT_ID],
        groups=tuple(values[GROUPS].split()),
        scopes=tuple(values[SCOPE].split()),
        email=email if isinstance(email, str) else None,
        claims=_decode_claims(values),
        origin_jti=origin_jti if isinstance(origin_jti, str) and origin_jti else None,
        tenant_id=tenant_id if isinstance(tenant_id, str) and tenant_id else None,
        tenant_attributes=tuple(
            sorted(
                (key[len(TENANT_PREFIX) :], value)
                for key, value in values.items()
                if key.startswith(TENANT_PREFIX) and isinstance(value, str)
            )
        ),
        issued_at=_issued_at(values.get(ISSUED_AT)),
    )


def _issued_at(value: Any) -> int | None:
    """``issuedAt`` as the authorizer wrote it (a number) or as REST and WebSocket pass it (text).

    Absent: None. Anything but a whole number of seconds from 0 up is a broken
    context, refused like one: a revocation check must never guess a time.
    """
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        try:
            return int(value)
        except ValueError:  # more digits than int() reads (sys.get_int_max_str_digits)
            pass
    raise MissingAuthContext(f"{ISSUED_AT} is not a whole number of seconds")


def _payload_1_context(authorizer: Any) -> Mapping[str, Any] | None:
    """REST proxy events (payload 1.0) carry the context beside ``principalId``.

    API Gateway adds ``principalId`` (our authorizer makes it the ``sub``) and
    ``integrationLatency``, and hands every context value over as a string
    (``true`` becomes ``"true"``, ``1`` becomes ``"1"``), so ``claim:<name>``
    values arrive as text there. A Cognito user-pool authorizer's ``claims``
    map or an IAM caller has no ``principalId`` equal to a ``sub``: refused.
    """
    if not isinstance(authorizer, Mapping):
        return None
    principal = authorizer.get("principalId")
    if not isinstance(principal, str) or principal != authorizer.get(SUB):
        return None
    return authorizer


def _decode_claims(values: Mapping[str, Any]) -> tuple[tuple[str, ClaimValue], ...]:
    claims: list[tuple[str, ClaimValue]] = []
    for key, value in values.items():
        if key.startswith(CLAIM_PREFIX) and isinstance(value, str | int | float | bool):
            claims.append((key[len(CLAIM_PREFIX) :], value))
        elif key.startswith(CLAIM_LIST_PREFIX) and isinstance(value, str):
            try:
                items = json.loads(value)
            except ValueError:
                raise MissingAuthContext(f"{key} is not a JSON list") from None
            if not isinstance(items, list):
                raise MissingAuthContext(f"{key} is not a JSON list")
            claims.append((key[len(CLAIM_LIST_PREFIX) :], tuple(items)))
    return tuple(claims)
