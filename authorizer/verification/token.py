"""Find the bearer token in an authorizer event (HTTP API payload 2.0, REST REQUEST or TOKEN)."""

from __future__ import annotations

from typing import Any

from authorizer.exceptions import MalformedToken, MissingToken


def extract_token(event: dict[str, Any]) -> str:
    """``identitySource[0]``, else the ``authorization`` header (any case).

    Accepts ``Bearer <jwt>`` (scheme in any case) and a bare ``<jwt>``.
    """
    raw = _identity_source(event)
    if raw is None:
        raw = _authorization_header(event)
    return parse_bearer(raw)


def parse_bearer(raw: str | None) -> str:
    """The JWT in ``Bearer <jwt>`` (scheme in any case) or a bare ``<jwt>``."""
    if raw is None or not raw.strip():
        raise MissingToken("no token in the identity source or the Authorization header")
    parts = raw.split()
    if len(parts) == 2 and parts[0].lower() == "bearer":
        return parts[1]
    if len(parts) == 1 and parts[0].lower() != "bearer":
        return parts[0]
    raise MalformedToken("Authorization is neither 'Bearer <jwt>' nor a bare JWT")


def _identity_source(event: dict[str, Any]) -> str | None:
    source = event.get("identitySource")
    if isinstance(source, list) and source and isinstance(source[0], str) and source[0].strip():
        return source[0]
    return None


def _authorization_header(event: dict[str, Any]) -> str | None:
    headers = event.get("headers")
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == "authorization" and isinstance(value, str):
            return value
    return None
