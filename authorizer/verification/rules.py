"""Per-route requirements on the verified token (ROUTE_RULES).

What API Gateway's built-in JWT authorizer cannot do for groups or claims,
and does for scopes only. A route may require, all of:

- ``groups``: the caller is in at least one of these Cognito groups;
- ``scopes``: the access token carries at least one of these scopes (any-of,
  as the built-in authorizer's authorizationScopes);
- ``claims``: each named claim equals the given value or one of the listed
  values (strings, numbers and booleans compared by type and value: ``true``
  never equals ``1``); a list claim matches when one of its items does;
- ``maxAuthAgeSeconds``: the sign-in (``auth_time``) is at most this old;
- ``tokenUse``: ``id`` or ``access`` only;
- ``audiences``: for access tokens bound to a resource server, ``aud`` is (or
  contains) one of these.

API Gateway caches a simple response per identity-source value, not per route,
so route-specific decisions are only safe when ``$context.routeKey`` is one of
the identity sources (template.yaml does this) or the result cache is off.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, TypeGuard

from authorizer.exceptions import (
    AuthTooOld,
    ClaimMismatch,
    InvalidClaim,
    MissingClaim,
    MissingGroup,
    MissingScope,
    WrongAudience,
    WrongTokenUse,
)
from shared.context import AuthContext, Scalar
from shared.exceptions import ConfigurationError

# The one route a WebSocket API's authorizer decides (API_TYPE=websocket).
CONNECT_ROUTE: Final = "$connect"
# "METHOD /path" as API Gateway writes route keys, "$default", or a WebSocket API's "$connect".
_ROUTE_KEY = re.compile(r"(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*|\$default|\$connect")
# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
_RULE_KEYS: Final = frozenset(
    {"groups", "scopes", "claims", "maxAuthAgeSeconds", "tokenUse", "audiences"}
)
MAX_AUTH_AGE_SECONDS: Final = 7 * 86400


class RouteRule(NamedTuple):  # immutable, and cheaper to create than a dataclass
    groups: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()
    # (claim name, allowed values) pairs; every pair must match.
    claims: tuple[tuple[str, tuple[Scalar, ...]], ...] = ()
    max_auth_age_seconds: int | None = None
    token_use: str | None = None
    audiences: frozenset[str] = frozenset()

    @property
    def claim_names(self) -> frozenset[str]:
        """The token claims this rule reads besides the context."""
        names = {name for name, _ in self.claims}
        if self.max_auth_age_seconds is not None:
            names.add("auth_time")
        if self.audiences:
            names.add("aud")
        return frozenset(names)


def parse_route_rules(raw: str) -> dict[str, RouteRule]:
    """``{"POST /hello": {"groups": ["greeters"], "scopes": ["hello/write"]}, ...}``."""
    if not raw.strip():
        return {}
    try:
        document = json.loads(raw)
    except ValueError:
        raise ConfigurationError("ROUTE_RULES", "is not valid JSON") from None
    if not isinstance(document, dict):
        raise ConfigurationError("ROUTE_RULES", "must be a JSON object keyed by route key")
    return {route: _rule(route, spec) for route, spec in document.items()}


def _rule(route: str, spec: Any) -> RouteRule:
    if not _ROUTE_KEY.fullmatch(route):
        raise ConfigurationError(
            "ROUTE_RULES",
            f"{route!r} is not a route key like 'GET /hello', '$default' or '$connect'",
        )
    if not isinstance(spec, dict) or not spec or set(spec) - _RULE_KEYS:
        raise ConfigurationError(
            "ROUTE_RULES", f"{route!r} needs an object with keys among {sorted(_RULE_KEYS)}"
        )
    max_age = spec.get("maxAuthAgeSeconds")
    if max_age is not None and not (type(max_age) is int and 1 <= max_age <= MAX_AUTH_AGE_SECONDS):
        raise ConfigurationError(
            "ROUTE_RULES",
            f"{route!r}: maxAuthAgeSeconds must be a whole number 1..{MAX_AUTH_AGE_SECONDS}",
        )
    token_use = spec.get("tokenUse")
    if token_use not in (None, "id", "access"):
        raise ConfigurationError("ROUTE_RULES", f"{route!r}: tokenUse must be 'id' or 'access'")
    return RouteRule(
        groups=_names(route, spec, "groups"),
        scopes=_names(route, spec, "scopes"),
        claims=_claims(route, spec.get("claims")),
        max_auth_age_seconds=max_age,
        token_use=token_use,
        audiences=_names(route, spec, "audiences"),
    )


def _names(route: str, spec: Mapping[str, Any], field: str) -> frozenset[str]:
    names = spec.get(field, [])
    # Scopes are RFC 6749 scope-tokens; group names and audiences hold no whitespace.
    valid = (
        (lambda n: SCOPE_TOKEN.fullmatch(n) is not None)
        if field == "scopes"
        else (lambda n: n.split() == [n])
    )
    if not isinstance(names, list) or not all(isinstance(n, str) and valid(n) for n in names):
        raise ConfigurationError(
            "ROUTE_RULES", f"{route!r}: {field} must be a list of names without whitespace"
        )
    if field in spec and not names:
        raise ConfigurationError("ROUTE_RULES", f"{route!r}: {field} must not be empty")
    return frozenset(names)


def is_scalar(value: Any) -> TypeGuard[Scalar]:
    """A JSON string, boolean or finite number: what an API Gateway context value may be."""
    return isinstance(value, str | bool | int) or (
        isinstance(value, float) and math.isfinite(value)
    )


def _claims(route: str, spec: Any) -> tuple[tuple[str, tuple[Scalar, ...]], ...]:
    if spec is None:
        return ()
    problem = f"{route!r}: claims must map claim names to a value or a non-empty list of values"
    if not isinstance(spec, dict) or not spec:
        raise ConfigurationError("ROUTE_RULES", problem)
    rules: list[tuple[str, tuple[Scalar, ...]]] = []
    for name, allowed in spec.items():
        values = allowed if isinstance(allowed, list) else [allowed]
        if not name or not values or not all(is_scalar(v) for v in values):
            raise ConfigurationError("ROUTE_RULES", problem)
        rules.append((name, tuple(values)))
    return tuple(rules)


def _matches(value: Any, allowed: tuple[Scalar, ...]) -> bool:
    """Equal by type and value: a boolean never equals a number, a number never a string."""
    for candidate in allowed:
        if isinstance(candidate, bool | str) or isinstance(value, bool | str):
            if type(candidate) is type(value) and candidate == value:
                return True
        elif isinstance(value, int | float) and candidate == value:
            return True
    return False


def enforce(rule: RouteRule, context: AuthContext, claims: Mapping[str, Any], now: float) -> None:
    """Raise a TokenError (deny) unless the caller meets every part of the route's rule."""
    if rule.token_use is not None and context.token_use != rule.token_use:
        raise WrongTokenUse(f"this route accepts {rule.token_use} tokens only")
    if rule.audiences:
        _enforce_audience(rule, context, claims)
    if rule.groups and rule.groups.isdisjoint(context.groups):
        raise MissingGroup("caller is in none of the groups this route requires")
    if rule.scopes and rule.scopes.isdisjoint(context.scopes):
        raise MissingScope("token carries none of the scopes this route requires")
    for name, allowed in rule.claims:
        if name not in claims:
            raise MissingClaim(f"the route requires the claim {name}")
        value = claims[name]
        items = value if isinstance(value, list) else [value]
        if not any(_matches(item, allowed) for item in items):
            raise ClaimMismatch(f"claim {name} holds none of the values the route allows")
    if rule.max_auth_age_seconds is not None:
        _enforce_auth_age(rule.max_auth_age_seconds, claims, now)


def _enforce_audience(rule: RouteRule, context: AuthContext, claims: Mapping[str, Any]) -> None:
    if context.token_use != "access":
        raise WrongTokenUse("this route's audience rule needs an access token")
    if "aud" not in claims:
        raise MissingClaim("the route requires an access token bound to a resource (aud)")
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise InvalidClaim("aud must be a string or a list of strings")
    if rule.audiences.isdisjoint(audiences):
        raise WrongAudience("aud names none of the resource servers this route allows")


def _enforce_auth_age(max_age: int, claims: Mapping[str, Any], now: float) -> None:
    if "auth_time" not in claims:
        raise MissingClaim("the route requires auth_time")
    auth_time = claims["auth_time"]
    if not (type(auth_time) is int or (type(auth_time) is float and math.isfinite(auth_time))):
        raise InvalidClaim("auth_time must be a number")
    # Not now - auth_time: an int too large for a float (a valid JSON number) would raise.
    if auth_time < now - max_age:
        raise AuthTooOld(f"the sign-in is more than {max_age} s old")
