"""An HTTP API (API Gateway v2) emulator: routes, Lambda REQUEST authorizers, payload 2.0.

It is a WSGI application served by werkzeug. What it does per request, as
API Gateway does:

1. Find the route (literal segments beat ``{param}`` beat ``{proxy+}``, a
   method beats ``ANY``, ``$default`` catches the rest); none → 404.
2. If an authorizer protects the route: read its identity sources; any
   missing or empty → 401 without calling it. A cached result for the same
   identity values within the TTL is reused (allow and deny alike; errors
   never). Otherwise invoke the authorizer with a payload-2.0 REQUEST event:
   deny → 403, error, timeout or malformed answer → 500.
3. Invoke the integration with a payload-2.0 event carrying the authorizer's
   context under ``requestContext.authorizer.lambda``, and pass its status,
   headers, cookies and body through.

One access line per request names the decision and whether it came from the cache;
it logs the path without the query string, which may carry a token.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from werkzeug.wrappers import Request, Response

from local.cfn import ACCOUNT_ID, REGION
from local.console import Console
from local.exceptions import InvocationError
from local.functions import LambdaFunction
from local.template import DEFAULT_ROUTE, DEFAULT_STAGE, ApiModel, AuthorizerSpec, Route

AUTHORIZER_TIMEOUT_SECONDS: Final = 10  # API Gateway waits at most this for an authorizer
INTEGRATION_TIMEOUT_SECONDS: Final = 30  # and at most this for an integration
MAX_BODY_BYTES: Final = 10 * 1024 * 1024
MAX_CACHE_ENTRIES: Final = 10_000
API_ID: Final = "offline"
_TEXT_TYPES: Final = ("json", "xml", "javascript", "x-www-form-urlencoded", "yaml", "csv")


def _message(status: int, message: str) -> Response:
    return Response(json.dumps({"message": message}), status, content_type="application/json")


@dataclass(frozen=True, slots=True)
class Decision:
    """What an authorizer said: ``allow``/``deny`` are cacheable, ``error`` never is."""

    outcome: str
    context: dict[str, Any] | None = None


class AuthorizerCache:
    """Results per authorizer and identity-source values, each kept for the authorizer's TTL."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._entries: OrderedDict[tuple[str, tuple[str, ...]], tuple[float, Decision]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: tuple[str, tuple[str, ...]]) -> Decision | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: tuple[str, tuple[str, ...]], decision: Decision, ttl: int) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl, decision)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_CACHE_ENTRIES:
                self._entries.popitem(last=False)


@dataclass
class _Outcome:
    response: Response
    decision: str = "none"
    cached: bool = False
    route_key: str = "-"


