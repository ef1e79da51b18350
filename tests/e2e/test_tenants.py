"""A pool per tenant through the offline stack: `make run TENANTS=3`, moto's Cognito and DynamoDB,
the registry read by the authorizer, the operators' tool changing it while the stack runs.

docs/tenants.md's recorded walkthrough ("Try it offline") is these steps. A change holds
within the registry's refresh interval plus API Gateway's authorizer cache TTL, which
TenantRegistry=true makes the refresh interval itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process

REFRESH_SECONDS = 2
BOUND_SECONDS = REFRESH_SECONDS + REFRESH_SECONDS
SLACK_SECONDS = 3.0  # a loaded 2-core machine: process hops, Python start-up
NAME = {"firstName": "Brian", "lastName": "Morrison"}


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("tenants"),
        ROOT / "template.yaml",
        parameters={"TenantRefreshSeconds": str(REFRESH_SECONDS)},
        tenants=3,
    )
    try:
        yield running
    finally:
        running.stop()


def hello(offline: StackProcess, token: str) -> requests.Response:
    return offline.request(
        "POST", "/hello", headers={"Authorization": f"Bearer {token}"}, json=NAME
    )


def tenant_tool(offline: StackProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """`make tenant-... OFFLINE=1` as the Makefile runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "scripts.tenants",
            "--offline",
            "--state-file",
            str(offline.state_file),
            *args,
        ],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=60,
    )


def answer_within_the_bound(
    offline: StackProcess, token: str, status: int, since: float
) -> requests.Response:
    """Poll until the answer has ``status``; it came within the bound."""
    while True:
        response = hello(offline, token)
        if response.status_code == status:
            return response
        elapsed = time.monotonic() - since
        assert elapsed < BOUND_SECONDS + SLACK_SECONDS, (
            f"{response.status_code} after {elapsed:.1f} s"
        )
        time.sleep(0.1)


def decision(offline: StackProcess, response: requests.Response) -> dict[str, Any]:
    return offline.decision_of(response.headers["apigw-requestid"])


def test_each_tenants_user_is_greeted_naming_the_tenant(offline: StackProcess) -> None:
    assert [t["tenantId"] for t in offline.state["tenants"]] == ["acme", "globex", "initech"]
    for tenant in offline.state["tenants"]:
        response = hello(offline, offline.token(tenant=tenant["tenantId"]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["message"] == "Hello Brian Morrison"
        assert body["tenant"] == tenant["tenantId"]
        assert body["tenantAttributes"] == {"plan": tenant["plan"]}
    # The stack's own demo pool is trusted beside the registry, as the template names it.
    plain = hello(offline, offline.token()).json()
    assert plain["message"] == "Hello Brian Morrison"
    assert "tenant" not in plain


def test_an_unregistered_pool_is_refused_then_served_once_added(offline: StackProcess) -> None:
    stranger = offline.token(pool="untrusted")
    refused = hello(offline, stranger)
    assert refused.status_code == 403
    assert decision(offline, refused)["reason"] == "wrong_issuer"
    pool = offline.state["untrusted"]
    added = tenant_tool(
        offline,
        "add",
        "--tenant",
        "umbrella",
        "--user-pool-id",
        pool["user_pool_id"],
        "--clients",
        pool["client_id"],
        "--attributes",
        "plan=platinum",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("registered tenant umbrella in the offline stack")
    since = time.monotonic()
    # A new token: the refused one's deny may be cached for the TTL, as API Gateway does.
    served = answer_within_the_bound(offline, offline.token(pool="untrusted"), 200, since)
    assert served.json()["tenant"] == "umbrella"


def test_a_suspended_tenant_is_refused_within_the_bound(offline: StackProcess) -> None:
    token = offline.token(tenant="globex")
    assert hello(offline, token).status_code == 200
    suspended = tenant_tool(offline, "suspend", "--tenant", "globex")
    assert suspended.returncode == 0, suspended.stderr
    since = time.monotonic()
    refused = answer_within_the_bound(offline, token, 403, since)
    assert decision(offline, refused)["reason"] == "tenant_suspended"
    assert hello(offline, offline.token(tenant="acme")).status_code == 200


def test_the_tool_refuses_a_pool_that_does_not_exist_or_is_taken(offline: StackProcess) -> None:
    missing = tenant_tool(
        offline, "add", "--tenant", "ghost", "--user-pool-id", "us-east-1_Missing", "--clients", "c"
    )
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        "error: user pool us-east-1_Missing does not exist",
    )
    acme = next(t for t in offline.state["tenants"] if t["tenantId"] == "acme")
    taken = tenant_tool(
        offline,
        "add",
        "--tenant",
        "copycat",
        "--user-pool-id",
        acme["user_pool_id"],
        "--clients",
        acme["client_id"],
    )
    assert taken.returncode == 1
    assert "is tenant acme's: a pool belongs to one tenant" in taken.stderr
    listed = tenant_tool(offline, "list")
    assert listed.returncode == 0
    assert '"tenantId": "acme"' in listed.stdout
    assert "copycat" not in listed.stdout
