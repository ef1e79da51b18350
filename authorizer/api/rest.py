"""REST APIs (API Gateway v1): TOKEN and REQUEST authorizer events, answered with an IAM policy.

Which protocol the function speaks is configuration (``API_TYPE``), never a
guess from the event: only the deployer knows which API invokes it, and the
two answers are mutually unreadable. An HTTP API with simple responses reads
a policy answer as malformed and a REST API reads ``{"isAuthorized": ...}``
as malformed, so a wrong setting fails closed (a 500, never an allow); an
event of the wrong shape for the configured type is refused here (401).

The answer, per the API Gateway developer guide ("Output from an API Gateway
Lambda authorizer"; "Input to an API Gateway Lambda authorizer"):

- ``principalId``: the caller's ``sub``; ``context``: the same flat contract
  as the HTTP API answer (``shared/context.py``);
- a policy that is right for every method of the API, not only the one that
  triggered it. API Gateway caches the answer per identity-source value (the
  token) for the result TTL and evaluates the cached policy against each
  later request's method ARN. So the policy lists, for this caller, an Allow
  for every route of the API (``API_ROUTES``) whose rule (``ROUTE_RULES``)
  the caller meets, and an explicit Deny for every route whose rule the
  caller fails; a route the authorizer does not know matches no statement
  and is denied (implicitly). An explicit Deny wins over any Allow, so where
  a parameter pattern of a denied route also covers a longer allowed path
  (``GET/items/*`` covers ``GET/items/1/open``), the deny wins: fail closed.
- IAM's ``*`` spans ``/``, so a parameter's Allow (``DELETE/items/*``) also
  covers paths below it (``DELETE/items/7/purge``), which may be methods
  missing from ``API_ROUTES``. Every such region below a parameter gets an
  explicit Deny (``DELETE/items/*/*``) unless a listed route lies in it; a
  REQUEST event also names its route template (``resource``), so an
  unlisted one is denied by its exact method ARN whatever the patterns say.
- Missing or unparsable token: ``raise Exception("Unauthorized")``, the only
  way to get API Gateway's 401. Any other token problem: a policy denying
  every method of the stage (403). Keys unavailable: any other exception
  (500, and API Gateway caches nothing).

https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, NoReturn

from authorizer.api.handler import Authorizer, enforce_route_rule
from authorizer.api.policy import ANONYMOUS, UNAUTHORIZED, policy
from authorizer.exceptions import (
    MalformedToken,
    MissingToken,
    TokenError,
    UnexpectedEvent,
    UnknownRoute,
)
from authorizer.verification.rules import RouteRule
from authorizer.verification.token import extract_token, parse_bearer
from authorizer.verification.verify import Verified
from shared.context import encode_context
from shared.exceptions import ConfigurationError
from shared.jsonlog import correlation

API_TYPES: Final = ("http", "rest", "websocket")
# API Gateway refuses method ARNs longer than this (414), so none longer ever arrives.
MAX_METHOD_ARN_BYTES: Final = 1600

# arn:<partition>:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path without leading />
_METHOD_ARN: Final = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):execute-api:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<api>[A-Za-z0-9]+)/(?P<stage>[A-Za-z0-9_-]+)/(?P<method>[A-Z]+)/(?P<path>[^*?]*)"
)
# What an ANY route stands for, each named on its own: a "*" in the method's
# place of an IAM resource would span "/" too.
_HTTP_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_METHODS: Final = ("ANY", *_HTTP_METHODS)
# A REST resource path segment: literal (never an IAM wildcard), {param} or a last {param+}.
_LITERAL: Final = re.compile(r"[A-Za-z0-9._~:@!$&'()+,;=-]+")
_PARAM: Final = re.compile(r"\{[A-Za-z0-9._-]+\}")
_GREEDY: Final = re.compile(r"\{[A-Za-z0-9._-]+\+\}")


class MethodArn(NamedTuple):
    """A parsed method ARN: ``prefix`` is everything up to and including ``<stage>/``."""

    prefix: str
    method: str
    path: str  # with its leading "/"

    @classmethod
    def parse(cls, value: Any) -> MethodArn | None:
        if not isinstance(value, str) or len(value.encode()) > MAX_METHOD_ARN_BYTES:
            return None
        found = _METHOD_ARN.fullmatch(value)
        if found is None:
            return None
        prefix = value[: found.start("method")]
        return cls(prefix, found["method"], "/" + found["path"])


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One route of the REST API, and the IAM resource patterns that cover its requests."""

    route_key: str  # "GET /items/{id}", the ROUTE_RULES key format
    # ("GET/items/*",), each appended to the method ARN's "<apiId>/<stage>/"; one per
    # method for ANY, since a "*" in the method's place would span "/" too.
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """``API_TYPE`` and, for a REST API, its routes (``API_ROUTES``)."""

    api_type: str
    routes: tuple[ApiRoute, ...] = ()


