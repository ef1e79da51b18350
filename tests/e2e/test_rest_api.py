"""The REST API variant offline: `python -m local run` serving a REST API as API Gateway does.

The real authorizer (API_TYPE=rest) and greeter run behind a TOKEN and a
REQUEST authorizer; a naive probe authorizer shows the result-cache pitfall
that the real one avoids. Tokens come from the local (moto) Cognito.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.stackproc import ROOT, TEMPLATES, StackProcess, start_stack_process

# id tokens may read; only access tokens may POST (a rule the cache must respect).
RULES = json.dumps({"POST /hello": {"tokenUse": "access"}})
EXPLICIT = {"Message": "User is not authorized to access this resource with an explicit deny"}
IMPLICIT = {"Message": "User is not authorized to access this resource"}
UNAUTHORIZED = {"message": "Unauthorized"}
NAME = {"firstName": "Brian", "lastName": "Morrison"}


@pytest.fixture(scope="module")
def rest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("offline-rest"),
        TEMPLATES / "offline-rest.yaml",
        parameters={"RouteRules": RULES},
    )
    try:
        yield running
    finally:
        running.stop()


def call(
    stack: StackProcess, method: str, path: str, token: str | None = None, **kwargs: object
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return stack.request(method, f"/prod{path}", headers=headers, **kwargs)


def outcome(stack: StackProcess, response: requests.Response) -> tuple[str, bool]:
    line = stack.access_line(response.headers["apigw-requestid"])
    return line["decision"], bool(line["cached"])


def test_the_banner_shows_the_rest_api_under_its_stage(rest: StackProcess) -> None:
    output = rest.wait_for_output("REST API")
    assert f"{rest.url}/prod" in output


def test_no_token_is_a_401_without_calling_the_authorizer(rest: StackProcess) -> None:
    response = call(rest, "GET", "/hello")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert outcome(rest, response) == ("unauthorized", False)


def test_a_token_that_fails_the_validation_expression_is_a_401(rest: StackProcess) -> None:
    response = rest.request("GET", "/prod/hello", headers={"Authorization": "Bearer nonsense"})
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_an_unknown_resource_is_a_403_missing_authentication_token(rest: StackProcess) -> None:
    for path in ("/prod/nowhere", "/hello", "/dev/hello"):
        response = rest.request("GET", path)
        assert (response.status_code, response.json()) == (
            403,
            {"message": "Missing Authentication Token"},
        ), path


def test_a_bad_signature_is_a_403_explicit_deny(rest: StackProcess) -> None:
    token = rest.token("id")
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = call(rest, "GET", "/hello", tampered)
    assert (response.status_code, response.json()) == (403, EXPLICIT)


def test_the_greeter_answers_from_a_payload_1_event(rest: StackProcess) -> None:
    token = rest.token("access")
    response = call(rest, "POST", "/hello", token, json=NAME)
    assert response.status_code == 200
    assert response.json()["message"] == "Hello Brian Morrison"
    assert call(rest, "GET", "/hello", token).json()["message"] == "Hello brian"


def test_a_request_authorizer_reads_the_header_and_allows(rest: StackProcess) -> None:
    response = call(rest, "GET", "/req/hello", rest.token("id"))
    assert (response.status_code, response.json()["username"]) == (200, "brian")


def test_a_cached_policy_never_opens_a_method_the_rules_close(rest: StackProcess) -> None:
    token = rest.token("id")  # may GET, may not POST
    first = call(rest, "GET", "/hello", token)
    assert (first.status_code, outcome(rest, first)) == (200, ("allow", False))
    later = call(rest, "POST", "/hello", token, json=NAME)
    assert (later.status_code, later.json()) == (403, EXPLICIT)
    assert outcome(rest, later) == ("deny", True)  # the cached policy, evaluated for POST


def test_a_cached_policy_never_closes_a_method_the_rules_open(rest: StackProcess) -> None:
    token = rest.token("id")
    first = call(rest, "POST", "/hello", token, json=NAME)
    assert (first.status_code, first.json()) == (403, EXPLICIT)
    assert outcome(rest, first) == ("deny", False)
    later = call(rest, "GET", "/hello", token)
    assert (later.status_code, later.json()["message"]) == (200, "Hello brian")
    assert outcome(rest, later) == ("allow", True)


def test_the_pitfall_a_policy_for_one_method_denies_the_next_from_the_cache(
    rest: StackProcess,
) -> None:
    headers = {"X-Probe": "exact"}
    first = rest.request("GET", "/prod/naive/hello", headers=headers)
    assert first.status_code == 200
    # The integration got the probe's context beside principalId, stringified.
    authorizer = first.json()["event"]["requestContext"]["authorizer"]
    assert {k: authorizer[k] for k in ("principalId", "probe", "number", "flag")} == {
        "principalId": "probe",
        "probe": "exact",
        "number": "7",
        "flag": "true",
    }
    later = rest.request("POST", "/prod/naive/hello", headers=headers, json=NAME)
    assert (later.status_code, later.json()) == (403, IMPLICIT)
    assert outcome(rest, later) == ("deny", True)


@pytest.mark.parametrize(
    ("probe", "status", "body"),
    [
        ("unauthorized", 401, UNAUTHORIZED),
        ("raise", 500, {"message": None}),
        ("malformed", 500, {"message": None}),
        ("deny", 403, EXPLICIT),
    ],
)
def test_authorizer_outcomes_answer_as_api_gateway_does(
    rest: StackProcess, probe: str, status: int, body: dict[str, object]
) -> None:
    response = rest.request("GET", "/prod/naive/hello", headers={"X-Probe": probe})
    assert (response.status_code, response.json()) == (status, body)


def test_make_run_api_rest_serves_the_deployable_rest_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    stack = start_stack_process(
        tmp_path_factory.mktemp("template-rest"), ROOT / "template-rest.yaml"
    )
    try:
        assert call(stack, "GET", "/hello").status_code == 401
        response = call(stack, "POST", "/hello", stack.token("id"), json=NAME)
        assert (response.status_code, response.json()["message"]) == (200, "Hello Brian Morrison")
    finally:
        assert stack.stop() == 0
