"""`make run POOLS=2` with CORS: two trusted local pools, an untrusted one, a browser's view."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process

APP = "https://app.example.com"


@pytest.fixture(scope="module")
def pools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("pools"),
        ROOT / "template.yaml",
        parameters={
            "CorsAllowedOrigins": f"{APP},http://localhost:5173",
            "ContextClaims": "email,cognito:groups",
        },
        pools=2,
    )
    try:
        yield running
    finally:
        running.stop()


def hello(stack: StackProcess, token: str | None, origin: str | None = None) -> object:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if origin:
        headers["Origin"] = origin
    return stack.request("GET", "/hello", headers=headers)


def test_each_trusted_pool_is_accepted_and_the_untrusted_one_denied(pools: StackProcess) -> None:
    first = pools.request("GET", "/hello", headers={"Authorization": pools.token("id", "1")})
    assert first.status_code == 200, first.text
    assert first.json()["message"] == "Hello brian"
    second = pools.request("GET", "/hello", headers={"Authorization": pools.token("access", "2")})
    assert second.status_code == 200, second.text
    assert first.json()["sub"] != second.json()["sub"]  # two different pools' users
    untrusted = pools.request(
        "GET", "/hello", headers={"Authorization": pools.token("id", "untrusted")}
    )
    assert (untrusted.status_code, untrusted.json()) == (403, {"message": "Forbidden"})
    # The reader thread lags behind the response: wait for the decision line.
    output = pools.wait_for_output('"reason": "wrong_issuer"')
    decisions = [line for line in output.splitlines() if '"authorization decision"' in line]
    assert any('"reason": "wrong_issuer"' in line for line in decisions)


def test_copied_claims_reach_the_greeter(pools: StackProcess) -> None:
    response = pools.request("GET", "/hello", headers={"Authorization": pools.token("id", "1")})
    assert response.json()["claims"] == {
        "email": "brian@example.com",
        "cognito:groups": ["greeters"],
    }


def test_a_preflight_is_answered_without_the_authorizer(pools: StackProcess) -> None:
    before = len(pools.output())
    response = pools.request(
        "OPTIONS",
        "/hello",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    new = pools.output()[before:]
    assert not any('"authorization decision"' in line for line in new)


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("not-a-jwt", 403)])
def test_refusals_carry_the_cors_headers_for_an_allowed_origin(
    pools: StackProcess, token: str | None, status: int
) -> None:
    response = hello(pools, token, APP)
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.headers["Access-Control-Allow-Origin"] == APP  # type: ignore[attr-defined]


def test_an_allowed_origin_gets_cors_on_success_and_another_origin_none(
    pools: StackProcess,
) -> None:
    token = pools.token("id", "1")
    allowed = hello(pools, token, APP)
    assert allowed.headers["Access-Control-Allow-Origin"] == APP  # type: ignore[attr-defined]
    other = hello(pools, token, "https://evil.example")
    assert other.status_code == 200  # type: ignore[attr-defined]
    assert "Access-Control-Allow-Origin" not in other.headers  # type: ignore[attr-defined]
