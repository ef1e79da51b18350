"""An independent oracle for the authorizer's verdict: PyJWT used plainly, then Cognito's rules.

Written out here separately from ``authorizer/verification/verify.py`` (no shared code), so
a test that compares the two catches a rule that drifted on either side.
"""

from __future__ import annotations

import math
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from authorizer.verification.config import AuthorizerConfig

MISSING: Any = object()


def reference(token: str, key: RSAPublicKey, config: AuthorizerConfig) -> dict[str, Any] | None:
    """PyJWT's verdict plus Cognito's rules; None means reject."""
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") != "RS256" or "crit" in header or "b64" in header:
            return None
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            return None
        payload = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=config.pool.issuer,
            leeway=config.leeway_seconds,
            options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
        )
    except jwt.InvalidTokenError:
        return None
    return cognito_rules(payload, config)


def is_number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def cognito_rules(payload: dict[str, Any], config: AuthorizerConfig) -> dict[str, Any] | None:
    # PyJWT takes "123" and True as dates; a Cognito token never does.
    if not all(is_number(payload[n]) for n in ("exp", "iat", "nbf") if n in payload):
        return None
    token_use = payload.get("token_use")
    if token_use not in ("id", "access") or config.pool.token_use not in ("any", token_use):
        return None
    is_id = token_use == "id"
    client_id = payload.get("aud" if is_id else "client_id")
    if not isinstance(client_id, str) or client_id not in config.pool.app_client_ids:
        return None
    sub = payload["sub"]
    if not sub:
        return None
    username = payload.get("cognito:username" if is_id else "username", MISSING)
    if username is MISSING and not is_id:
        username = ""
    if not isinstance(username, str):
        return None
    groups = payload.get("cognito:groups", [])
    if not isinstance(groups, list) or not all(
        isinstance(g, str) and g and g == "".join(g.split()) for g in groups
    ):
        return None
    extra: Any = payload.get("email" if is_id else "scope", MISSING)
    if extra is not MISSING and not isinstance(extra, str):
        return None
    origin_jti = payload.get("origin_jti", "")
    if not isinstance(origin_jti, str):
        return None
    context = {
        "sub": sub,
        "username": username,
        "tokenUse": token_use,
        "clientId": client_id,
        "groups": " ".join(groups),
        "scope": "" if is_id or extra is MISSING else " ".join(extra.split()),
    }
    if is_id and extra is not MISSING:
        context["email"] = extra
    if origin_jti:
        context["originJti"] = origin_jti
    # The smallest whole second at or after iat, 0 for any iat before the epoch.
    iat = payload["iat"]
    context["issuedAt"] = int(iat) + (iat > int(iat)) if iat > 0 else 0
    return context
