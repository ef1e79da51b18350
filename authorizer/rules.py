"""Per-route requirements on Cognito groups and OAuth scopes (ROUTE_RULES).

What API Gateway's built-in JWT authorizer cannot do for groups, and does for
scopes only: a route may require that the caller be in at least one of some
Cognito groups, and/or that the access token carry at least one of some
scopes (any-of, as the built-in authorizer's authorizationScopes).

API Gateway caches a simple response per identity-source value, not per route,
so route-specific decisions are only safe when ``$context.routeKey`` is one of
the identity sources (template.yaml does this) or the result cache is off.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.context import AuthContext
from shared.exceptions import ConfigurationError, MissingGroup, MissingScope

# "METHOD /path" as API Gateway writes route keys, or "$default".
_ROUTE_KEY = re.compile(r"(ANY|GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /\S*|\$default")


@dataclass(frozen=True, slots=True)
class RouteRule:
    groups: frozenset[str] = frozenset()
    scopes: frozenset[str] = frozenset()


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
            "ROUTE_RULES", f"{route!r} is not a route key like 'GET /hello' or '$default'"
        )
    if not isinstance(spec, dict) or not spec or set(spec) - {"groups", "scopes"}:
        raise ConfigurationError(
            "ROUTE_RULES", f"{route!r} needs an object with 'groups' and/or 'scopes' only"
        )
    return RouteRule(groups=_names(route, spec, "groups"), scopes=_names(route, spec, "scopes"))


def _names(route: str, spec: Mapping[str, Any], field: str) -> frozenset[str]:
    names = spec.get(field, [])
    if not isinstance(names, list) or not all(
        isinstance(n, str) and n.split() == [n] for n in names
    ):
        raise ConfigurationError(
            "ROUTE_RULES", f"{route!r}: {field} must be a list of names without whitespace"
        )
    if field in spec and not names:
        raise ConfigurationError("ROUTE_RULES", f"{route!r}: {field} must not be empty")
    return frozenset(names)


def enforce(rule: RouteRule, context: AuthContext) -> None:
    """Raise MissingGroup or MissingScope (deny) unless the caller meets the route's rule."""
    if rule.groups and rule.groups.isdisjoint(context.groups):
        raise MissingGroup("caller is in none of the groups this route requires")
    if rule.scopes and rule.scopes.isdisjoint(context.scopes):
        raise MissingScope("token carries none of the scopes this route requires")
