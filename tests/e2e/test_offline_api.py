"""The offline HTTP API over real HTTP on loopback, with moto's Cognito, as API Gateway behaves."""

from __future__ import annotations

import base64
import ipaddress
import time
from urllib.parse import urlsplit

from tests.e2e.sockets import listening
from tests.e2e.stackproc import PARENT_CANARIES, StackProcess
from tests.leakcheck import assert_clean

HELLO = {"firstName": "Brian", "lastName": "Morrison"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_without_token_401_and_the_authorizer_is_not_called(offline: StackProcess) -> None:
    before = len(offline.decisions())
    response = offline.request("POST", "/hello", json=HELLO)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    line = offline.access_line(response.headers["apigw-requestid"])
    assert line["decision"] == "unauthorized"
    assert len(offline.decisions()) == before


def test_empty_authorization_header_is_a_missing_identity_source(offline: StackProcess) -> None:
    response = offline.request("GET", "/hello", headers={"Authorization": ""})
    assert response.status_code == 401


def test_id_token_reaches_the_greeter_with_the_authorizer_context(
    offline: StackProcess, id_token: str
) -> None:
    response = offline.request("POST", "/hello", json=HELLO, headers=bearer(id_token))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Hello Brian Morrison"
    assert body["username"] == "brian"
    assert body["sub"]
    assert response.headers["content-type"] == "application/json"


def test_get_greets_from_the_context_alone(offline: StackProcess, id_token: str) -> None:
    response = offline.request("GET", "/hello", headers=bearer(id_token))
    assert response.status_code == 200
    assert response.json()["message"] == "Hello brian"


def test_access_token_is_accepted(offline: StackProcess) -> None:
    access = offline.token("access")
    response = offline.request(
        "GET", "/hello", headers={"Authorization": access}
    )  # bare, no Bearer
    assert response.status_code == 200, response.text
    assert offline.decision_of(response.headers["apigw-requestid"])["tokenUse"] == "access"


def test_forged_token_is_denied_with_403(offline: StackProcess, id_token: str) -> None:
    header, payload, signature = id_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    response = offline.request("POST", "/hello", json=HELLO, headers=bearer(tampered))
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}
    assert offline.access_line(response.headers["apigw-requestid"])["decision"] == "deny"


def test_garbage_token_denied_and_the_deny_is_cached(offline: StackProcess) -> None:
    token = f"not-a-jwt-{time.time_ns()}"
    first = offline.request("GET", "/hello", headers=bearer(token))
    second = offline.request("GET", "/hello", headers=bearer(token))
    assert (first.status_code, second.status_code) == (403, 403)
    assert not offline.access_line(first.headers["apigw-requestid"])["cached"]
    assert offline.access_line(second.headers["apigw-requestid"])["cached"]