def load_api_settings(env: Mapping[str, str], route_rules: Mapping[str, RouteRule]) -> ApiSettings:
    """``API_TYPE`` (``http``, the default, or ``rest``) and ``API_ROUTES``; else a clear error."""
    api_type = env.get("API_TYPE", "").strip().lower() or "http"
    if api_type not in API_TYPES:
        raise ConfigurationError("API_TYPE", f"must be one of {', '.join(API_TYPES)}")
    if api_type == "websocket":  # app.py hands these to authorizer/api/websocket.py
        raise ConfigurationError("API_TYPE", "websocket settings are not REST settings")
    raw_routes = env.get("API_ROUTES", "").strip()
    if api_type == "http":
        if raw_routes:
            raise ConfigurationError("API_ROUTES", "is for API_TYPE=rest only")
        return ApiSettings(api_type)
    keys = [part.strip() for part in raw_routes.split(",")] if raw_routes else []
    if not keys:
        raise ConfigurationError(
            "API_ROUTES", "is required with API_TYPE=rest: the API's routes, e.g. 'GET /hello'"
        )
    if len(set(keys)) != len(keys):
        raise ConfigurationError("API_ROUTES", "lists a route twice")
    routes = tuple(ApiRoute(key, _resources(key)) for key in keys)
    unknown = sorted(set(route_rules) - set(keys))
    if unknown:
        # A rule for a route the policy never names would silently never apply.
        raise ConfigurationError(
            "ROUTE_RULES", f"names routes that API_ROUTES does not list: {', '.join(unknown)}"
        )
    return ApiSettings(api_type, routes)


def _resources(route_key: str) -> tuple[str, ...]:
    """``GET /items/{id}``: ``GET/items/*``; ``GET /``: ``GET/``; ``ANY /{p+}``: ``GET/*``, ..."""
    method, _, path = route_key.partition(" ")
    problem = f"{route_key!r} is not a REST route like 'GET /hello' or 'ANY /items/{{id}}'"
    if method not in _METHODS or not path.startswith("/"):
        raise ConfigurationError("API_ROUTES", problem)
    segments = path[1:].split("/") if path != "/" else []
    parts = []
    for index, segment in enumerate(segments):
        if _LITERAL.fullmatch(segment):
            parts.append(segment)
        elif _PARAM.fullmatch(segment) or (
            _GREEDY.fullmatch(segment) and index == len(segments) - 1
        ):
            parts.append("*")  # IAM's * spans "/" too: the Deny-wins rule keeps it closed
        else:
            raise ConfigurationError("API_ROUTES", problem)
    path_pattern = "/" + "/".join(parts)
    return tuple(m + path_pattern for m in _methods(method))


def _methods(method: str) -> tuple[str, ...]:
    return _HTTP_METHODS if method == "ANY" else (method,)


def _below_parameter_patterns(resource: str) -> list[str]:
    """Where a parameterised pattern's ``*`` would span a ``/``: at each ``*``, and below."""
    parts = resource.split("/")  # parts[0] is a method, never "*"
    spans = [
        "/".join([*parts[:index], "*/*", *parts[index + 1 :]])
        for index, part in enumerate(parts)
        if part == "*"
    ]
    return [*spans, f"{resource}/*"] if spans else []


# Token languages for the overlap check: a literal character, one character of a
# class, or any run of a class's characters. "seg" is every character but "/".
_Token = str | tuple[str, str]
_STAR_ANY: Final = ("star", "any")
_ONE_SEGMENT: Final[tuple[_Token, ...]] = (("one", "seg"), ("star", "seg"))  # {param}
_ONE_OR_MORE: Final[tuple[_Token, ...]] = (("one", "any"), _STAR_ANY)  # {param+}


