"""Sign-out and revocation through the offline stack: template.yaml with Revocation=true,
moto's Cognito and DynamoDB, the authorizer reading the list, API Gateway's cache.

docs/revocation.md's recorded walkthrough ("Try it offline") is these steps. The bound a
revocation takes effect within is the list's refresh interval plus API Gateway's
authorizer cache TTL, which Revocation=true makes the refresh interval itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.docs.pages import section
from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process
from tests.helpers import cognito_refreshes

REFRESH_SECONDS = 2
# Revocation=true forces the API's authorizer cache TTL down to the refresh interval.
BOUND_SECONDS = REFRESH_SECONDS + REFRESH_SECONDS
SLACK_SECONDS = 3.0  # a loaded 2-core machine: process hops, Python start-up
# docs/revocation.md's recorded walkthrough shows these very answers.
WALKTHROUGH = section("docs/revocation.md", "Try it offline")


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("revocation"),
        ROOT / "template.yaml",
        parameters={
            "Revocation": "true",
            "RevocationRefreshSeconds": str(REFRESH_SECONDS),
            # Asked for, and overruled: a cached allow must not outlive a revocation.
            "AuthorizerCacheTtlSeconds": "300",
        },
    )
    try:
        yield running
    finally:
        running.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def hello(offline: StackProcess, token: str) -> requests.Response:
    return offline.request("GET", "/hello", headers=bearer(token))


def denied_within_the_bound(offline: StackProcess, token: str, since: float) -> dict[str, Any]:
    """Poll until the token is refused; the refusal came within the bound and says revoked."""
    while True:
        response = hello(offline, token)
        if response.status_code == 403:
            break
        assert response.status_code == 200, response.text
        elapsed = time.monotonic() - since
        assert elapsed < BOUND_SECONDS + SLACK_SECONDS, f"still allowed after {elapsed:.1f} s"
        time.sleep(0.1)
    assert response.json() == {"message": "Forbidden"}
    decision = offline.decision_of(response.headers["apigw-requestid"])
    assert (decision["decision"], decision["reason"]) == ("deny", "revoked")
    return decision


def refreshes(offline: StackProcess, refresh_token: str) -> bool:
    pool = offline.cognito
    return cognito_refreshes(pool["endpoint"], pool["client_id"], refresh_token)


def test_the_api_cache_ttl_is_the_refresh_interval_and_signout_is_a_protected_route(
    offline: StackProcess,
) -> None:
    banner = offline.wait_for_output("Offline stack is up", "POST /signout")
    routes = [line for line in banner.splitlines() if "-> AuthorizerFunction" in line]
    assert len(routes) == 3
    assert all(f"TTL {REFRESH_SECONDS}s" in line for line in routes), routes
    assert "DynamoDB        local-Authorizer-RevocationTable" in banner
    refused = offline.request("POST", "/signout")
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})


def test_the_metrics_show_the_lists_refreshes_as_the_dashboards_revocation_row(
    offline: StackProcess,
) -> None:
    # Each decision past half an interval refreshes the list: two intervals of requests.
    token = offline.sign_in()["IdToken"]
    until = time.monotonic() + 2 * REFRESH_SECONDS
    while time.monotonic() < until:
        assert hello(offline, token).status_code == 200
        time.sleep(0.2)
    served = requests.get(offline.state["metricsUrl"] + "/json", timeout=5).json()["revocation"]
    assert served["refreshes"] >= 2  # the cold start's read, then at least one refresh
    assert served["refreshFailures"] == 0
    assert 0 <= served["listAgeSeconds"]["last"] <= served["listAgeSeconds"]["max"]
    assert served["listAgeSeconds"]["max"] < REFRESH_SECONDS + SLACK_SECONDS
    assert served["entries"]["last"] >= 0
    # The text the stack serves is what it prints when it stops (local/metrics.py).
    text = requests.get(offline.state["metricsUrl"], timeout=5).text
    assert f"  revocation      refreshes {served['refreshes']}, failures 0, list age max " in text


def test_sign_out_denies_the_same_token_within_the_bound_even_from_api_gateways_cache(
    offline: StackProcess,
) -> None:
    token = offline.sign_in()["IdToken"]
    allowed = hello(offline, token)
    assert allowed.status_code == 200
    assert offline.decision_of(allowed.headers["apigw-requestid"])["decision"] == "allow"

    signed_out = offline.request("POST", "/signout", headers=bearer(token))
    since = time.monotonic()
    assert signed_out.status_code == 200, signed_out.text
    assert signed_out.json() == {
        "message": "Signed out: this sign-in's tokens are revoked",
        "scope": "session",
        "refreshTokenRevoked": False,
    }
    assert json.dumps(signed_out.json()) in WALKTHROUGH
    # API Gateway still answers from its cache the allow it holds for this token and route...
    cached = hello(offline, token)
    if cached.status_code == 200:
        assert offline.access_line(cached.headers["apigw-requestid"])["cached"]
    # ...but not for longer than its TTL: then the authorizer decides, with the new list.
    denied_within_the_bound(offline, token, since)
    # And from then on, past another whole TTL, never an allow again.
    until = time.monotonic() + REFRESH_SECONDS + 0.5
    while time.monotonic() < until:
        assert hello(offline, token).status_code == 403
        time.sleep(0.2)

    fresh = offline.sign_in()["IdToken"]
    assert hello(offline, fresh).status_code == 200


def test_sign_out_with_the_refresh_token_revokes_it_at_cognito_too(
    offline: StackProcess,
) -> None:
    tokens = offline.sign_in()
    assert refreshes(offline, tokens["RefreshToken"])
    signed_out = offline.request(
        "POST",
        "/signout",
        headers=bearer(tokens["AccessToken"]),
        json={"refreshToken": tokens["RefreshToken"]},
    )
    since = time.monotonic()
    assert signed_out.status_code == 200, signed_out.text
    assert signed_out.json()["refreshTokenRevoked"] is True
    assert not refreshes(offline, tokens["RefreshToken"])
    # Both tokens of that sign-in, the one not used to sign out included.
    denied_within_the_bound(offline, tokens["IdToken"], since)
    denied_within_the_bound(offline, tokens["AccessToken"], since)


def test_global_sign_out_revokes_every_sign_in_of_the_user(offline: StackProcess) -> None:
    elsewhere = offline.sign_in()
    here = offline.sign_in()
    refused = offline.request(
        "POST", "/signout", headers=bearer(here["IdToken"]), json={"global": True}
    )
    assert refused.status_code == 400
    assert "needs an access token" in refused.json()["message"]
    unknown = offline.request(
        "POST", "/signout", headers=bearer(here["AccessToken"]), json={"refresh_token": "x"}
    )
    assert unknown.status_code == 400
    assert json.dumps(unknown.json()) in WALKTHROUGH

    signed_out = offline.request(
        "POST", "/signout", headers=bearer(here["AccessToken"]), json={"global": True}
    )
    since = time.monotonic()
    assert signed_out.status_code == 200, signed_out.text
    assert signed_out.json()["scope"] == "global"
    assert json.dumps(signed_out.json()) in WALKTHROUGH
    assert not refreshes(offline, elsewhere["RefreshToken"])
    denied_within_the_bound(offline, elsewhere["IdToken"], since)
    denied_within_the_bound(offline, here["AccessToken"], since)

    fresh = offline.sign_in()["IdToken"]
    assert hello(offline, fresh).status_code == 200


def test_make_revoke_signs_the_user_out_everywhere(offline: StackProcess) -> None:
    tokens = offline.sign_in()
    assert hello(offline, tokens["IdToken"]).status_code == 200
    done = offline.revoke()
    since = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("revoked brian (sub ")
    assert "every token issued up to" in done.stdout
    assert "$ make -s revoke USER=brian OFFLINE=1\nrevoked brian (sub " in WALKTHROUGH
    assert not refreshes(offline, tokens["RefreshToken"])
    denied_within_the_bound(offline, tokens["IdToken"], since)

    fresh = offline.sign_in()["IdToken"]
    assert hello(offline, fresh).status_code == 200


def test_make_revoke_needs_a_user_named_on_its_command_line() -> None:
    done = subprocess.run(
        ["make", "-s", "revoke", "OFFLINE=1"],
        cwd=ROOT,
        env={**os.environ, "USER": "root"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert "name the user: make revoke USER=<username>" in done.stderr


def test_the_rest_variant_signs_out_through_its_own_post_signout(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """template-rest.yaml with Revocation=true: POST /prod/signout, then the cached policy
    ends within the bound and the authorizer denies the token revoked."""
    rest = start_stack_process(
        tmp_path_factory.mktemp("revocation-rest"),
        ROOT / "template-rest.yaml",
        parameters={"Revocation": "true", "RevocationRefreshSeconds": str(REFRESH_SECONDS)},
    )
    try:
        banner = rest.wait_for_output("REST API", "POST /signout")
        assert f"TTL {REFRESH_SECONDS}s" in banner
        token = rest.sign_in()["IdToken"]
        headers = bearer(token)
        assert rest.request("GET", "/prod/hello", headers=headers).status_code == 200
        signed_out = rest.request("POST", "/prod/signout", headers=headers)
        since = time.monotonic()
        assert signed_out.status_code == 200, signed_out.text
        assert signed_out.json()["scope"] == "session"
        while (response := rest.request("GET", "/prod/hello", headers=headers)).status_code == 200:
            assert time.monotonic() - since < BOUND_SECONDS + SLACK_SECONDS
            time.sleep(0.1)
        assert response.status_code == 403, response.text
        denied = [d for d in rest.decisions() if d.get("reason") == "revoked"]
        assert denied, "the authorizer's deny says revoked"
        assert rest.request("GET", "/prod/hello", headers=bearer(rest.sign_in()["IdToken"])).ok
    finally:
        rest.stop()
