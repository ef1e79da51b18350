"""examples/http-api.yaml served offline: an API that names the authorizer by ARN.

`make run TEMPLATE=examples/http-api.yaml` attaches the authorizer application
(authorizer/template.yaml) to the template's AuthorizerArn parameter, as a
deploy of the application and then of the example would.
"""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest

from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process
from tests.forge import forged_key, sign

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


def test_the_rest_example_with_the_application_set_for_rest(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The application's settings given as a user gives them, beside the template's."""
    stack = start_stack_process(
        tmp_path_factory.mktemp("example-rest"),
        ROOT / "examples" / "rest-api.yaml",
        parameters={"ApiType": "rest", "ApiRoutes": "GET /hello,POST /hello"},
    )
    try:
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
