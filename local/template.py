"""The HTTP API the offline stack serves, read from the transformed template (``local/sam.py``).

samtranslator turns the SAM shorthand (``Auth``, ``Events``, ``Globals``)
into an ``AWS::ApiGatewayV2::Api`` with an OpenAPI body and plain
``AWS::Lambda::Function`` resources. Routes, authorizers, identity sources,
result TTLs, handlers, timeouts and environments are all read from there, so
a route added to the template is served after a restart, and what runs
offline is what API Gateway would be given.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local.cfn import Resolver, referenced_function
from local.cors import CorsConfig
from local.exceptions import TemplateError
from local.sam import Attachment, SamTemplate, TransformedTemplate

DEFAULT_TIMEOUT_SECONDS: Final = 3  # CloudFormation's default for AWS::Lambda::Function
DEFAULT_MEMORY_MB: Final = 128
DEFAULT_ROUTE: Final = "$default"
DEFAULT_STAGE: Final = "$default"
_OPENAPI_METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch")
_ANY_METHOD: Final = "x-amazon-apigateway-any-method"


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    logical_id: str
    handler: str
    code_dir: Path
    runtime: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]


@dataclass(frozen=True, slots=True)
class AuthorizerSpec:
    name: str
    function: str
    identity_source: tuple[str, ...]
    ttl_seconds: int
    simple_responses: bool


@dataclass(frozen=True, slots=True)
class Route:
    route_key: str  # "POST /hello", "ANY /items/{id}" or "$default"
    method: str  # upper case, or "ANY"
    path: str  # "/hello"; "$default" for the default route
    function: str
    authorizer: str | None
    param_names: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when this route serves the request, else None."""
        if self.method not in ("ANY", method):
            return None
        if self.pattern is None:
            return {}
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return dict(zip(self.param_names, found.groups(), strict=True))

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """API Gateway prefers literal segments over parameters over greedy ones, then a method."""
        segments = [s for s in self.path.split("/") if s]
        greedy = any(s.endswith("+}") for s in segments)
        literal = sum(1 for s in segments if not s.startswith("{"))
        return (0 if greedy else 1, literal, len(segments), 0 if self.method == "ANY" else 1)


@dataclass(frozen=True, slots=True)
class ApiModel:
    api_id: str
    routes: tuple[Route, ...]
    authorizers: dict[str, AuthorizerSpec]
    functions: dict[str, FunctionSpec]
    parameters: dict[str, str] = field(default_factory=dict)
    cors: CorsConfig | None = None

    @property
    def base_path(self) -> str:
        """Where the API is served: the root for an HTTP API's $default stage."""
        return ""

    @property
    def kind(self) -> str:
        return "HTTP API"

    def authorizer_functions(self) -> set[str]:
        return {spec.function for spec in self.authorizers.values()}


def load_api(
    template: SamTemplate,
    parameter_overrides: Mapping[str, str],
    attachments: tuple[Attachment, ...] = (),
    transformed: TransformedTemplate | None = None,
) -> ApiModel:
    """Transform the SAM template (with any application it names by ARN), unless given
    that transform, and read the HTTP API it defines."""
    if transformed is None:
        transformed = template.transform(parameter_overrides, attachments)
    resources: dict[str, Any] = transformed.template.get("Resources", {})
    resolver = transformed.resolver()
    if _has_only_rest_apis(resources):
        from local.rest import read_rest_api  # the REST API variant (template-rest.yaml)

        return read_rest_api(template, transformed)
    if _has_websocket_api(resources):
        from local.websocket import read_websocket_api  # template-websocket.yaml

        return read_websocket_api(template, transformed)
    api_name = _the_api(resources, resolver)
    body = resources[api_name]["Properties"]["Body"]
    _check_default_stage(resources, resolver, api_name)
    authorizers = _authorizers(body, transformed, resolver)
    routes = _routes(body, transformed, authorizers, resolver)
    return ApiModel(
        api_id=api_name,
        routes=tuple(routes),
        authorizers=authorizers,
        functions=api_functions(template, transformed, routes, authorizers),
        parameters=dict(transformed.parameters),
        cors=CorsConfig.from_openapi(resolver.resolve(body.get("x-amazon-apigateway-cors"))),
    )


def api_functions(
    template: SamTemplate,
    transformed: TransformedTemplate,
    routes: list[Route],
    authorizers: Mapping[str, AuthorizerSpec],
    others: frozenset[str] = frozenset(),
) -> dict[str, FunctionSpec]:
    """Every function the API's routes and authorizers name (and ``others``), as the template
    (or the nested application that defines it) defines it, with the values passed to it."""
    needed = {route.function for route in routes} | {a.function for a in authorizers.values()}
    needed |= others
    return _functions(template, transformed, transformed.resolver(), sorted(needed))


