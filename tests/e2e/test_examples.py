"""examples/ served offline: APIs that name the authorizer by ARN.

`make run TEMPLATE=examples/http-api.yaml` attaches the authorizer application
(authorizer/template.yaml) to the template's AuthorizerArn parameter, as a
deploy of the application and then of the example would; with Revocation=true
its sign-out function to SignOutFunctionArn too, and POST /signout revokes
within the bound the example's coupled cache TTL keeps. A REST example gets
the application set for a REST API (ApiType, ApiRoutes) without being told.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
import requests

from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process
from tests.forge import forged_key, sign

REFRESH_SECONDS = 1
# The example's cache TTL is the refresh interval with Revocation on: a revocation
# holds within one refresh plus one TTL.
BOUND_SECONDS = REFRESH_SECONDS + REFRESH_SECONDS
SLACK_SECONDS = 3.0  # a loaded 2-core machine: process hops, Python start-up

NAME = {"firstName": "Brian", "lastName": "Morrison"}


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("example-http"), ROOT / "examples" / "http-api.yaml"
    )
    try:
        yield running
    finally:
        assert running.stop() == 0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_no_token_is_a_401_without_the_authorizer(example: StackProcess) -> None:
    response = example.request("GET", "/hello")
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    assert example.access_line(response.headers["apigw-requestid"])["decision"] == "unauthorized"


def test_a_demo_users_token_is_let_through_to_the_backend(example: StackProcess) -> None:
    response = example.request("POST", "/hello", json=NAME, headers=bearer(example.token("id")))
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Hello Brian Morrison"
    # decided by the attached application's function, with the local pool's settings
    decision = example.decision_of(response.headers["apigw-requestid"])
    assert (decision["decision"], decision["routeKey"]) == ("allow", "POST /hello")


def test_a_forged_token_is_a_403(example: StackProcess) -> None:
    """The demo user's own claims and key id, signed with a key the pool never had."""
    genuine = example.token("id")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = sign(claims, forged_key(jwt.get_unverified_header(genuine)["kid"]))
    response = example.request("GET", "/hello", headers=bearer(forged))
    assert (response.status_code, response.json()) == (403, {"message": "Forbidden"})
    decision = example.decision_of(response.headers["apigw-requestid"])
    assert (decision["decision"], decision["reason"]) == ("deny", "bad_signature")


def test_the_banner_names_the_attached_application(example: StackProcess) -> None:
    output = example.wait_for_output("AuthorizerArn")
    assert "authorizer/template.yaml" in output


def test_the_rest_example_runs_with_the_application_set_for_its_rest_api(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """No RUN_PARAMS: the application is given ApiType rest and every method of the API."""
    stack = start_stack_process(
        tmp_path_factory.mktemp("example-rest"), ROOT / "examples" / "rest-api.yaml"
    )
    try:
        banner = stack.wait_for_output("Offline stack is up")
        assert "    ApiType=rest: for the application, as the REST API needs" in banner
        assert "    ApiRoutes=POST /hello,GET /hello: for the application" in banner
        assert stack.request("GET", "/prod/hello").status_code == 401
        genuine = stack.token("id")
        allowed = stack.request("POST", "/prod/hello", json=NAME, headers=bearer(genuine))
        assert (allowed.status_code, allowed.json()["message"]) == (200, "Hello Brian Morrison")
        claims = jwt.decode(genuine, options={"verify_signature": False})
        forged = sign(claims, forged_key(jwt.get_unverified_header(genuine)["kid"]))
        denied = stack.request("GET", "/prod/hello", headers=bearer(forged))
        assert denied.status_code == 403
    finally:
        assert stack.stop() == 0


# --- revocation end to end -----------------------------------------------------------


def denied_within_the_bound(
    stack: StackProcess, path: str, token: str, since: float
) -> requests.Response:
    while True:
        response = stack.request("GET", path, headers=bearer(token))
        if response.status_code == 403:
            return response
        assert response.status_code == 200, response.text
        elapsed = time.monotonic() - since
        assert elapsed < BOUND_SECONDS + SLACK_SECONDS, f"still allowed after {elapsed:.1f} s"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("example", "base"), [("http-api.yaml", ""), ("rest-api.yaml", "/prod")], ids=["http", "rest"]
)
def test_an_example_signs_out_and_the_revocation_holds_within_the_bound(
    tmp_path_factory: pytest.TempPathFactory, example: str, base: str
) -> None:
    """make run TEMPLATE=examples/<example> RUN_PARAMS="Revocation=true": the application's
    table and sign-out function, the example's /signout route and its coupled cache TTL."""
    stack = start_stack_process(
        tmp_path_factory.mktemp("example-revocation"),
        ROOT / "examples" / example,
        parameters={
            "Revocation": "true",
            "RevocationRefreshSeconds": str(REFRESH_SECONDS),
            # Asked for, and overruled by the example: a cached allow must not outlive
            # a revocation.
            "AuthorizerCacheTtlSeconds": "300",
        },
    )
    try:
        banner = stack.wait_for_output("Offline stack is up", "POST /signout")
        assert "DynamoDB        local-AuthorizerArn-attached-RevocationTable" in banner
        assert "SignOutFunctionArn = arn:aws:lambda:" in banner
        routes = [line for line in banner.splitlines() if "-> AuthorizerFunction" in line]
        assert len(routes) == 3
        assert all(f"TTL {REFRESH_SECONDS}s" in line for line in routes), routes
        assert any(line.split()[:2] == ["POST", "/signout"] for line in routes)
        refused = stack.request("POST", f"{base}/signout")
        assert refused.status_code == 401  # behind the authorizer

        tokens = stack.sign_in()
        assert stack.request("GET", f"{base}/hello", headers=bearer(tokens["IdToken"])).ok
        signed_out = stack.request(
            "POST", f"{base}/signout", headers=bearer(tokens["AccessToken"]), json={"global": True}
        )
        since = time.monotonic()
        assert signed_out.status_code == 200, signed_out.text
        assert signed_out.json()["scope"] == "global"
        denied = denied_within_the_bound(stack, f"{base}/hello", tokens["IdToken"], since)
        if not base:  # the HTTP API's authorizer says why in its decision line
            decision = stack.decision_of(denied.headers["apigw-requestid"])
            assert (decision["decision"], decision["reason"]) == ("deny", "revoked")
        fresh = stack.sign_in()["IdToken"]
        assert stack.request("GET", f"{base}/hello", headers=bearer(fresh)).status_code == 200
    finally:
        assert stack.stop() == 0
