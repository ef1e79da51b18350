"""The authorizer-context contract: what the authorizer hands to the functions behind it.

API Gateway passes a simple response's ``context`` to the integration under
``requestContext.authorizer.lambda``; every value must be a flat string,
number or boolean, so lists travel as space-joined strings (Cognito group
names and OAuth scopes contain no whitespace) and come back as tuples here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from shared.exceptions import MissingAuthContext

SUB: Final = "sub"
USERNAME: Final = "username"
TOKEN_USE: Final = "tokenUse"
CLIENT_ID: Final = "clientId"
GROUPS: Final = "groups"
SCOPE: Final = "scope"
EMAIL: Final = "email"

REQUIRED_KEYS: Final = (SUB, USERNAME, TOKEN_USE, CLIENT_ID, GROUPS, SCOPE)


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


def encode_context(ctx: AuthContext) -> dict[str, str]:
    """The simple response's ``context``: flat strings only."""
    encoded = {
        SUB: ctx.sub,
        USERNAME: ctx.username,
        TOKEN_USE: ctx.token_use,
        CLIENT_ID: ctx.client_id,
        GROUPS: " ".join(ctx.groups),
        SCOPE: " ".join(ctx.scopes),
    }
    if ctx.email is not None:
        encoded[EMAIL] = ctx.email
    return encoded


def decode_context(event: Mapping[str, Any]) -> AuthContext:
    """Read the authorizer's context from a payload-2.0 event, or raise MissingAuthContext."""
    request_context = event.get("requestContext")
    authorizer = request_context.get("authorizer") if isinstance(request_context, Mapping) else None
    values = authorizer.get("lambda") if isinstance(authorizer, Mapping) else None
    if not isinstance(values, Mapping):
        raise MissingAuthContext("no requestContext.authorizer.lambda in the event")
    missing = [key for key in REQUIRED_KEYS if not isinstance(values.get(key), str)]
    if missing or not values[SUB]:
        raise MissingAuthContext(f"authorizer context lacks {', '.join(missing) or SUB}")
    email = values.get(EMAIL)
    return AuthContext(
        sub=values[SUB],
        username=values[USERNAME],
        token_use=values[TOKEN_USE],
        client_id=values[CLIENT_ID],
        groups=tuple(values[GROUPS].split()),
        scopes=tuple(values[SCOPE].split()),
        email=email if isinstance(email, str) else None,
    )
