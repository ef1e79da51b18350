"""A REST API (API Gateway v1) emulator: TOKEN and REQUEST Lambda authorizers, IAM policies, 1.0.

Read from the transformed template like the HTTP API (``local/template.py``):
``AWS::ApiGateway::RestApi``'s Swagger body (paths, ``securityDefinitions``
with ``x-amazon-apigateway-authorizer``) and its stage. Per request, as API
Gateway's default gateway responses answer:

1. The path must start with ``/<stage>``, and a resource and method must
   match; else ``403 {"message": "Missing Authentication Token"}``.
2. The identity source (TOKEN: the header; REQUEST: every listed source) is
   missing or empty, or a TOKEN fails ``identityValidationExpression``:
   ``401 {"message": "Unauthorized"}`` without calling the authorizer.
3. The authorizer's answer is cached per identity-source value for the TTL
   (the whole answer, policy and context), and the cached policy is
   evaluated against each later request's own method ARN: the cache pitfall
   of a policy that names only the method which made it is real here.
4. ``raise Exception("Unauthorized")`` is ``401 {"message": "Unauthorized"}``;
   an explicit Deny is ``403 {"Message": "User is not authorized to access
   this resource with an explicit deny"}``, no matching Allow ``403
   {"Message": "User is not authorized to access this resource"}``; any other
   error, a timeout or an unreadable answer ``500 {"message": null}``. None
   of these is cached but the policy.
5. The integration gets a payload-1.0 proxy event whose
   ``requestContext.authorizer`` holds ``principalId`` and the context with
   every value stringified, as API Gateway hands them over; a function error
   or a malformed response is ``502 {"message": "Internal server error"}``.

https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/supported-gateway-response-types.html
https://repost.aws/knowledge-center/api-gateway-403-error-lambda-authorizer
(the bodies as measured: https://dev.to/marcogrcr/api-gateway-lambda-authorizer-lambda-proxy-integration-failure-modes-52bc)
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from werkzeug.wrappers import Request, Response

from local.cfn import ACCOUNT_ID, REGION, Resolver, referenced_function
from local.console import Console
from local.exceptions import FunctionRaised, InvocationError, TemplateError
from local.functions import LambdaFunction
from local.gateway import (
    API_ID,
    AUTHORIZER_TIMEOUT_SECONDS,
    INTEGRATION_TIMEOUT_SECONDS,
    MAX_BODY_BYTES,
    Decision,
    HttpApiEmulator,
    _Outcome,
    proxy_result,
)
from local.policy import Effect, InvalidPolicy, evaluate
from local.sam import SamTemplate, TransformedTemplate
from local.template import (
    ApiModel,
    AuthorizerSpec,
    Route,
    _routes,
    api_functions,
    operations,
)

# REST integrations may run up to 29 s by default.
REST_INTEGRATION_TIMEOUT_SECONDS: Final = min(29, INTEGRATION_TIMEOUT_SECONDS)
MISSING_TOKEN: Final = "Missing Authentication Token"
EXPLICIT_DENY: Final = "User is not authorized to access this resource with an explicit deny"
IMPLICIT_DENY: Final = "User is not authorized to access this resource"
_SCALARS: Final = (str, int, float, bool)


@dataclass(frozen=True, slots=True)
class RestAuthorizerSpec(AuthorizerSpec):
    kind: str = "token"  # "token" or "request"
    validation_expression: str | None = None


@dataclass(frozen=True, slots=True)
class RestApiModel(ApiModel):
    stage: str = "prod"

    @property
    def base_path(self) -> str:
        """A REST API is served under its stage: ``/prod/hello``."""
        return f"/{self.stage}"

    @property
    def kind(self) -> str:
        return "REST API"


def read_rest_api(template: SamTemplate, transformed: TransformedTemplate) -> RestApiModel:
    """The one REST API of a transformed template, with its stage, authorizers and routes."""
    resources: dict[str, Any] = transformed.template.get("Resources", {})
    resolver = transformed.resolver()
    api_name, body = _the_rest_api(resources, resolver)
    authorizers = _authorizers(body, transformed, resolver)
    # Swagger paths read as the HTTP API's OpenAPI ones: aws_proxy integrations only.
    routes = _routes(body, transformed, authorizers, resolver)
    return RestApiModel(
        api_id=api_name,
        routes=tuple(routes),
        authorizers=dict(authorizers),
        functions=api_functions(template, transformed, routes, authorizers),
        parameters=dict(transformed.parameters),
        stage=_stage(resources, resolver, api_name),
    )


def rest_route_keys(transformed: TransformedTemplate) -> list[str]:
    """Every method of the template's one REST API, as ``METHOD /path``: what the authorizer
    application's ApiRoutes lists for it (its cached policy names each of them)."""
    resolver = transformed.resolver()
    _, body = _the_rest_api(transformed.template.get("Resources", {}), resolver)
    return [f"{method} {path}" for path, method, _ in operations(body, resolver)]


