"""REST: a method missing from API_ROUTES is denied for every caller, below parameters too.

API Gateway caches one policy per token and evaluates it (IAM's rules,
reproduced by local/policy.py) against each later method ARN. IAM's ``*``
spans ``/``, so ``DELETE/items/*`` alone would also allow
``DELETE/items/7/purge``. Here every policy the authorizer makes, for each
listed route and each kind of caller, is evaluated against requests that no
listed route names: nested below a parameter, siblings of a listed path,
other methods, an ANY route's path under another prefix. None may be allowed.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from authorizer.api.rest import RestAuthorizer, load_api_settings
from local.policy import Effect, evaluate
from tests.forge import claims, load_event, sign
from tests.helpers import WiredAuthorizer, make_config

PREFIX: Final = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/"
# (API_ROUTES, the request each listed route gets, requests no listed route names)
APIS: Final = {
    "one parameter": (
        "GET /hello,DELETE /items/{id}",
        {"GET /hello": "GET/hello", "DELETE /items/{id}": "DELETE/items/7"},
        [
            "DELETE/items/7/purge",
            "DELETE/items/7/purge/now",
            "DELETE/items/a/b/c/d",
            "GET/items/7",
            "POST/items/7",
            "DELETE/items",
            "DELETE/things/7",
            "GET/hello/world",
            "POST/hello",
        ],
    ),
    "parameters inside and at the end": (
        "GET /a/{b}/c/{d},PUT /a/{b}",
        {"GET /a/{b}/c/{d}": "GET/a/1/c/2", "PUT /a/{b}": "PUT/a/1"},
        [
            "GET/a/1/x/c/2",
            "GET/a/1/c/2/3",
            "GET/a/1/c/2/c/3",
            "PUT/a/1/2",
            "PUT/a/1/c/2",
            "GET/a/1",
            "GET/a/1/c",
        ],
    ),
    "ANY routes": (
        "ANY /items/{id},ANY /admin/{proxy+},GET /",
        {
            "ANY /items/{id}": "PATCH/items/7",
            "ANY /admin/{proxy+}": "PUT/admin/users/7",
            "GET /": "GET/",
        },
        [
            "GET/items/7/admin/x",  # an ANY pattern's method wildcard spanning "/"
            "DELETE/items/7/x",
            "GET/other/admin/x",
            "POST/",
            "GET/x",
        ],
    ),
}
CALLERS: Final = {"admin": ["admins"], "reader": ["readers"], "nobody": []}


def rest(wired: WiredAuthorizer, routes: str, rules: str) -> RestAuthorizer:
    route_rules = make_config(ROUTE_RULES=rules).route_rules
    settings = load_api_settings({"API_TYPE": "rest", "API_ROUTES": routes}, route_rules)
    return RestAuthorizer(wired.authorizer, route_rules, settings.routes)


def token_for(groups: list[str]) -> str:
    payload = claims()
    payload["cognito:groups"] = groups
    return sign(payload)


def token_event(token: str, request: str) -> dict[str, Any]:
    event = load_event("rest_token.json")
    event["authorizationToken"] = f"Bearer {token}"
    event["methodArn"] = PREFIX + request
    return event


def request_event(token: str, route_key: str, request: str) -> dict[str, Any]:
    event = load_event("rest_request.json")
    method, _, resource = route_key.partition(" ")
    event["headers"]["Authorization"] = f"Bearer {token}"
    event["methodArn"] = PREFIX + request
    event["httpMethod"], event["resource"] = method, resource
    return event


@pytest.mark.parametrize("api", sorted(APIS))
@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_every_unlisted_method_is_denied_by_every_cached_policy(
    wired: WiredAuthorizer, api: str, caller: str
) -> None:
    routes, requests, unlisted = APIS[api]
    # Only admins may use the parameterised routes: some callers get Denies, some Allows.
    rules = json.dumps({route: {"groups": ["admins"]} for route in requests if "{" in route})
    authorizer = rest(wired, routes, rules)
    token = token_for(CALLERS[caller])
    for made_for in requests.values():
        policy = authorizer.handle(token_event(token, made_for))["policyDocument"]
        for request in unlisted:
            assert evaluate(policy, PREFIX + request) is not Effect.ALLOW, (made_for, request)
        # The listed routes still get what their rules say.
        for route, request in requests.items():
            allowed = "{" not in route or caller == "admin"
            assert (evaluate(policy, PREFIX + request) is Effect.ALLOW) is allowed, request


def test_the_deny_below_a_parameter_spares_a_listed_route_beneath_it(
    wired: WiredAuthorizer,
) -> None:
    """``GET /items/{id}/open`` lies below ``GET /items/{id}``: both stay allowed."""
    authorizer = rest(wired, "GET /items/{id},GET /items/{id}/open", "")
    policy = authorizer.handle(token_event(token_for([]), "GET/items/7"))["policyDocument"]
    for request in ("GET/items/7", "GET/items/7/open"):
        assert evaluate(policy, PREFIX + request) is Effect.ALLOW
    for request in ("GET/items/7/x/open", "GET/items/7/open/x", "GET/items/7/open/x/y"):
        assert evaluate(policy, PREFIX + request) is not Effect.ALLOW


def test_a_request_event_for_an_unlisted_route_denies_that_request(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Between a listed parameter and a listed route beneath it, IAM's patterns cannot
    tell an unlisted sibling (``close`` beside ``open``) apart; a REQUEST event names its
    route template, so the request itself is denied by its exact method ARN."""
    authorizer = rest(wired, "GET /items/{id},GET /items/{id}/open", "")
    token = token_for([])
    capsys.readouterr()
    answer = authorizer.handle(request_event(token, "GET /items/{id}/close", "GET/items/7/close"))
    assert evaluate(answer["policyDocument"], PREFIX + "GET/items/7/close") is Effect.EXPLICIT_DENY
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "decision" in x]
    assert (record["decision"], record["reason"]) == ("deny", "unknown_route")
    # The same answer still serves the caller's listed routes from the cache.
    for request in ("GET/items/8", "GET/items/8/open"):
        assert evaluate(answer["policyDocument"], PREFIX + request) is Effect.ALLOW
    listed = authorizer.handle(request_event(token, "GET /items/{id}/open", "GET/items/7/open"))
    assert evaluate(listed["policyDocument"], PREFIX + "GET/items/7/open") is Effect.ALLOW