class HttpApiEmulator:
    """The WSGI application; ``functions`` holds every function the template's routes name."""

    def __init__(
        self,
        model: ApiModel,
        functions: Mapping[str, LambdaFunction],
        console: Console,
    ) -> None:
        self.model = model
        self.functions = functions
        self.console = console
        self.cache = AuthorizerCache()
        self._routes = sorted(
            (route for route in model.routes if route.path != DEFAULT_ROUTE),
            key=lambda route: route.specificity,
            reverse=True,
        )
        self._default = next((r for r in model.routes if r.path == DEFAULT_ROUTE), None)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        started = time.perf_counter()
        request_id = base64.b64encode(secrets.token_bytes(10)).decode()
        cors = self.model.cors
        try:
            if cors is not None and cors.is_preflight(request):
                outcome = _Outcome(cors.preflight(request), decision="none (CORS preflight)")
            else:
                outcome = self._handle(request, request_id)
        except Exception as err:  # noqa: BLE001 - a bug of ours must still answer like API Gateway
            self.console.line("api", f"emulator error: {type(err).__name__}: {err}")
            outcome = _Outcome(_message(500, "Internal Server Error"), decision="error")
        if cors is not None and not cors.is_preflight(request):
            cors.decorate(request, outcome.response)
        outcome.response.headers["apigw-requestid"] = request_id
        latency = (time.perf_counter() - started) * 1000
        # The path only: a query string may carry a token ($request.querystring.* sources).
        self.console.line(
            "api",
            f"{request.method} {request.path} {outcome.response.status_code} "
            f"{latency:.1f}ms authorizer={outcome.decision}"
            f"{' (cached)' if outcome.cached else ''} route={outcome.route_key!r} "
            f"requestId={request_id}",
        )
        return outcome.response(environ, start_response)

    # --- routing -----------------------------------------------------------------

    def find_route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            params = route.match(method, path)
            if params is not None:
                return route, params
        if self._default is not None:
            return self._default, {}
        return None

    # --- one request ----------------------------------------------------------------

    def _handle(self, request: Request, request_id: str) -> _Outcome:
        found = self.find_route(request.method, request.path)
        if found is None:
            return _Outcome(_message(404, "Not Found"))
        route, params = found
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY_BYTES:
            return _Outcome(_message(413, "Request Entity Too Large"), route_key=route.route_key)
        parts = _EventParts.read(request, route, params, request_id)

        context: dict[str, Any] | None = None
        outcome = _Outcome(_message(500, "Internal Server Error"), route_key=route.route_key)
        if route.authorizer is not None:
            spec = self.model.authorizers[route.authorizer]
            identity = [parts.identity_value(source) for source in spec.identity_source]
            if any(not value for value in identity):
                outcome.decision = "unauthorized"
                outcome.response = _message(401, "Unauthorized")
                return outcome
            values = tuple(value or "" for value in identity)
            decision, outcome.cached = self._authorize(spec, parts, values, request_id)
            outcome.decision = decision.outcome
            if decision.outcome == "deny":
                outcome.response = _message(403, "Forbidden")
                return outcome
            if decision.outcome != "allow":
                return outcome
            context = decision.context

        function = self.functions[route.function]
        event = parts.integration_event(body, context, route.authorizer is not None)
        timeout = min(function.spec.timeout_seconds, INTEGRATION_TIMEOUT_SECONDS)
        try:
            result = function.invoke(event, request_id, timeout)
        except InvocationError as err:
            self.console.line("api", f"{function.name} failed ({err.reason}): {err}")
            return outcome
        outcome.response = _integration_response(result)
        return outcome

    def _authorize(
        self, spec: AuthorizerSpec, parts: _EventParts, values: tuple[str, ...], request_id: str
    ) -> tuple[Decision, bool]:
        # Without identity sources API Gateway cannot key a cache, so it never caches.
        cacheable = spec.ttl_seconds > 0 and bool(spec.identity_source)
        key = (spec.name, values)
        if cacheable:
            cached = self.cache.get(key)
            if cached is not None:
                return cached, True
        function = self.functions[spec.function]
        event = parts.authorizer_event(list(values))
        timeout = min(function.spec.timeout_seconds, AUTHORIZER_TIMEOUT_SECONDS)
        try:
            result = function.invoke(event, request_id, timeout)
        except InvocationError as err:
            self.console.line("api", f"authorizer {spec.name} failed ({err.reason}): {err}")
            return Decision("error"), False
        decision = _read_authorizer_result(spec, result, parts.route_arn)
        if decision.outcome == "error":
            self.console.line("api", f"authorizer {spec.name} gave a malformed response")
        elif cacheable:
            self.cache.put(key, decision, spec.ttl_seconds)
        return decision, False


def _read_authorizer_result(spec: AuthorizerSpec, result: Any, route_arn: str) -> Decision:
    if not isinstance(result, dict):
        return Decision("error")
    context = result.get("context")
    if context is not None and not isinstance(context, dict):
        return Decision("error")
    if spec.simple_responses:
        allowed = result.get("isAuthorized")
        if not isinstance(allowed, bool):
            return Decision("error")
        return Decision("allow", context) if allowed else Decision("deny")
    return _read_policy(result, route_arn, context)


def _read_policy(result: Mapping[str, Any], route_arn: str, context: Any) -> Decision:
    """An IAM policy response: an explicit Deny wins, else an Allow on the route's ARN."""
    document = result.get("policyDocument")
    if not isinstance(document, dict) or "principalId" not in result:
        return Decision("error")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return Decision("error")
    effects = set()
    for statement in statements:
        if not isinstance(statement, dict):
            return Decision("error")
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase("execute-api:Invoke", str(a)) for a in actions) and any(
            fnmatch.fnmatchcase(route_arn, str(r)) for r in resources
        ):
            effects.add(statement.get("Effect"))
    if "Deny" in effects or "Allow" not in effects:
        return Decision("deny")
    return Decision("allow", context)


