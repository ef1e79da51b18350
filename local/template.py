"""Read template.yaml the way ``sam deploy`` does: transform it, then read what it became.

samtranslator turns the SAM shorthand (``Auth``, ``Events``, ``Globals``)
into an ``AWS::ApiGatewayV2::Api`` with an OpenAPI body and plain
``AWS::Lambda::Function`` resources. Routes, authorizers, identity sources,
result TTLs, handlers, timeouts and environments are all read from there, so
a route added to the template is served after a restart, and what runs
offline is what API Gateway would be given.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local.cfn import Resolver, load_template, referenced_function
from local.exceptions import TemplateError

DEFAULT_TIMEOUT_SECONDS: Final = 3  # CloudFormation's default for AWS::Lambda::Function
DEFAULT_MEMORY_MB: Final = 128
DEFAULT_ROUTE: Final = "$default"
_PLACEHOLDER_BUCKET: Final = "local-offline"
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
    stage: str
    routes: tuple[Route, ...]
    authorizers: dict[str, AuthorizerSpec]
    functions: dict[str, FunctionSpec]
    parameters: dict[str, str] = field(default_factory=dict)

    def authorizer_functions(self) -> set[str]:
        return {spec.function for spec in self.authorizers.values()}


def load_api(
    template_path: Path,
    parameter_overrides: Mapping[str, str],
    *,
    api_id: str | None = None,
) -> ApiModel:
    """Transform the SAM template and read the HTTP API it defines."""
    source = load_template(template_path)
    base_dir = template_path.resolve().parent
    prepared, code_dirs = _with_placeholder_code(source, base_dir)
    parameters = _parameter_values(source, parameter_overrides)
    transformed = _transform(prepared, parameters)

    resources: dict[str, Any] = transformed.get("Resources", {})
    resolver = Resolver(parameters, transformed.get("Conditions", {}))
    api_name = _choose_api(resources, resolver, api_id)
    body = resources[api_name]["Properties"]["Body"]
    stage = _stage_name(resources, api_name)
    authorizers = _authorizers(body, resources, resolver)
    routes = _routes(body, resources, authorizers)
    needed = {route.function for route in routes} | {a.function for a in authorizers.values()}
    functions = {
        name: _function(name, resources, resolver, code_dirs.get(name, base_dir))
        for name in sorted(needed)
    }
    return ApiModel(
        api_id=api_name,
        stage=stage,
        routes=tuple(routes),
        authorizers=authorizers,
        functions=functions,
        parameters=dict(parameters),
    )


def _with_placeholder_code(
    template: dict[str, Any], base_dir: Path
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Swap local CodeUri paths for S3 placeholders, as ``sam package`` would, remembering them."""
    prepared = copy.deepcopy(template)
    globals_function = prepared.get("Globals", {}).get("Function", {})
    default_uri = (
        globals_function.pop("CodeUri", ".") if isinstance(globals_function, dict) else "."
    )
    code_dirs: dict[str, Path] = {}
    for name, resource in prepared["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.setdefault("Properties", {})
        if "InlineCode" in properties or properties.get("PackageType") == "Image":
            raise TemplateError(f"{name}: only CodeUri functions can run offline")
        uri = properties.get("CodeUri", default_uri)
        if not isinstance(uri, str) or uri.startswith("s3://"):
            raise TemplateError(f"{name}: CodeUri must be a local path to run offline, got {uri!r}")
        code_dirs[name] = (base_dir / uri).resolve()
        properties["CodeUri"] = f"s3://{_PLACEHOLDER_BUCKET}/{name}"
    return prepared, code_dirs


def _parameter_values(template: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, str]:
    declared = template.get("Parameters") or {}
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(f"no such template parameter: {', '.join(unknown)}")
    values: dict[str, str] = {}
    missing = []
    for name, spec in declared.items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif isinstance(spec, dict) and "Default" in spec:
            default = spec["Default"]
            values[name] = (
                ",".join(map(str, default)) if isinstance(default, list) else str(default)
            )
        else:
            missing.append(name)
    if missing:
        raise TemplateError(f"parameters without a default need a value: {', '.join(missing)}")
    for name, value in values.items():
        _check_parameter(name, value, declared[name])
    return values


def _check_parameter(name: str, value: str, spec: Any) -> None:
    """The constraints CloudFormation enforces before any resource is touched."""
    if not isinstance(spec, dict):
        return
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and value not in [str(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str) and not re.fullmatch(pattern, value):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above {spec['MaxValue']}")


def _transform(template: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    import boto3
    from samtranslator.metrics.metrics import Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    from local.cfn import REGION

    # The region and partition pseudo parameters come from this session; no call is made.
    session = boto3.session.Session(
        region_name=REGION,
        aws_access_key_id="offline",
        aws_secret_access_key="offline",  # noqa: S106
    )
    metrics = Metrics()
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    try:
        result: dict[str, Any] = translator.translate(
            template,
            parameter_values=dict(parameters),
            # Managed policy names would be looked up in IAM; offline, nothing enforces IAM.
            get_managed_policy_map=lambda: {},
        )
    except InvalidDocumentException as err:
        problems = "; ".join(str(cause) for cause in err.causes)
        raise TemplateError(f"samtranslator rejected the template: {problems}") from None
    finally:
        metrics.publish()  # to its dummy publisher: nothing leaves this machine
    return result


def _choose_api(resources: Mapping[str, Any], resolver: Resolver, wanted: str | None) -> str:
    apis = [
        name
        for name, resource in resources.items()
        if resource.get("Type") == "AWS::ApiGatewayV2::Api"
        and (not resource.get("Condition") or resolver.condition(resource["Condition"], name))
    ]
    if wanted is not None:
        if wanted not in apis:
            raise TemplateError(f"no HTTP API {wanted!r} in the template (found: {apis or 'none'})")
        apis = [wanted]
    if len(apis) != 1:
        raise TemplateError(
            f"expected one HTTP API (AWS::Serverless::HttpApi), found {apis or 'none'}; "
            "choose one with --api"
        )
    properties = resources[apis[0]].get("Properties", {})
    if not isinstance(properties.get("Body"), dict):
        raise TemplateError(f"{apis[0]}: only an inline OpenAPI body (DefinitionBody) is supported")
    return apis[0]


def _stage_name(resources: Mapping[str, Any], api_name: str) -> str:
    for resource in resources.values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::ApiGatewayV2::Stage" and properties.get("ApiId") == {
            "Ref": api_name
        }:
            name = properties.get("StageName", DEFAULT_ROUTE)
            return name if isinstance(name, str) else DEFAULT_ROUTE
    return DEFAULT_ROUTE


def _authorizers(
    body: Mapping[str, Any], resources: Mapping[str, Any], resolver: Resolver
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
        function = referenced_function(settings.get("authorizerUri"), resources)
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
    body: Mapping[str, Any], resources: Mapping[str, Any], authorizers: Mapping[str, AuthorizerSpec]
) -> list[Route]:
    root_security = body.get("security")
    routes: list[Route] = []
    for path, operations in body.get("paths", {}).items():
        for key, operation in operations.items():
            if key == _ANY_METHOD:
                method = "ANY"
            elif key in _OPENAPI_METHODS:
                method = key.upper()
            else:
                continue
            integration = operation.get("x-amazon-apigateway-integration", {})
            route_key = DEFAULT_ROUTE if path == DEFAULT_ROUTE else f"{method} {path}"
            version = str(integration.get("payloadFormatVersion", "2.0"))
            if version != "2.0":
                raise TemplateError(
                    f"route {route_key}: only payload format 2.0 is emulated, not {version}"
                )
            if integration.get("type") != "aws_proxy":
                raise TemplateError(
                    f"route {route_key}: only Lambda proxy integrations run offline"
                )
            function = referenced_function(integration.get("uri"), resources)
            if function is None:
                raise TemplateError(
                    f"route {route_key}: integration uri names no template function"
                )
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


def _function(
    name: str, resources: Mapping[str, Any], resolver: Resolver, code_dir: Path
) -> FunctionSpec:
    resource = resources.get(name)
    if not isinstance(resource, dict) or resource.get("Type") != "AWS::Lambda::Function":
        raise TemplateError(f"{name} is not a Lambda function in the template")
    if resource.get("Condition") and not resolver.condition(resource["Condition"], name):
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