def test_a_route_is_listed_by_its_method_and_resource_together(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    """``/items/{id}/close`` is listed for DELETE only: a GET of it is unlisted, though
    ``GET/items/*`` covers its path and the listed ``open`` keeps that region open."""
    routes = "GET /items/{id},GET /items/{id}/open,DELETE /items/{id}/close"
    authorizer = rest(wired, routes, "")
    token = token_for([])
    capsys.readouterr()
    answer = authorizer.handle(request_event(token, "GET /items/{id}/close", "GET/items/7/close"))
    assert evaluate(answer["policyDocument"], PREFIX + "GET/items/7/close") is Effect.EXPLICIT_DENY
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "decision" in x]
    assert (record["decision"], record["reason"]) == ("deny", "unknown_route")
    listed = authorizer.handle(
        request_event(token, "DELETE /items/{id}/close", "DELETE/items/7/close")
    )
    assert evaluate(listed["policyDocument"], PREFIX + "DELETE/items/7/close") is Effect.ALLOW


def test_an_any_route_lists_every_method_of_its_resource(wired: WiredAuthorizer) -> None:
    authorizer = rest(wired, "GET /items/{id},ANY /items/{id}/open", "")
    token = token_for([])
    for method in ("GET", "PATCH", "DELETE"):
        event = request_event(token, f"{method} /items/{{id}}/open", f"{method}/items/7/open")
        policy = authorizer.handle(event)["policyDocument"]
        assert evaluate(policy, PREFIX + f"{method}/items/7/open") is Effect.ALLOW, method


def test_a_request_below_a_parameter_is_logged_as_an_unknown_route(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    authorizer = rest(wired, "DELETE /items/{id}", "")
    capsys.readouterr()
    answer = authorizer.handle(token_event(token_for(["admins"]), "DELETE/items/7/purge"))
    assert evaluate(answer["policyDocument"], PREFIX + "DELETE/items/7/purge") is (
        Effect.EXPLICIT_DENY
    )
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "decision" in x]
    assert (record["decision"], record["reason"]) == ("deny", "unknown_route")


def test_the_docs_state_the_rules_tested_here() -> None:
    from tests.docs.pages import CORPUS as docs

    for phrase in (
        "A method missing from `API_ROUTES` is denied, below parameters too.",
        "an explicit **Deny** for every region a parameter's `*` could stretch into "
        "(`DELETE/items/*/*`",
        "an `ANY` route is named once per method (`GET/admin/*`, `POST/admin/*`, ...)",
        "`$context.httpMethod` and `$context.resourcePath`",
        "a `TOKEN` event carries no API Gateway request id",
    ):
        assert phrase in docs, phrase


def test_a_greedy_route_keeps_every_path_below_it_open(wired: WiredAuthorizer) -> None:
    """``ANY /{proxy+}`` lists everything: no Deny below ``GET /items/{id}`` may refuse it."""
    authorizer = rest(wired, "ANY /{proxy+},GET /items/{id},GET /", "")
    policy = authorizer.handle(token_event(token_for([]), "GET/items/7"))["policyDocument"]
    for request in ("GET/items/7", "GET/items/7/x", "GET/items/7/x/y", "DELETE/a/b/c", "GET/"):
        assert evaluate(policy, PREFIX + request) is Effect.ALLOW, request


@pytest.mark.parametrize("missing", ["resource", "httpMethod"])
def test_a_request_event_without_its_route_template_is_judged_by_the_patterns(
    wired: WiredAuthorizer, missing: str
) -> None:
    """An event that does not name its route says nothing: a listed route stays allowed."""
    authorizer = rest(wired, "GET /items/{id},GET /items/{id}/open", "")
    event = request_event(token_for([]), "GET /items/{id}/open", "GET/items/7/open")
    del event[missing]
    policy = authorizer.handle(event)["policyDocument"]
    assert evaluate(policy, PREFIX + "GET/items/7/open") is Effect.ALLOW
    assert evaluate(policy, PREFIX + "GET/items/7/open/x") is Effect.EXPLICIT_DENY