def _the_rest_api(resources: Mapping[str, Any], resolver: Resolver) -> tuple[str, dict[str, Any]]:
    apis = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGateway::RestApi" and resolver.exists(name)
    ]
    if len(apis) != 1:
        raise TemplateError(f"expected one REST API (AWS::Serverless::Api), found {apis or 'none'}")
    body = resources[apis[0]].get("Properties", {}).get("Body")
    if not isinstance(body, dict):
        raise TemplateError(f"{apis[0]}: only an inline Swagger body (DefinitionBody) is supported")
    return apis[0], body


def _stage(resources: Mapping[str, Any], resolver: Resolver, api_name: str) -> str:
    stages = [
        resolver.resolve(resource["Properties"].get("StageName"), f"{name}.StageName")
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGateway::Stage"
        and resource.get("Properties", {}).get("RestApiId") == {"Ref": api_name}
    ]
    if len(stages) != 1 or not isinstance(stages[0], str):
        raise TemplateError(f"{api_name}: expected one stage, found {stages or 'none'}")
    return stages[0]


def _authorizers(
    body: Mapping[str, Any], transformed: TransformedTemplate, resolver: Resolver
) -> dict[str, AuthorizerSpec]:
    found: dict[str, AuthorizerSpec] = {}
    for name, definition in body.get("securityDefinitions", {}).items():
        settings = definition.get("x-amazon-apigateway-authorizer")
        if not isinstance(settings, dict):
            continue
        where = f"authorizer {name}"
        kind = str(settings.get("type", "")).lower()
        if kind not in ("token", "request"):
            raise TemplateError(f"{where}: only Lambda TOKEN and REQUEST authorizers run offline")
        function = referenced_function(settings.get("authorizerUri"), transformed)
        if function is None:
            raise TemplateError(f"{where}: authorizerUri does not name a function in the template")
        if kind == "token":
            sources = [f"method.request.header.{definition.get('name', 'Authorization')}"]
        else:
            raw = str(resolver.resolve(settings.get("identitySource", ""), where))
            sources = [part.strip() for part in raw.split(",") if part.strip()]
        expression = settings.get("identityValidationExpression")
        found[name] = RestAuthorizerSpec(
            name=name,
            function=function,
            identity_source=tuple(sources),
            ttl_seconds=int(
                resolver.resolve(settings.get("authorizerResultTtlInSeconds", 300), where)
            ),
            simple_responses=False,
            kind=kind,
            validation_expression=str(expression) if expression else None,
        )
    return found


def _message(status: int, key: str, message: str | None) -> Response:
    return Response(json.dumps({key: message}), status, content_type="application/json")


