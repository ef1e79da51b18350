"""local/preflight.py: what a deploy or `make run` refuses before anything is built or started.

The refusal of a function's settings is its cold start's own: the same error
and the same message as importing its entry module with that environment.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

# The preflight reads templates with the SAM translator (in .venv); make mutate's venv,
# which mutates nothing of local/, has none.
pytest.importorskip("samtranslator")

from authorizer.verification.config import load_config
from local.cfn import Resolver
from local.exceptions import SettingsRefused, TemplateError
from local.preflight import (
    COLD_STARTS,
    check_deploy,
    check_functions,
    check_result_caches,
)
from local.sam import Attachment, SamTemplate, TransformedTemplate
from local.stack import AUTHORIZER_APPLICATION, LOCAL_AUTHORIZER_ARN
from local.template import FunctionSpec, template_functions
from shared.exceptions import ConfigurationError
from tests.helpers import BASE_ENV

ROOT = Path(__file__).resolve().parents[2]
DEPLOYABLE = [
    ROOT / "template.yaml",
    ROOT / "template-rest.yaml",
    ROOT / "authorizer" / "template.yaml",
    ROOT / "examples" / "http-api.yaml",
    ROOT / "examples" / "rest-api.yaml",
    ROOT / "template-websocket.yaml",
    ROOT / "examples" / "websocket-api.yaml",
]
POOLS = '[{"userPoolId": "us-east-1_A1", "appClientIds": ["a"]}]'


def spec(handler: str, environment: dict[str, str]) -> FunctionSpec:
    return FunctionSpec("Fn", handler, ROOT, "python3.13", 3, 128, environment)


def refusal(handler: str, environment: dict[str, str]) -> str:
    """What check_functions says of a function with this handler and environment."""
    with pytest.raises(SettingsRefused) as refused:
        check_functions({"Fn": spec(handler, environment)})
    first, detail = str(refused.value).splitlines()
    assert first == "Fn would not start with these settings (its cold start refuses them):"
    return detail.strip()


def cold_start_error(
    module: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> str:
    """The error importing the entry module raises in a Lambda with this environment."""
    for name in (*BASE_ENV, "LOG_LEVEL", "USER_POOLS", "TOKEN_USE", "API_TYPE", "API_ROUTES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, module, raising=False)
    try:
        with pytest.raises(ConfigurationError) as raised:
            importlib.import_module(module)
    finally:
        sys.modules.pop(module, None)
    return str(raised.value)


def test_every_handler_the_templates_deploy_has_its_cold_starts_loader() -> None:
    handlers = {
        str(resource["Properties"]["Handler"])
        for path in DEPLOYABLE
        for resource in SamTemplate.read(path).source["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert handlers == set(COLD_STARTS)


@pytest.mark.parametrize(
    ("module", "handler", "environment"),
    [
        ("authorizer.app", "app", {**BASE_ENV, "ROUTE_RULES": "{bad"}),
        ("authorizer.app", "app", {"USER_POOLS": POOLS, "TOKEN_USE": "access"}),
        ("authorizer.app", "app", {**BASE_ENV, "CONTEXT_CLAIMS": "two words"}),
        ("authorizer.app", "app", {**BASE_ENV, "API_TYPE": "rest"}),
        ("authorizer.app", "app", {**BASE_ENV, "API_ROUTES": "GET /x", "API_TYPE": "http"}),
        (
            "authorizer.app",
            "app",
            {
                **BASE_ENV,
                "API_TYPE": "rest",
                "API_ROUTES": "GET /a",
                "ROUTE_RULES": '{"GET /b": {"groups": ["a"]}}',
            },
        ),
        ("authorizer.signout.app", "signout_app", {"REVOCATION_TABLE": ""}),
        (
            "authorizer.signout.app",
            "signout_app",
            {"REVOCATION_TABLE": "table", "REFRESH_TOKEN_VALIDITY_DAYS": "0"},
        ),
        ("greeter.app", "greeter", {"LOG_LEVEL": "LOUD"}),
    ],
    ids=[
        "ROUTE_RULES: is not valid JSON",
        "USER_POOLS: is set, so TOKEN_USE must not be",
        "CONTEXT_CLAIMS: must be comma-separated",
        "API_ROUTES: is required with API_TYPE=rest",
        "API_ROUTES: is for API_TYPE=rest only",
        "ROUTE_RULES: names routes that API_ROUTES does not list",
        "REVOCATION_TABLE: is required",
        "REFRESH_TOKEN_VALIDITY_DAYS: must be",
        "LOG_LEVEL: must be one of",
    ],
)
def test_a_refused_setting_gets_the_cold_starts_own_message(
    module: str,
    handler: str,
    environment: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    handlers = {
        "app": "authorizer.app.lambda_handler",
        "signout_app": "authorizer.signout.app.lambda_handler",
        "greeter": "greeter.app.lambda_handler",
    }
    said = refusal(handlers[handler], environment)
    assert said == cold_start_error(module, environment, monkeypatch)
    assert said.startswith(request.node.callspec.id)  # the refusal each case is about


def test_settings_a_cold_start_takes_pass_and_other_handlers_are_not_read() -> None:
    check_functions(
        {
            "Authorizer": spec("authorizer.app.lambda_handler", dict(BASE_ENV)),
            "Other": spec("someone.else.handler", {"ROUTE_RULES": "{bad"}),
        }
    )


# --- a deploy's template and parameters ----------------------------------------------


def test_the_demos_defaults_deploy_with_the_pool_the_stack_creates() -> None:
    """UserPoolId empty: the authorizer's pool and client are the stack's own, stood in."""
    check_deploy(ROOT / "template.yaml", {})
    check_deploy(ROOT / "template-rest.yaml", {"Revocation": "true"})
    check_deploy(ROOT / "authorizer" / "template.yaml", {"UserPools": POOLS})


def test_an_invalid_json_setting_is_refused_with_the_cold_starts_message() -> None:
    with pytest.raises(ConfigurationError) as cold_start:
        load_config({**BASE_ENV, "ROUTE_RULES": "{bad"})
    with pytest.raises(SettingsRefused) as refused:
        check_deploy(ROOT / "template.yaml", {"RouteRules": "{bad"})
    assert str(refused.value).splitlines() == [
        "AuthorizerFunction would not start with these settings (its cold start refuses them):",
        f"  {cold_start.value}",
    ]


def test_a_rule_for_a_route_the_rest_api_lacks_is_refused_by_the_rest_loader() -> None:
    with pytest.raises(SettingsRefused, match="ROUTE_RULES: names routes that API_ROUTES"):
        check_deploy(
            ROOT / "template-rest.yaml", {"RouteRules": '{"GET /nope": {"groups": ["a"]}}'}
        )


def test_the_templates_rules_are_refusals_naming_the_setting() -> None:
    with pytest.raises(SettingsRefused) as refused:
        check_deploy(ROOT / "template.yaml", {"UserPools": POOLS, "TokenUse": "id"})
    assert str(refused.value).splitlines() == [
        "the template's rules refuse these parameters:",
        "  UserPoolsReplaceTheOnePoolSettings: UserPools replaces TokenUse; remove TokenUse"
        " (give tokenUse per pool).",
        "  Authorizer/UserPoolsReplaceTheOnePoolSettings: UserPools replaces TokenUse;"
        " remove TokenUse (give tokenUse per pool).",
    ]
    with pytest.raises(SettingsRefused, match="OnePoolOrUserPools: Give UserPoolId"):
        check_deploy(ROOT / "authorizer" / "template.yaml", {})


def test_a_parameters_own_constraint_is_refused_by_name() -> None:
    with pytest.raises(TemplateError, match="ContextClaimsMaxBytes=1 is below 64"):
        check_deploy(ROOT / "template.yaml", {"ContextClaimsMaxBytes": "1"})


# --- the API's authorizer cache against the revocation list --------------------------


def attached_example(
    example: str, ours: dict[str, str], application: dict[str, str]
) -> tuple[TransformedTemplate, Resolver, dict[str, FunctionSpec]]:
    """The example with the authorizer application attached, as `make run` attaches it."""
    attachment = Attachment(
        parameter="AuthorizerArn",
        template=SamTemplate.read(AUTHORIZER_APPLICATION),
        parameters={"UserPoolId": "us-east-1_A1", "AppClientIds": "a", **application},
        output="AuthorizerArn",
        arn=LOCAL_AUTHORIZER_ARN,
    )
    template = SamTemplate.read(ROOT / "examples" / example)
    transformed = template.transform(ours, (attachment,))
    resolver = transformed.resolver()
    return transformed, resolver, template_functions(template, transformed, resolver)


@pytest.mark.parametrize("example", ["http-api.yaml", "rest-api.yaml"])
def test_a_cache_longer_than_the_revocation_refresh_is_refused(example: str) -> None:
    """The application revokes, the API in front was not told: its 300 s cache outlives it."""
    rest = {"ApiType": "rest", "ApiRoutes": "GET /hello,POST /hello"} if "rest" in example else {}
    transformed, resolver, functions = attached_example(example, {}, {"Revocation": "true", **rest})
    with pytest.raises(SettingsRefused) as refused:
        check_result_caches(transformed, resolver, functions)
    assert "caches each answer of AuthorizerFunction for 300 s" in str(refused.value)
    assert "every 10 s (REVOCATION_REFRESH_SECONDS)" in str(refused.value)
    # Without revocation any cache is the API's choice.
    check_result_caches(*attached_example(example, {}, rest))


@pytest.mark.parametrize(("ttl", "refused"), [("0", False), ("10", False), ("11", True)])
def test_a_cache_up_to_the_refresh_passes(ttl: str, refused: bool) -> None:
    """The bound is one refresh plus one TTL: a TTL of the refresh itself is the most."""
    caches = attached_example(
        "http-api.yaml", {"AuthorizerCacheTtlSeconds": ttl}, {"Revocation": "true"}
    )
    if refused:
        with pytest.raises(SettingsRefused, match=f"for {ttl} s"):
            check_result_caches(*caches)
    else:
        check_result_caches(*caches)
