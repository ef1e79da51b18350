"""The authorizer's settings, read once per cold start into one frozen object."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from authorizer.rules import RouteRule, parse_route_rules
from shared.exceptions import ConfigurationError
from shared.jsonlog import LEVELS

TOKEN_USES: Final = ("id", "access", "any")
DEFAULT_JWKS_CACHE_SECONDS: Final = 3600
DEFAULT_JWKS_MISS_COOLDOWN_SECONDS: Final = 10
DEFAULT_LEEWAY_SECONDS: Final = 30

# <region>_<id>, e.g. us-east-1_AbC123xyz or us-gov-west-1_x1Y2z3.
_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+")
# Cognito app client ids are [\w+]+ (CreateUserPoolClient API reference).
_CLIENT_ID = re.compile(r"[\w+]+")


@dataclass(frozen=True, slots=True)
class AuthorizerConfig:
    user_pool_id: str
    region: str
    app_client_ids: frozenset[str]
    token_use: str
    issuer: str
    jwks_url: str
    jwks_cache_seconds: int
    jwks_miss_cooldown_seconds: int
    leeway_seconds: int
    log_level: str
    route_rules: Mapping[str, RouteRule] = field(default_factory=dict)


def load_config(env: Mapping[str, str]) -> AuthorizerConfig:
    """Parse the environment, or raise ConfigurationError naming the variable."""
    user_pool_id = _required(env, "USER_POOL_ID")
    match = _POOL_ID.fullmatch(user_pool_id)
    if not match:
        raise ConfigurationError(
            "USER_POOL_ID", "must look like <region>_<id>, e.g. us-east-1_AbC123xyz"
        )
    region = match["region"]

    client_ids = [part.strip() for part in _required(env, "APP_CLIENT_IDS").split(",")]
    if not all(client_ids) or not all(_CLIENT_ID.fullmatch(c) for c in client_ids):
        raise ConfigurationError(
            "APP_CLIENT_IDS", "must be comma-separated app client ids with no empty entries"
        )

    token_use = env.get("TOKEN_USE", "any").strip().lower() or "any"
    if token_use not in TOKEN_USES:
        raise ConfigurationError("TOKEN_USE", f"must be one of {', '.join(TOKEN_USES)}")

    issuer = env.get("ISSUER", "").strip() or (
        f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
    )
    _check_url("ISSUER", issuer)
    if not issuer.endswith(f"/{user_pool_id}"):
        # A typo here would trust tokens of whatever pool the issuer names.
        raise ConfigurationError("ISSUER", f"must end with /{user_pool_id} (USER_POOL_ID)")
    jwks_url = env.get("JWKS_URL", "").strip() or f"{issuer}/.well-known/jwks.json"
    _check_url("JWKS_URL", jwks_url)

    log_level = env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
    if log_level not in LEVELS:
        raise ConfigurationError("LOG_LEVEL", f"must be one of {', '.join(LEVELS)}")

    return AuthorizerConfig(
        user_pool_id=user_pool_id,
        region=region,
        app_client_ids=frozenset(client_ids),
        token_use=token_use,
        issuer=issuer,
        jwks_url=jwks_url,
        jwks_cache_seconds=_seconds(
            env, "JWKS_CACHE_SECONDS", DEFAULT_JWKS_CACHE_SECONDS, minimum=1
        ),
        jwks_miss_cooldown_seconds=_seconds(
            env, "JWKS_MISS_COOLDOWN_SECONDS", DEFAULT_JWKS_MISS_COOLDOWN_SECONDS, minimum=1
        ),
        leeway_seconds=_seconds(
            env, "LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS, minimum=0, maximum=300
        ),
        log_level=log_level,
        route_rules=parse_route_rules(env.get("ROUTE_RULES", "")),
    )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(name, "is required")
    return value


def _seconds(
    env: Mapping[str, str], name: str, default: int, *, minimum: int, maximum: int = 7 * 86400
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(name, f"must be a whole number of seconds, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(name, f"must be between {minimum} and {maximum} seconds")
    return value


def _check_url(name: str, url: str) -> None:
    """https anywhere; plain http only to this machine (the offline stack and tests)."""
    parts = urlsplit(url)
    if not parts.hostname:
        raise ConfigurationError(name, f"must be an absolute https URL, got {url!r}")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise ConfigurationError(name, "must use https (plain http is allowed only for loopback hosts)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # only for a plain-http URL, i.e. never on a deployed cold start

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