def _stringified(value: Any) -> Any:
    """As API Gateway hands a REST authorizer's context values to the integration."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


class RestApiEmulator(HttpApiEmulator):
    """The WSGI application for a REST API: routing shared with the HTTP API emulator."""

    model: RestApiModel

    def _handle(self, request: Request, request_id: str) -> _Outcome:
        prefix = f"/{self.model.stage}"
        path = request.path
        if not (path == prefix or path.startswith(prefix + "/")):
            return _Outcome(_message(403, "message", MISSING_TOKEN))
        resource_path = path[len(prefix) :] or "/"
        found = self.find_route(request.method, resource_path)
        if found is None:
            return _Outcome(_message(403, "message", MISSING_TOKEN))
        route, params = found
        body = request.get_data(cache=False)
        if len(body) > MAX_BODY_BYTES:
            return _Outcome(_message(413, "message", "Request Entity Too Large"))
        parts = _RestParts.read(request, route, params, request_id, self.model.stage, resource_path)
        outcome = _Outcome(_message(500, "message", None), route_key=route.route_key)
        authorizer: dict[str, Any] | None = None
        if route.authorizer is not None:
            spec = self.model.authorizers[route.authorizer]
            assert isinstance(spec, RestAuthorizerSpec)
            denied = self._authorize_method(spec, parts, outcome)
            if denied is not None:
                return denied
            authorizer = parts.authorizer_context
        function = self.functions[route.function]
        event = parts.integration_event(body, authorizer)
        try:
            result = function.invoke(event, request_id, REST_INTEGRATION_TIMEOUT_SECONDS)
        except InvocationError as err:
            self.console.line("api", f"{function.name} failed ({err.reason}): {err}")
            outcome.response = _message(502, "message", "Internal server error")
            return outcome
        outcome.response = _proxy_response(result)
        return outcome

    def _authorize_method(
        self, spec: RestAuthorizerSpec, parts: _RestParts, outcome: _Outcome
    ) -> _Outcome | None:
        """None when the policy allows this method (the context is then on ``parts``)."""
        values = [parts.identity_value(source) for source in spec.identity_source]
        token = values[0] if spec.kind == "token" else None
        if any(not value for value in values) or (
            token is not None
            and spec.validation_expression is not None
            and re.fullmatch(spec.validation_expression, token) is None
        ):
            outcome.decision = "unauthorized"
            outcome.response = _message(401, "message", "Unauthorized")
            return outcome
        key = (spec.name, tuple(value or "" for value in values))
        cacheable = spec.ttl_seconds > 0
        cached = self.cache.get(key) if cacheable else None
        outcome.cached = cached is not None
        answer = cached.context if cached is not None else self._invoke(spec, parts, token)
        if answer is None:
            outcome.decision = "error"
            return outcome
        if isinstance(answer, str):  # "Unauthorized"
            outcome.decision = "unauthorized"
            outcome.response = _message(401, "message", "Unauthorized")
            return outcome
        try:
            effect = evaluate(answer.get("policyDocument"), parts.method_arn)
        except InvalidPolicy as err:
            self.console.line("api", f"authorizer {spec.name} gave a malformed policy: {err}")
            outcome.decision = "error"
            return outcome
        if cacheable and cached is None:
            self.cache.put(key, Decision("policy", answer), spec.ttl_seconds)
        if effect is not Effect.ALLOW:
            outcome.decision = "deny"
            text = EXPLICIT_DENY if effect is Effect.EXPLICIT_DENY else IMPLICIT_DENY
            outcome.response = _message(403, "Message", text)
            return outcome
        outcome.decision = "allow"
        parts.authorizer_context = {
            "principalId": answer["principalId"],
            "integrationLatency": 0,
            **{k: _stringified(v) for k, v in (answer.get("context") or {}).items()},
        }
        return None

    def _invoke(
        self, spec: RestAuthorizerSpec, parts: _RestParts, token: str | None
    ) -> dict[str, Any] | str | None:
        """The authorizer's answer, "Unauthorized" for a 401, or None for a 500."""
        function = self.functions[spec.function]
        event = parts.token_event(token) if token is not None else parts.request_event()
        timeout = min(function.spec.timeout_seconds, AUTHORIZER_TIMEOUT_SECONDS)
        try:
            result = function.invoke(event, parts.request_id, timeout)
        except FunctionRaised as err:
            if err.error_message == "Unauthorized":
                return "Unauthorized"
            self.console.line("api", f"authorizer {spec.name} failed ({err.reason}): {err}")
            return None
        except InvocationError as err:
            self.console.line("api", f"authorizer {spec.name} failed ({err.reason}): {err}")
            return None
        context = result.get("context") if isinstance(result, dict) else None
        if (
            not isinstance(result, dict)
            or not isinstance(result.get("principalId"), _SCALARS)
            or not (context is None or isinstance(context, dict))
            or not all(isinstance(v, _SCALARS) for v in (context or {}).values())
        ):
            self.console.line("api", f"authorizer {spec.name} gave a malformed response")
            return None
        return result