def test_bad_body_is_the_greeters_400(offline: StackProcess, id_token: str) -> None:
    response = offline.request(
        "POST",
        "/hello",
        data=b'{"firstName": "Brian"',
        headers={**bearer(id_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "message" in response.json()
    missing = offline.request(
        "POST", "/hello", json={"firstName": "Brian"}, headers=bearer(id_token)
    )
    assert missing.status_code == 400


def test_unknown_route_and_unknown_method_404(offline: StackProcess, id_token: str) -> None:
    for method, path in (("GET", "/nope"), ("DELETE", "/hello"), ("GET", "/hello/extra")):
        response = offline.request(method, path, headers=bearer(id_token))
        assert response.status_code == 404, (method, path)
        assert response.json() == {"message": "Not Found"}


def test_unprotected_route_skips_the_authorizer_and_the_greeter_fails_closed(
    offline: StackProcess,
) -> None:
    before = len(offline.decisions())
    response = offline.request("GET", "/open/hello")
    assert response.status_code == 500
    assert response.json() == {"message": "Internal Server Error"}
    assert offline.access_line(response.headers["apigw-requestid"])["decision"] == "none"
    assert len(offline.decisions()) == before
    assert any(
        "without an authorizer context" in line
        for line in offline.function_lines("GreeterFunction")
    )


def test_result_cache_per_identity_source_value_for_the_ttl(offline: StackProcess) -> None:
    ttl = 2  # AuthorizerCacheTtlSeconds for this stack
    token = offline.token("id")
    other = offline.token("id")
    assert token != other

    invocations = len(offline.decisions())
    first = offline.request("GET", "/hello", headers=bearer(token))
    started = time.monotonic()
    second = offline.request("GET", "/hello", headers=bearer(token))
    assert (first.status_code, second.status_code) == (200, 200)
    assert not offline.access_line(first.headers["apigw-requestid"])["cached"]
    assert offline.access_line(second.headers["apigw-requestid"])["cached"]
    assert len(offline.decisions()) == invocations + 1  # the second did not invoke the authorizer

    different = offline.request("GET", "/hello", headers=bearer(other))
    assert different.status_code == 200
    assert not offline.access_line(different.headers["apigw-requestid"])["cached"]
    assert len(offline.decisions()) == invocations + 2

    time.sleep(max(0.0, ttl + 0.1 - (time.monotonic() - started)))
    after = offline.request("GET", "/hello", headers=bearer(token))
    assert after.status_code == 200
    assert not offline.access_line(after.headers["apigw-requestid"])["cached"]
    assert len(offline.decisions()) == invocations + 3


def test_authorizer_errors_are_500_and_never_cached(offline: StackProcess) -> None:
    for probe in ("raise", "malformed", "raise"):
        response = offline.request("GET", "/probe/guarded/x", headers={"X-Probe": probe})
        assert response.status_code == 500, probe
        assert response.json() == {"message": "Internal Server Error"}
        line = offline.access_line(response.headers["apigw-requestid"])
        assert (line["decision"], line["cached"]) == ("error", None)
    calls = [line for line in offline.function_lines("ProbeAuthorizerFunction") if "raise" in line]
    assert len(calls) >= 2


def test_authorizer_timeout_is_500_and_the_next_call_works(offline: StackProcess) -> None:
    started = time.monotonic()
    response = offline.request("GET", "/probe/guarded/x", headers={"X-Probe": "sleep"})
    assert response.status_code == 500
    assert time.monotonic() - started < 4  # the function's 1 s Timeout, not the 5 s sleep
    assert (
        offline.request("GET", "/probe/guarded/x", headers={"X-Probe": "allow"}).status_code == 200
    )


def test_probe_authorizer_deny_and_zero_ttl_never_caches(offline: StackProcess) -> None:
    for _ in range(2):
        response = offline.request("GET", "/probe/guarded/x", headers={"X-Probe": "deny"})
        assert response.status_code == 403
        assert not offline.access_line(response.headers["apigw-requestid"])["cached"]


def test_integration_failures_are_500(offline: StackProcess) -> None:
    for action in ("raise", "sleep", "malformed"):
        response = offline.request("POST", f"/probe/do/{action}")
        assert response.status_code == 500, action
        assert response.json() == {"message": "Internal Server Error"}


def test_response_passthrough_status_headers_cookies_and_base64_body(offline: StackProcess) -> None:
    response = offline.request("GET", "/probe/do/binary")
    assert response.status_code == 201
    assert response.headers["x-probe"] == "yes"
    assert response.content == b"\x00\x01probe"
    assert response.raw.headers.getlist("Set-Cookie") == ["a=1; Path=/", "b=2"]
    plain = offline.request("GET", "/probe/do/plain")
    assert plain.status_code == 200
    assert plain.json() == {"hello": "world"}


def test_payload_v2_event_for_the_integration(offline: StackProcess) -> None:
    response = offline.request(
        "PUT",
        "/probe/do/env?b=2&a=1&a=3",
        headers={"X-Custom": "Value", "Cookie": "c1=v1; c2=v2"},
        data=b"\xffbinary",
    )
    event = response.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /probe/do/{action}"
    assert event["rawPath"] == "/probe/do/env"
    assert event["rawQueryString"] == "b=2&a=1&a=3"
    assert event["queryStringParameters"] == {"a": "1,3", "b": "2"}
    assert event["pathParameters"] == {"action": "env"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-custom"] == "Value"
    assert all(name == name.lower() for name in event["headers"])
    assert "cookie" not in event["headers"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xffbinary"
    context = event["requestContext"]
    assert context["http"]["method"] == "PUT"
    assert context["http"]["path"] == "/probe/do/env"
    assert context["routeKey"] == event["routeKey"]
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 30
    assert "authorizer" not in context
    assert 0 < response.json()["remainingMs"] <= 1000


def test_payload_v2_event_for_the_authorizer_and_its_context(offline: StackProcess) -> None:
    response = offline.request("GET", "/probe/guarded/brian?x=1", headers={"X-Probe": "allow"})
    assert response.status_code == 200
    event = response.json()["event"]
    assert event["pathParameters"] == {"name": "brian"}
    context = event["requestContext"]["authorizer"]["lambda"]
    assert context["probe"] == "allow"


def test_each_function_sees_only_its_own_environment(offline: StackProcess) -> None:
    function = offline.request("GET", "/probe/env").json()
    env = function["env"]
    assert function["functionName"] == "ProbeFunction"
    assert env["PROBE_FUNCTION_MARKER"] == "function-only"
    assert env["LOG_LEVEL"] == "INFO"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "ProbeFunction"
    assert env["AWS_REGION"] == "us-east-1"
    for leaked in (*PARENT_CANARIES, "PROBE_AUTHORIZER_MARKER", "JWKS_URL", "USER_POOL_ID"):
        assert leaked not in env, leaked

    guarded = offline.request("GET", "/probe/guarded/x", headers={"X-Probe": "env"}).json()
    authorizer_env = set(
        guarded["event"]["requestContext"]["authorizer"]["lambda"]["envKeys"].split()
    )
    assert {"PROBE_AUTHORIZER_MARKER", "STACK_REGION", "JWKS_URL"} <= authorizer_env
    assert not authorizer_env & {"PROBE_FUNCTION_MARKER", *PARENT_CANARIES}


def test_jwks_url_points_the_authorizer_at_the_local_cognito(offline: StackProcess) -> None:
    loaded = [
        line for line in offline.function_lines("AuthorizerFunction") if "jwks loaded" in line
    ]
    assert loaded
    assert (
        f"{offline.cognito['endpoint']}/{offline.cognito['user_pool_id']}/.well-known" in loaded[0]
    )


def test_servers_bind_loopback_only(offline: StackProcess) -> None:
    """Every socket the stack and its function workers listen on is bound to loopback."""
    api_port = urlsplit(offline.url).port
    cognito_port = urlsplit(offline.cognito["endpoint"]).port
    bound = listening(offline.process.pid)
    assert {port for _, port in bound} >= {api_port, cognito_port}
    assert all(ipaddress.ip_address(address).is_loopback for address, _ in bound), bound


def test_no_token_is_ever_logged(offline: StackProcess, id_token: str) -> None:
    access = offline.token("access")
    forged = f"{access[:-4]}AAAA"
    sent = [
        offline.request("GET", "/hello", headers=bearer(id_token)),
        offline.request("POST", "/hello", json=HELLO, headers=bearer(access)),
        offline.request("GET", "/hello", headers=bearer(forged)),
    ]
    assert [response.status_code for response in sent] == [200, 200, 403]
    for response in sent:  # every line of these requests has been read before we look
        offline.access_line(response.headers["apigw-requestid"])
    output = "\n".join(offline.output())
    assert_clean(output, [id_token, access, forged])
    for token in (id_token, access):
        assert token.split(".")[2] not in output
        assert token.split(".")[1] not in output


def test_a_token_in_the_query_string_never_reaches_the_console(
    offline: StackProcess, id_token: str
) -> None:
    # QueryAuthorizer reads $request.querystring.access_token: the token is in the URL.
    response = offline.request("GET", "/query/hello", params={"access_token": id_token, "x": "1"})
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Hello brian"
    line = offline.access_line(response.headers["apigw-requestid"])
    assert (line["path"], line["decision"]) == ("/query/hello", "allow")
    assert offline.decision_of(response.headers["apigw-requestid"])["decision"] == "allow"
    output = "\n".join(offline.output())
    assert "access_token=" not in output
    assert_clean(output, [id_token])

    missing = offline.request("GET", "/query/hello", params={"token": id_token})
    assert missing.status_code == 401
    line = offline.access_line(missing.headers["apigw-requestid"])
    assert (line["path"], line["decision"]) == ("/query/hello", "unauthorized")
    assert_clean("\n".join(offline.output()), [id_token])
