"""What CloudFormation and the functions' cold starts would refuse, found before anything is
built, deployed or started, from a template and its parameter values alone.

``make deploy`` and ``make deploy-authorizer`` run ``python -m local check``
(``check_deploy``) before ``sam build``; ``make run`` runs the same checks
before it starts a function. In order:

1. each parameter against its own constraints (AllowedValues, AllowedPattern,
   Min/MaxValue), as CloudFormation checks them (``local/cfn.py``);
2. the template's Rules, and a nested application's with the values its
   parent passes it;
3. each function's environment, resolved from the template as the offline
   stack resolves it, read by the configuration loader its cold start runs
   (``COLD_STARTS``): the same ``ConfigurationError``, the same message, before
   Lambda ever sees it;
4. each API authorizer's result cache against the revocation list of the
   authorizer it calls: a cached allow must not outlive a revocation by more
   than the list's refresh interval.

A user pool or app client the stack itself creates has no id before the
deploy: it stands in as an id of its form (``Resolver(stand_ins=True)``), so
what the parameters say is checked and the ids CloudFormation makes are not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from authorizer.api.settings import load_cold_start
from authorizer.signout import connections, hangup
from authorizer.signout.handler import load_settings
from authorizer.verification.config import load_config
from local.cfn import Resolver, referenced_function, rule_failures
from local.exceptions import SettingsRefused
from local.sam import SamTemplate, TransformedTemplate
from local.template import FunctionSpec, template_functions
from shared.exceptions import ConfigurationError
from shared.jsonlog import log_level_setting

# Each handler of this repository and what its cold start reads its settings with
# (tests/unit/test_preflight.py checks each against the real cold start's refusal).
COLD_STARTS: Final[Mapping[str, Callable[[Mapping[str, str]], object]]] = {
    "authorizer.app.lambda_handler": load_cold_start,
    "authorizer.signout.app.lambda_handler": load_settings,
    "authorizer.signout.connections_app.lambda_handler": connections.load_settings,
    "authorizer.signout.hangup_app.lambda_handler": hangup.load_settings,
    "greeter.app.lambda_handler": log_level_setting,
    "greeter.websocket.lambda_handler": log_level_setting,
}
AUTHORIZER_HANDLER: Final = "authorizer.app.lambda_handler"
# API Gateway's default authorizer result TTL when the template gives none.
DEFAULT_RESULT_TTL_SECONDS: Final = 300
_API_TYPES: Final = ("AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi")


def check_deploy(path: Path, overrides: Mapping[str, str]) -> None:
    """Everything a deploy of ``path`` with ``overrides`` would be refused for, or nothing."""
    template = SamTemplate.read(path)
    transformed = template.transform(overrides)
    resolver = transformed.resolver(stand_ins=True)
    check_rules(transformed, resolver)
    functions = template_functions(template, transformed, resolver)
    check_functions(functions)
    check_result_caches(transformed, resolver, functions)


def check_rules(transformed: TransformedTemplate, resolver: Resolver) -> None:
    failures = rule_failures(transformed, resolver)
    if failures:
        raise SettingsRefused(
            "the template's rules refuse these parameters:\n  " + "\n  ".join(failures)
        )


def check_functions(functions: Mapping[str, FunctionSpec]) -> None:
    """Each function's environment read as its cold start reads it."""
    for name, spec in functions.items():
        load = COLD_STARTS.get(spec.handler)
        if load is None:
            continue  # not one of ours: its settings are its own business
        try:
            load(spec.environment)
        except ConfigurationError as err:
            raise SettingsRefused(
                f"{name} would not start with these settings (its cold start refuses them):\n"
                f"  {err}"
            ) from None


def check_result_caches(
    transformed: TransformedTemplate, resolver: Resolver, functions: Mapping[str, FunctionSpec]
) -> None:
    """No API caches an authorizer's answer longer than that authorizer's revocation refresh."""
    for where, function, ttl in authorizer_caches(transformed, resolver):
        spec = functions.get(function)
        if spec is None or spec.handler != AUTHORIZER_HANDLER:
            continue
        config = load_config(spec.environment)  # checked by check_functions already
        refresh = config.revocation_refresh_seconds
        if config.revocation_table and ttl > refresh:
            raise SettingsRefused(
                f"{where} caches each answer of {function} for {ttl} s, but with revocation "
                f"on it reads the revocation list every {refresh} s (REVOCATION_REFRESH_SECONDS): "
                f"a cached allow would outlive a revocation by up to {ttl} s. Set the cache TTL "
                f"to at most {refresh} s (0 turns the cache off)."
            )


def authorizer_caches(
    transformed: TransformedTemplate, resolver: Resolver
) -> Iterator[tuple[str, str, int]]:
    """(where, function, TTL) for each Lambda authorizer of each API the template creates.

    The SAM transform writes every authorizer into its API's OpenAPI body (HTTP
    APIs: components.securitySchemes; REST APIs: securityDefinitions) under
    x-amazon-apigateway-authorizer, with its authorizerResultTtlInSeconds.
    """
    for api, resource in (transformed.template.get("Resources") or {}).items():
        if resource.get("Type") not in _API_TYPES or not resolver.exists(api):
            continue
        body = (resource.get("Properties") or {}).get("Body")
        if not isinstance(body, dict):
            continue
        schemes: dict[str, Any] = {
            **(body.get("components") or {}).get("securitySchemes", {}),
            **body.get("securityDefinitions", {}),
        }
        for name, scheme in schemes.items():
            settings = scheme.get("x-amazon-apigateway-authorizer")
            if not isinstance(settings, dict):
                continue
            function = referenced_function(settings.get("authorizerUri"), transformed)
            if function is None:
                continue
            where = f"{api}'s authorizer {name}"
            ttl = resolver.resolve(
                settings.get("authorizerResultTtlInSeconds", DEFAULT_RESULT_TTL_SECONDS), where
            )
            yield where, function, int(ttl)