def _proxy_response(result: Any) -> Response:
    """Payload 1.0: statusCode, headers, multiValueHeaders, body, isBase64Encoded."""
    failed = _message(502, "message", "Internal server error")
    if not isinstance(result, dict):
        return failed
    multi = result.get("multiValueHeaders") or {}
    read = proxy_result(result)
    if read is None or not isinstance(multi, dict):
        return failed
    status, headers, payload = read
    response = Response(payload, status)
    response.headers.remove("Content-Type")
    for name, value in headers.items():
        response.headers[str(name)] = str(value)
    for name, values in multi.items():
        for value in values if isinstance(values, list) else [values]:
            response.headers.add(str(name), str(value))
    return response


@dataclass
class _RestParts:
    """One request as a REST API describes it to its authorizer and its integration."""

    route: Route
    request_id: str
    resource_path: str
    headers: dict[str, str]
    multi_headers: dict[str, list[str]]
    query: dict[str, str] | None
    multi_query: dict[str, list[str]] | None
    path_parameters: dict[str, str] | None
    request_context: dict[str, Any]
    method_arn: str
    content_type: str
    authorizer_context: dict[str, Any] | None = None

    @classmethod
    def read(
        cls,
        request: Request,
        route: Route,
        params: dict[str, str],
        request_id: str,
        stage: str,
        resource_path: str,
    ) -> _RestParts:
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value  # the last value wins, as API Gateway's headers map
            multi_headers.setdefault(name, []).append(value)
        multi_query: dict[str, list[str]] = {}
        for name, value in request.args.items(multi=True):
            multi_query.setdefault(name, []).append(value)
        now = time.time()
        method = request.method
        request_context = {
            "resourceId": "offline",
            "resourcePath": route.path,
            "httpMethod": method,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "path": request.path,
            "accountId": ACCOUNT_ID,
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "stage": stage,
            "domainPrefix": request.host.split(".")[0].split(":")[0],
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "domainName": request.host,
            "apiId": API_ID,
        }
        method_arn = (
            f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{stage}/{method}{resource_path}"
        )
        return cls(
            route=route,
            request_id=request_id,
            resource_path=resource_path,
            headers=headers,
            multi_headers=multi_headers,
            query={k: v[-1] for k, v in multi_query.items()} or None,
            multi_query=multi_query or None,
            path_parameters=params or None,
            request_context=request_context,
            method_arn=method_arn,
            content_type=request.headers.get("Content-Type", ""),
        )

    def identity_value(self, source: str) -> str | None:
        """``method.request.header.X`` (any case), ``...querystring.x`` or ``context.x``."""
        if source.startswith("method.request.header."):
            wanted = source[len("method.request.header.") :].lower()
            return next((v for k, v in self.headers.items() if k.lower() == wanted), None)
        if source.startswith("method.request.querystring."):
            return (self.query or {}).get(source[len("method.request.querystring.") :])
        if source.startswith("context."):
            value = self.request_context.get(source[len("context.") :])
            return None if value is None else str(value)
        return None  # no stage variables offline

    def token_event(self, token: str) -> dict[str, Any]:
        return {"type": "TOKEN", "authorizationToken": token, "methodArn": self.method_arn}

    def _common(self) -> dict[str, Any]:
        return {
            "resource": self.route.path,
            "path": self.resource_path,
            "httpMethod": self.request_context["httpMethod"],
            "headers": dict(self.headers),
            "multiValueHeaders": {k: list(v) for k, v in self.multi_headers.items()},
            "queryStringParameters": self.query,
            "multiValueQueryStringParameters": self.multi_query,
            "pathParameters": self.path_parameters,
            "stageVariables": None,
        }

    def request_event(self) -> dict[str, Any]:
        return {
            "type": "REQUEST",
            "methodArn": self.method_arn,
            **self._common(),
            "requestContext": dict(self.request_context),
        }

    def integration_event(self, body: bytes, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        request_context = dict(self.request_context)
        if authorizer is not None:
            request_context["authorizer"] = authorizer
        event = {**self._common(), "requestContext": request_context}
        media = self.content_type.split(";")[0].strip().lower()
        if not body:
            event["body"], event["isBase64Encoded"] = None, False
        elif not media or media.startswith("text/") or "json" in media or "xml" in media:
            try:
                event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        return event


def make_emulator(
    model: ApiModel, functions: Mapping[str, LambdaFunction], console: Console
) -> HttpApiEmulator:
    """The emulator for the template's API: a REST API's or an HTTP API's."""
    if isinstance(model, RestApiModel):
        return RestApiEmulator(model, functions, console)
    return HttpApiEmulator(model, functions, console)