def unlisted_below_parameters(routes: tuple[ApiRoute, ...]) -> tuple[str, ...]:
    """Deny patterns for the paths that parameters' Allows cover but no listed route names.

    A Deny that could match a request of a listed route would refuse that
    route to everyone, so a region where a listed route lies stays open (a
    greedy ``{proxy+}`` route, meant to cover everything below it, keeps its
    whole subtree). Computed once, at cold start.
    """
    exact = [_exact_tokens(route) for route in routes]
    patterns = []
    for route in routes:
        for resource in route.resources:
            for pattern in _below_parameter_patterns(resource):
                glob = [_STAR_ANY if char == "*" else char for char in pattern]
                if not any(_overlap(glob, tokens) for each in exact for tokens in each):
                    patterns.append(pattern)
    return tuple(dict.fromkeys(patterns))


def _exact_tokens(route: ApiRoute) -> list[list[_Token]]:
    """The requests API Gateway routes to ``route`` (one token list per method).

    ``{param}`` is one non-empty segment; ``{param+}`` one or more characters.
    """
    method, _, path = route.route_key.partition(" ")
    path_tokens: list[_Token] = []
    for segment in path[1:].split("/"):  # "/" alone: one empty segment
        path_tokens.append("/")
        if _PARAM.fullmatch(segment):
            path_tokens += _ONE_SEGMENT
        elif _GREEDY.fullmatch(segment):
            path_tokens += _ONE_OR_MORE
        else:
            path_tokens += list(segment)
    return [[*m, *path_tokens] for m in _methods(method)]


def _overlap(first: list[_Token], second: list[_Token]) -> bool:
    """Whether some string belongs to both token languages (a DP over positions)."""

    def share_a_character(a: _Token, b: _Token) -> bool:
        if isinstance(a, str) and isinstance(b, str):
            return a == b
        if isinstance(a, tuple) and isinstance(b, tuple):
            return True  # any two classes share every character but "/"
        char, cls = (a, b[1]) if isinstance(a, str) else (b, a[1])
        return cls == "any" or char != "/"

    @functools.cache
    def step(i: int, j: int) -> bool:
        a = first[i] if i < len(first) else None
        b = second[j] if j < len(second) else None
        if a is None and b is None:
            return True
        if isinstance(a, tuple) and a[0] == "star" and step(i + 1, j):
            return True
        if isinstance(b, tuple) and b[0] == "star" and step(i, j + 1):
            return True
        if a is None or b is None:
            return False
        # Both produce one character here (a star producing one stays where it is).
        if not share_a_character(a, b):
            return False
        next_i = i if isinstance(a, tuple) and a[0] == "star" else i + 1
        next_j = j if isinstance(b, tuple) and b[0] == "star" else j + 1
        return (next_i, next_j) != (i, j) and step(next_i, next_j)

    return step(0, 0)


def _covers(pattern: str, arn: str) -> bool:
    """IAM resource matching for our own patterns, whose only wildcard is ``*``."""
    return _resource_regex(pattern).fullmatch(arn) is not None


@functools.cache  # the patterns are API_ROUTES' resources: a few, fixed at init
def _resource_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(map(re.escape, pattern.split("*"))))