def template_functions(
    template: SamTemplate, transformed: TransformedTemplate, root: Resolver
) -> dict[str, FunctionSpec]:
    """Every function these parameter values create, in the template and the nested stacks
    it creates, each resolved in its own stack by ``root``'s children."""
    created = []
    for name, path in transformed.function_paths().items():
        resolver, owner = root, transformed
        for stack in path:
            if stack in owner.template.get("Resources", {}) and not resolver.exists(stack):
                break
            resolver, owner = resolver.child(stack), owner.nested[stack]
        else:
            if resolver.exists(name):
                created.append(name)
    return _functions(template, transformed, root, sorted(created))


def _functions(
    template: SamTemplate, transformed: TransformedTemplate, root: Resolver, names: list[str]
) -> dict[str, FunctionSpec]:
    paths = transformed.function_paths()
    base_dir = template.path.resolve().parent
    functions = {}
    for name in names:
        path = paths.get(name, ())
        owner, resolver = transformed.owner(path), root
        for stack in path:
            resolver = resolver.child(stack)
        resources = owner.template.get("Resources", {})
        code_dir = owner.code_dirs.get(name, base_dir)
        functions[name] = function_spec(name, resources, resolver, code_dir)
    return functions


def _has_websocket_api(resources: Mapping[str, Any]) -> bool:
    return any(
        resource.get("Type") == "AWS::ApiGatewayV2::Api"
        and str(resource.get("Properties", {}).get("ProtocolType", "")).upper() == "WEBSOCKET"
        for resource in resources.values()
    )


def _has_only_rest_apis(resources: Mapping[str, Any]) -> bool:
    types = {resource.get("Type") for resource in resources.values()}
    return "AWS::ApiGateway::RestApi" in types and "AWS::ApiGatewayV2::Api" not in types


def _the_api(resources: Mapping[str, Any], resolver: Resolver) -> str:
    apis = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGatewayV2::Api" and resolver.exists(name)
    ]
    if len(apis) != 1:
        raise TemplateError(
            f"expected one HTTP API (AWS::Serverless::HttpApi), found {apis or 'none'}"
        )
    properties = resources[apis[0]].get("Properties", {})
    if not isinstance(properties.get("Body"), dict):
        raise TemplateError(f"{apis[0]}: only an inline OpenAPI body (DefinitionBody) is supported")
    return apis[0]


def _check_default_stage(resources: Mapping[str, Any], resolver: Resolver, api_name: str) -> None:
    """The API is served at the root, as its ``$default`` stage is; a named stage is refused."""
    for name, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::ApiGatewayV2::Stage" and properties.get("ApiId") == {
            "Ref": api_name
        }:
            stage = resolver.resolve(
                properties.get("StageName", DEFAULT_STAGE), f"{name}.StageName"
            )
            if stage != DEFAULT_STAGE:
                raise TemplateError(
                    f"{api_name}: only the {DEFAULT_STAGE} stage is served offline, not {stage!r}"
                )


def _authorizers(
    body: Mapping[str, Any], transformed: TransformedTemplate, resolver: Resolver
) -> dict[str, AuthorizerSpec]:
    schemes = body.get("components", {}).get("securitySchemes", {})
    found: dict[str, AuthorizerSpec] = {}
    for name, scheme in schemes.items():
        settings = scheme.get("x-amazon-apigateway-authorizer")
        if not isinstance(settings, dict):
            continue
        where = f"authorizer {name}"
        kind = str(settings.get("type", "")).lower()
        if kind != "request":
            raise TemplateError(
                f"{where}: only Lambda REQUEST authorizers run offline, not {kind!r}"
            )
        function = referenced_function(settings.get("authorizerUri"), transformed)
        if function is None:
            raise TemplateError(f"{where}: authorizerUri does not name a function in the template")
        payload = str(
            resolver.resolve(settings.get("authorizerPayloadFormatVersion", "1.0"), where)
        )
        simple = resolver.resolve(settings.get("enableSimpleResponses", False), where)
        if payload != "2.0":
            raise TemplateError(f"{where}: only payload format 2.0 is emulated, not {payload}")
        identity = resolver.resolve(settings.get("identitySource", []), where)
        if isinstance(identity, str):
            identity = [part.strip() for part in identity.split(",") if part.strip()]
        ttl = int(resolver.resolve(settings.get("authorizerResultTtlInSeconds", 300), where))
        found[name] = AuthorizerSpec(
            name=name,
            function=function,
            identity_source=tuple(str(source) for source in identity),
            ttl_seconds=ttl,
            simple_responses=simple is True or str(simple).lower() == "true",
        )
    return found


