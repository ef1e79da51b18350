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

from authorizer.exceptions import (
    MalformedToken,
    MissingToken,
    TokenError,
    UnexpectedEvent,
)
from authorizer.handler import Authorizer, enforce_route_rule
from authorizer.rules import RouteRule
from authorizer.token import extract_token, parse_bearer
from authorizer.verify import Verified
from shared.context import encode_context
from shared.exceptions import ConfigurationError
from shared.jsonlog import correlation

API_TYPES: Final = ("http", "rest")
# What API Gateway matches to answer 401; any other error message is a 500.
UNAUTHORIZED: Final = "Unauthorized"
# API Gateway refuses method ARNs longer than this (414), so none longer ever arrives.
MAX_METHOD_ARN_BYTES: Final = 1600
POLICY_VERSION: Final = "2012-10-17"
INVOKE: Final = "execute-api:Invoke"
# Who a deny names when the token never said who it was (signature unchecked).
ANONYMOUS: Final = "anonymous"

# arn:<partition>:execute-api:<region>:<account>:<apiId>/<stage>/<METHOD>/<path without leading />
_METHOD_ARN: Final = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):execute-api:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<api>[A-Za-z0-9]+)/(?P<stage>[A-Za-z0-9_-]+)/(?P<method>[A-Z]+)/(?P<path>[^*?]*)"
)
_METHODS: Final = ("ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
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
    """One route of the REST API, and the IAM resource pattern that covers its requests."""

    route_key: str  # "GET /items/{id}", the ROUTE_RULES key format
    resource: str  # "GET/items/*", appended to the method ARN's "<apiId>/<stage>/"


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
    routes = tuple(ApiRoute(key, _resource(key)) for key in keys)
    unknown = sorted(set(route_rules) - set(keys))
    if unknown:
        # A rule for a route the policy never names would silently never apply.
        raise ConfigurationError(
            "ROUTE_RULES", f"names routes that API_ROUTES does not list: {', '.join(unknown)}"
        )
    return ApiSettings(api_type, routes)


def _resource(route_key: str) -> str:
    """``GET /items/{id}``: ``GET/items/*``; ``ANY /{proxy+}``: ``*/*``; ``GET /``: ``GET/``."""
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
    return ("*" if method == "ANY" else method) + "/" + "/".join(parts)


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
            return _policy(err.sub or ANONYMOUS, deny=[arn.prefix + "*"])
        except Exception as err:
            self._authorizer.failed(err, route, request_id, started)
            raise
        verdicts = self._verdicts(verified)
        allow = [arn.prefix + api_route.resource for api_route, err in verdicts if err is None]
        deny = [arn.prefix + api_route.resource for api_route, err in verdicts if err is not None]
        refusal = _refusal(verdicts, arn)
        self._authorizer.decided_for(
            verified,
            from_cache,
            route,
            request_id,
            started,
            decision="deny" if refusal else "allow",
            reason=refusal or "ok",
            allowedRoutes=len(allow),
            deniedRoutes=len(deny),
        )
        context = verified.context
        return _policy(context.sub, allow=allow, deny=deny, context=encode_context(context))

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


def _refusal(verdicts: list[tuple[ApiRoute, TokenError | None]], arn: MethodArn) -> str | None:
    """Why the policy refuses this very request (for the log), or None when it allows it."""
    request = f"{arn.method}{arn.path}"
    covering = [err for api_route, err in verdicts if _covers(api_route.resource, request)]
    denial = next((err for err in covering if err is not None), None)
    if denial is not None:
        return denial.reason  # an explicit Deny wins over any Allow
    return None if covering else "unknown_route"  # no statement names it: implicit deny


def _policy(
    principal: str,
    *,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    statements = [
        {"Effect": effect, "Action": INVOKE, "Resource": resources}
        for effect, resources in (("Allow", allow), ("Deny", deny))
        if resources
    ]
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {"Version": POLICY_VERSION, "Statement": statements},
    }
    if context is not None:
        answer["context"] = dict(context)
    return answer


def protocol_handler(
    authorizer: Authorizer, settings: ApiSettings, route_rules: Mapping[str, RouteRule]
) -> Callable[[Any], dict[str, Any]]:
    """The configured protocol's ``handle``: the HTTP API one, untouched, or the REST one."""
    if settings.api_type == "http":
        return authorizer.handle
    return RestAuthorizer(authorizer, route_rules, settings.routes).handle