class RestAuthorizer:
    """The REST protocol over the same verifier, rules and decision log as ``Authorizer``."""

    def __init__(
        self,
        authorizer: Authorizer,
        route_rules: Mapping[str, RouteRule],
        routes: tuple[ApiRoute, ...],
    ) -> None:
        self._authorizer = authorizer
        self.verifier = authorizer.verifier
        self._rules = route_rules
        self._routes = routes
        self._route_keys = frozenset(route.route_key for route in routes)
        self._unlisted_below = unlisted_below_parameters(routes)

    def handle(self, event: Any) -> dict[str, Any]:
        """An IAM policy for every route; raises Exception("Unauthorized") for a 401."""
        started = time.perf_counter()
        _, request_id = correlation(event)  # REQUEST events carry one; TOKEN events do not
        arn = MethodArn.parse(event.get("methodArn")) if isinstance(event, dict) else None
        kind = event.get("type") if isinstance(event, dict) else None
        if arn is None or kind not in ("TOKEN", "REQUEST"):
            self._unauthorized(
                UnexpectedEvent("not a REST TOKEN or REQUEST authorizer event with a methodArn"),
                None,
                request_id,
                started,
            )
        route = f"{arn.method} {arn.path}"
        try:
            token = self._token(event, kind)
            verified, from_cache = self.verifier.verify(token)
        except (MissingToken, MalformedToken) as err:
            self._unauthorized(err, route, request_id, started)
        except TokenError as err:
            self._authorizer.denied(err, route, request_id, started)
            return policy(err.sub or ANONYMOUS, deny=[arn.prefix + "*"])
        except Exception as err:
            self._authorizer.failed(err, route, request_id, started)
            raise
        verdicts = self._verdicts(verified)
        allowed = [api_route for api_route, err in verdicts if err is None]
        denied = [api_route for api_route, err in verdicts if err is not None]
        unlisted = [*self._unlisted_below]
        if kind == "REQUEST" and not self._lists(event):
            unlisted.append(f"{arn.method}{arn.path}")  # this very request's resource
        allow = [arn.prefix + r for api_route in allowed for r in api_route.resources]
        deny = [arn.prefix + r for api_route in denied for r in api_route.resources]
        deny += [arn.prefix + pattern for pattern in unlisted]
        refusal = _refusal(verdicts, arn, unlisted)
        self._authorizer.decided_for(
            verified,
            from_cache,
            route,
            request_id,
            started,
            decision="deny" if refusal else "allow",
            reason=refusal or "ok",
            allowedRoutes=len(allowed),
            deniedRoutes=len(denied),
        )
        context = verified.context
        return policy(context.sub, allow=allow, deny=deny, context=encode_context(context))

    def _lists(self, event: dict[str, Any]) -> bool:
        """Whether a REQUEST event's route (method and resource template) is in API_ROUTES.

        An event without them says nothing, and the patterns alone decide.
        """
        method, resource = event.get("httpMethod"), event.get("resource")
        if not isinstance(method, str) or not isinstance(resource, str):
            return True
        return f"{method} {resource}" in self._route_keys or f"ANY {resource}" in self._route_keys

    def _token(self, event: dict[str, Any], kind: str) -> str:
        if kind == "TOKEN":
            raw = event.get("authorizationToken")
            return parse_bearer(raw if isinstance(raw, str) else None)
        return extract_token(event)

    def _unauthorized(
        self, err: TokenError, route: str | None, request_id: str | None, started: float
    ) -> NoReturn:
        # One decision log and one set of metrics for both protocols: Authorizer's own.
        self._authorizer.decided(
            logging.INFO, "deny", err.reason, route, request_id, started, kid=err.kid, status=401
        )
        # Exactly this message: API Gateway reads it as "answer 401".
        raise Exception(UNAUTHORIZED) from None

    def _verdicts(self, verified: Verified) -> list[tuple[ApiRoute, TokenError | None]]:
        """Each route of the API with None (the caller meets its rule) or the rule's deny."""
        now = self.verifier.clock()
        verdicts: list[tuple[ApiRoute, TokenError | None]] = []
        for route in self._routes:
            rule = self._rules.get(route.route_key)
            try:
                if rule is not None:
                    enforce_route_rule(rule, verified, now)
            except TokenError as err:
                verdicts.append((route, err))
            else:
                verdicts.append((route, None))
        return verdicts


def _refusal(
    verdicts: list[tuple[ApiRoute, TokenError | None]], arn: MethodArn, unlisted: list[str]
) -> str | None:
    """Why the policy refuses this very request (for the log), or None when it allows it."""
    request = f"{arn.method}{arn.path}"
    if any(_covers(pattern, request) for pattern in unlisted):
        return UnknownRoute.reason  # an explicit Deny for what API_ROUTES does not list
    covering = [
        err
        for api_route, err in verdicts
        if any(_covers(resource, request) for resource in api_route.resources)
    ]
    denial = next((err for err in covering if err is not None), None)
    if denial is not None:
        return denial.reason  # an explicit Deny wins over any Allow
    return None if covering else UnknownRoute.reason  # no statement names it: implicit deny


def protocol_handler(
    authorizer: Authorizer, settings: ApiSettings, route_rules: Mapping[str, RouteRule]
) -> Callable[[Any], dict[str, Any]]:
    """The configured protocol's ``handle``: the HTTP API one, untouched, or the REST one."""
    if settings.api_type == "http":
        return authorizer.handle
    return RestAuthorizer(authorizer, route_rules, settings.routes).handle