def _routes(
    body: Mapping[str, Any],
    transformed: TransformedTemplate,
    authorizers: Mapping[str, AuthorizerSpec],
    resolver: Resolver,
) -> list[Route]:
    root_security = body.get("security")
    routes: list[Route] = []
    for path, method, operation in operations(body, resolver):
        integration = dict(operation.get("x-amazon-apigateway-integration", {}))
        integration["uri"] = chosen_branch(integration.get("uri"), resolver)
        route_key = DEFAULT_ROUTE if path == DEFAULT_ROUTE else f"{method} {path}"
        version = str(integration.get("payloadFormatVersion", "2.0"))
        if version != "2.0":
            raise TemplateError(
                f"route {route_key}: only payload format 2.0 is emulated, not {version}"
            )
        if integration.get("type") != "aws_proxy":
            raise TemplateError(f"route {route_key}: only Lambda proxy integrations run offline")
        function = referenced_function(integration.get("uri"), transformed)
        if function is None:
            raise TemplateError(f"route {route_key}: integration uri names no template function")
        security = operation.get("security", root_security)
        routes.append(
            _route(
                route_key,
                method,
                path,
                function,
                _route_authorizer(route_key, security, authorizers),
            )
        )
    if not routes:
        raise TemplateError("the HTTP API has no routes")
    return routes


def operations(body: Mapping[str, Any], resolver: Resolver) -> Iterator[tuple[str, str, Any]]:
    """(path, method, operation) for each operation of an OpenAPI or Swagger body that these
    parameters create; the method upper case, ``ANY`` for API Gateway's any-method."""
    for path, path_item in body.get("paths", {}).items():
        for key, wrapped in (chosen_branch(path_item, resolver) or {}).items():
            if key == _ANY_METHOD:
                method = "ANY"
            elif key in _OPENAPI_METHODS:
                method = key.upper()
            else:
                continue
            operation = chosen_branch(wrapped, resolver)
            if operation is not None:
                yield path, method, operation


def chosen_branch(node: Any, resolver: Resolver) -> Any:
    """``node`` with its Fn::If wrappers chosen, as CloudFormation chooses them; None for NoValue.

    samtranslator wraps a conditional function's route (its path, its operation
    and its integration URI) in ``Fn::If`` on the function's Condition; only
    the wrappers are evaluated here, the rest is read as it is.
    """
    while isinstance(node, dict) and len(node) == 1 and "Fn::If" in node:
        condition, if_true, if_false = node["Fn::If"]
        node = if_true if resolver.condition(str(condition), "paths") else if_false
    if node == {"Ref": "AWS::NoValue"}:
        return None
    return node


def _route_authorizer(
    route_key: str, security: Any, authorizers: Mapping[str, AuthorizerSpec]
) -> str | None:
    """The authorizer protecting a route; ``NONE`` (``Auth: {Authorizer: NONE}``) opts out."""
    names = [name for requirement in security or [] for name in requirement]
    names = [name for name in names if name != "NONE"]
    if not names:
        return None
    if len(names) > 1 or names[0] not in authorizers:
        raise TemplateError(f"route {route_key}: unsupported security {security!r}")
    return str(names[0])


def _route(
    route_key: str,
    method: str,
    path: str,
    function: str,
    authorizer: str | None,
) -> Route:
    if path == DEFAULT_ROUTE:
        return Route(route_key, "ANY", path, function, authorizer)
    names: list[str] = []
    parts: list[str] = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            names.append(segment[1:-2])
            parts.append("(.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            names.append(segment[1:-1])
            parts.append("([^/]+)")
        else:
            parts.append(re.escape(segment))
    pattern = re.compile("/" + "/".join(parts))
    return Route(route_key, method, path, function, authorizer, tuple(names), pattern)


def function_spec(
    name: str, resources: Mapping[str, Any], resolver: Resolver, code_dir: Path
) -> FunctionSpec:
    resource = resources.get(name)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Lambda::Function":
        raise TemplateError(f"{name} is not a Lambda function in the template")
    if not resolver.exists(name):
        raise TemplateError(f"{name} is not created with these parameters (condition false)")
    properties = resource.get("Properties", {})
    where = f"{name}.Environment"
    raw_variables = properties.get("Environment", {}).get("Variables", {})
    variables = resolver.resolve(raw_variables, where)
    environment = {key: _env_text(value) for key, value in variables.items()}
    runtime = str(resolver.resolve(properties.get("Runtime", ""), f"{name}.Runtime"))
    if not runtime.startswith("python"):
        raise TemplateError(f"{name}: only python runtimes run offline, not {runtime!r}")
    return FunctionSpec(
        logical_id=name,
        handler=str(resolver.resolve(properties.get("Handler", ""), f"{name}.Handler")),
        code_dir=code_dir,
        runtime=runtime,
        timeout_seconds=int(resolver.resolve(properties.get("Timeout", 3), f"{name}.Timeout")),
        memory_mb=int(resolver.resolve(properties.get("MemorySize", 128), f"{name}.MemorySize")),
        environment=environment,
    )


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise TemplateError(f"environment value {value!r} is not a string")
    return str(value)