def _integration_response(result: Any) -> Response:
    """Payload 2.0: a dict with statusCode is taken as is; anything else is a 200 JSON body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return Response(body, 200, content_type="application/json")
    status = result.get("statusCode")
    headers = result.get("headers") or {}
    cookies = result.get("cookies") or []
    body = result.get("body", "")
    if (
        not isinstance(status, int)
        or isinstance(status, bool)
        or not 100 <= status <= 599
        or not isinstance(headers, dict)
        or not isinstance(cookies, list)
        or not isinstance(body, str)
    ):
        return _message(500, "Internal Server Error")
    payload: bytes | str = body
    if result.get("isBase64Encoded") is True:
        try:
            payload = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return _message(500, "Internal Server Error")
    response = Response(payload, status)
    response.headers.remove("Content-Type")
    for name, value in headers.items():
        response.headers[str(name)] = str(value)
    for cookie in cookies:
        response.headers.add("Set-Cookie", str(cookie))
    return response


@dataclass
class _EventParts:
    """The pieces of a payload-2.0 event that the authorizer and the integration share."""

    route: Route
    raw_path: str
    raw_query: str
    headers: dict[str, str]
    cookies: list[str]
    query: dict[str, str]
    path_parameters: dict[str, str]
    request_context: dict[str, Any]
    content_type: str

    @classmethod
    def read(
        cls,
        request: Request,
        route: Route,
        params: dict[str, str],
        request_id: str,
    ) -> _EventParts:
        headers: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in request.headers.items():
            key = name.lower()
            if key == "cookie":
                cookies += [c.strip() for c in value.split(";") if c.strip()]
                continue
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        remote = request.remote_addr or "127.0.0.1"
        host = request.host
        headers.setdefault("x-forwarded-for", remote)
        headers.setdefault("x-forwarded-proto", request.scheme)
        headers.setdefault("x-forwarded-port", host.rpartition(":")[2] if ":" in host else "80")
        raw_query = request.query_string.decode("latin-1")
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        now = time.time()
        request_context = {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host,
            "domainPrefix": host.split(".")[0].split(":")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": remote,
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "routeKey": route.route_key,
            "stage": DEFAULT_STAGE,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        }
        return cls(
            route=route,
            raw_path=request.path,
            raw_query=raw_query,
            headers=headers,
            cookies=cookies,
            query=query,
            path_parameters=params,
            request_context=request_context,
            content_type=request.headers.get("Content-Type", ""),
        )

    @property
    def route_arn(self) -> str:
        method = self.request_context["http"]["method"]
        stage = self.request_context["stage"]
        return f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}{self.raw_path}"

    def identity_value(self, source: str) -> str | None:
        """The value of ``$request.header.X``, ``$request.querystring.x`` or ``$context.x``."""
        if source.startswith("$request.header."):
            return self.headers.get(source[len("$request.header.") :].lower())
        if source.startswith("$request.querystring."):
            return self.query.get(source[len("$request.querystring.") :])
        if source.startswith("$context."):
            value: Any = self.request_context
            for part in source[len("$context.") :].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            return None if value is None else str(value)
        return None  # no stage variables offline

    def _common(self) -> dict[str, Any]:
        return {
            "version": "2.0",
            "routeKey": self.route.route_key,
            "rawPath": self.raw_path,
            "rawQueryString": self.raw_query,
        }

    def authorizer_event(self, identity: list[str]) -> dict[str, Any]:
        return {
            **self._common(),
            "type": "REQUEST",
            "routeArn": self.route_arn,
            "identitySource": identity,
            "cookies": list(self.cookies),
            "headers": dict(self.headers),
            "queryStringParameters": dict(self.query),
            "requestContext": dict(self.request_context),
            "pathParameters": dict(self.path_parameters),
            "stageVariables": {},
        }

    def integration_event(
        self, body: bytes, context: dict[str, Any] | None, protected: bool
    ) -> dict[str, Any]:
        event: dict[str, Any] = self._common()
        if self.cookies:
            event["cookies"] = list(self.cookies)
        event["headers"] = dict(self.headers)
        if self.query:
            event["queryStringParameters"] = dict(self.query)
        request_context = dict(self.request_context)
        if protected:
            request_context["authorizer"] = {"lambda": context}
        event["requestContext"] = request_context
        if body:
            if self._is_text():
                try:
                    event["body"] = body.decode("utf-8")
                    event["isBase64Encoded"] = False
                except UnicodeDecodeError:
                    event["body"] = base64.b64encode(body).decode()
                    event["isBase64Encoded"] = True
            else:
                event["body"] = base64.b64encode(body).decode()
                event["isBase64Encoded"] = True
        else:
            event["isBase64Encoded"] = False
        if self.path_parameters:
            event["pathParameters"] = dict(self.path_parameters)
        return event

    def _is_text(self) -> bool:
        media = self.content_type.split(";")[0].strip().lower()
        return not media or media.startswith("text/") or any(t in media for t in _TEXT_TYPES)
