"""The numbers the docs (README.md, SECURITY.md, docs/) promise, written here as they state them.

Each value is a literal, never the product's own constant: if the code and the
docs drift apart, one of these tests fails. Each test names where the promise
is written.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any, Final

import pytest
import requests
import responses

from authorizer.exceptions import JwksError, JwksFetchError, JwksParseError
from authorizer.verification.jwks import fetch_jwks, parse_jwks
from greeter.app import lambda_handler as greeter
from shared.exceptions import ConfigurationError
from tests.docs.pages import documented
from tests.forge import (
    JWKS_URL,
    authorizer_event,
    b64url,
    b64url_json,
    claims,
    forged_key,
    jwks_body,
    load_event,
    sign,
)
from tests.helpers import (
    BASE_ENV,
    FakeClock,
    WiredAuthorizer,
    log_records,
    make_config,
    wire_authorizer,
)

KEY: Final = forged_key()


def decisions(out: str) -> list[dict[str, Any]]:
    return [line for line in log_records(out) if line["message"] == "authorization decision"]


# --- token size: "at most 16 KiB" (SECURITY.md, size and shape) --------------------


def token_of_length(length: int) -> str:
    """A validly signed token of exactly ``length`` characters (padded in one claim)."""
    header = b64url_json({"alg": "RS256", "kid": KEY.kid})
    signature_chars = len(b64url(KEY.sign_bytes(b"x")))
    for extra_header in range(3):  # base64url cannot make every length: vary the header too
        head = (
            header
            if not extra_header
            else b64url_json({"alg": "RS256", "kid": KEY.kid, "typ": "J" * extra_header})
        )
        base = b64url_json(claims(pad=""))
        for pad in range(
            max(0, (length - len(head) - signature_chars - len(base)) * 3 // 4 - 8), length
        ):
            payload = b64url_json(claims(pad="p" * pad))
            total = len(head) + 1 + len(payload) + 1 + signature_chars
            if total == length:
                signing_input = f"{head}.{payload}"
                token = f"{signing_input}.{b64url(KEY.sign_bytes(signing_input.encode()))}"
                assert len(token) == length
                return token
            if total > length:
                break
    raise AssertionError(f"no token of {length} characters")


def test_a_token_of_16_kib_is_verified_and_one_character_more_is_malformed(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    documented("at most 16 KiB")
    assert wired.handle(authorizer_event(token_of_length(16 * 1024)))["isAuthorized"] is True
    capsys.readouterr()
    assert wired.handle(authorizer_event(token_of_length(16 * 1024 + 1))) == {"isAuthorized": False}
    [line] = decisions(capsys.readouterr().out)
    assert line["reason"] == "malformed_token"


# --- key sizes: "RSA, 2048 to 8192 bits" ---------------------------------------------


def modulus_jwk(kid: str, bits: int) -> dict[str, Any]:
    """A public key with a hand-made odd modulus of exactly ``bits`` bits (no key generation)."""
    n = (1 << (bits - 1)) | 1 | (0x5555 << 8)
    assert n.bit_length() == bits
    return {
        "kid": kid,
        "kty": "RSA",
        "n": b64url(n.to_bytes((bits + 7) // 8, "big")),
        "e": b64url((65537).to_bytes(3, "big")),
    }


def test_keys_from_2048_to_8192_bits_are_used_and_none_outside() -> None:
    documented("2048 to 8192 bits")
    document = {
        "keys": [
            modulus_jwk("bits-2047", 2047),
            modulus_jwk("bits-2048", 2048),
            modulus_jwk("bits-8192", 8192),
            modulus_jwk("bits-8193", 8193),
        ]
    }
    assert set(parse_jwks(json.dumps(document).encode())) == {"bits-2048", "bits-8192"}
    with pytest.raises(JwksParseError):
        parse_jwks(json.dumps({"keys": [modulus_jwk("bits-8193", 8193)]}).encode())


# --- fetch bounds: "2 s connect and 3 s read timeouts, a 4 s wall-clock budget" --------


@pytest.fixture
def hanging_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """requests.get records its arguments, then waits (for the test's end) before answering."""
    calls: list[dict[str, Any]] = []
    released = threading.Event()

    def hang(url: str, **kwargs: Any) -> Any:
        calls.append({"url": url, **kwargs})
        released.wait(30)
        raise requests.exceptions.ConnectionError("released")

    monkeypatch.setattr(requests, "get", hang)
    yield calls
    released.set()


@pytest.fixture
def refusing_endpoint(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """requests.get records its arguments and fails at once."""
    calls: list[dict[str, Any]] = []

    def refuse(url: str, **kwargs: Any) -> Any:
        calls.append({"url": url, **kwargs})
        raise requests.exceptions.ConnectionError("refused")

    monkeypatch.setattr(requests, "get", refuse)
    return calls


def test_fetch_timeouts_are_2_s_to_connect_and_3_s_per_read(
    refusing_endpoint: list[dict[str, Any]],
) -> None:
    documented("2 s connect and 3 s read timeout")
    with pytest.raises(JwksFetchError):
        fetch_jwks(JWKS_URL)
    [call] = refusing_endpoint
    assert call["timeout"] == (2, 3)  # requests' (connect, read)
    assert call["allow_redirects"] is False


def test_a_fetch_that_never_answers_is_given_up_after_4_s(
    hanging_endpoint: list[dict[str, Any]],
) -> None:
    """The wall-clock budget itself, measured: 4 s, not more.

    Thread.join never returns early, so the lower bound is exact; the upper
    bound leaves a busy machine a second of scheduling delay and still fails
    a budget of 5.5 s.
    """
    documented("4 s wall-clock budget")
    started = time.monotonic()
    with pytest.raises(JwksFetchError) as raised:
        fetch_jwks(JWKS_URL)
    elapsed = time.monotonic() - started
    assert 4.0 <= elapsed < 5.0, f"gave up after {elapsed:.2f} s"
    assert str(raised.value) == f"fetching {JWKS_URL} took over 4.0 s"


# --- the User-Agent: "the User-Agent cognito-lambda-authorizer/0.1 (+jwks-fetch)" ------


def test_fetch_sends_the_documented_user_agent(jwks_endpoint: responses.RequestsMock) -> None:
    documented("`cognito-lambda-authorizer/0.1 (+jwks-fetch)`")
    fetch_jwks(JWKS_URL)
    sent = jwks_endpoint.calls[0].request
    assert sent.headers["User-Agent"] == "cognito-lambda-authorizer/0.1 (+jwks-fetch)"
    assert sent.headers["Accept-Encoding"] == "identity"


# --- no response body in fetch errors (SECURITY.md, logging guarantees) ---------------

BODY_MARKER: Final = "RESPONSE-BODY-MARKER-0f9e8d7c"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "content_type": "application/json"},
        {"status": 403, "content_type": "text/html"},
        {"status": 200, "content_type": "text/html"},
        {"status": 200, "content_type": "application/json"},  # not JSON
    ],
    ids=["http-500", "http-403", "html", "not-json"],
)
def test_fetch_errors_and_warnings_never_hold_the_response_body(
    make_wired: Any, capsys: pytest.CaptureFixture[str], answer: dict[str, Any]
) -> None:
    documented("never response bodies")
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=f"<html>{BODY_MARKER}</html>", **answer)
        wired = make_wired()
        with pytest.raises(JwksError) as raised:
            wired.handle(authorizer_event(sign(claims(now=wired.clock.now))))
    assert BODY_MARKER not in str(raised.value)
    logged = capsys.readouterr().out
    assert "jwks refresh failed" in logged
    assert BODY_MARKER not in logged


# --- the logged kid: "The kid is logged truncated to 64 characters" -------------------


def test_the_logged_kid_is_cut_to_64_characters(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    documented("truncated to 64 characters")
    kid = "".join(f"{i:03d}" for i in range(100))  # 300 characters, each prefix distinct
    capsys.readouterr()
    wired.handle(authorizer_event(sign(claims(now=wired.clock.now), kid=kid)))
    [line] = decisions(capsys.readouterr().out)
    assert line["reason"] == "unknown_kid"
    assert line["kid"] == kid[:64]
    assert len(line["kid"]) == 64


# --- the verified-token cache: "Up to 2,048 tokens that verified are remembered" -------


def test_2048_verified_tokens_are_remembered_and_the_oldest_is_evicted(
    wired: WiredAuthorizer,
) -> None:
    documented("Up to 2,048 tokens")
    now = wired.clock.now
    tokens = [sign(claims(now=now, jti=f"jti-{i}")) for i in range(2048 + 1)]
    assert all(wired.verifier.verify(token)[1] is False for token in tokens)
    # The newest 2,048 are all answered from memory; the first one was pushed out.
    assert all(wired.verifier.verify(token)[1] is True for token in tokens[1:])
    assert wired.verifier.verify(tokens[0])[1] is False


# --- JWKS_CACHE_SECONDS: 1 to 604800; LEEWAY_SECONDS 0 to 300 (docs/configuration.md) ------


@pytest.mark.parametrize(
    ("name", "lowest", "highest"),
    [("JWKS_CACHE_SECONDS", 1, 604800), ("LEEWAY_SECONDS", 0, 300)],
)
def test_documented_ranges_of_the_seconds_settings(name: str, lowest: int, highest: int) -> None:
    documented(f"| {lowest} to {highest} |", where="docs/configuration.md")
    assert getattr(make_config(**{name: str(lowest)}), name.lower()) == lowest
    assert getattr(make_config(**{name: str(highest)}), name.lower()) == highest
    for outside in (lowest - 1, highest + 1):
        with pytest.raises(ConfigurationError, match=name):
            make_config(**{name: str(outside)})


# --- the greeter: names up to 100 characters, GET greets the username or the sub ---------


def greeter_event(method: str, body: Any = None, **context: str) -> dict[str, Any]:
    event = load_event("greeter_post.json")
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["authorizer"]["lambda"].update(context)
    event["body"] = None if body is None else json.dumps(body)
    event["isBase64Encoded"] = False
    return event


def test_the_greeter_takes_names_of_100_characters() -> None:
    documented("each name 1 to 100 characters", "a body of at most 4096 bytes")
    name = "N" * 100
    response = greeter(greeter_event("POST", {"firstName": name, "lastName": name}), None)
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["message"] == f"Hello {name} {name}"
    too_long = greeter(greeter_event("POST", {"firstName": name + "N", "lastName": "M"}), None)
    assert too_long["statusCode"] == 400


def test_get_greets_the_username_or_else_the_sub() -> None:
    documented("the `sub` for a\ntoken without a username")
    named = greeter(greeter_event("GET", username="brian", sub="sub-1"), None)
    assert json.loads(named["body"])["message"] == "Hello brian"
    machine = greeter(greeter_event("GET", username="", sub="sub-1"), None)  # client credentials
    assert json.loads(machine["body"])["message"] == "Hello sub-1"


def test_settings_left_out_take_the_documented_defaults() -> None:
    """With no overrides, keys are trusted for 3600 s and 30 s of clock skew is allowed."""
    documented("| `3600` | 1 to 604800 |", "| `30` | 0 to 300 |", where="docs/configuration.md")
    config = make_config()
    assert (config.jwks_cache_seconds, config.leeway_seconds) == (3600, 30)
    assert "JWKS_CACHE_SECONDS" not in BASE_ENV
    wired = wire_authorizer(config, FakeClock(), lambda _url: jwks_body(KEY))
    now = wired.clock.now
    token = sign(claims(now=now, iat=int(now) - 3600, exp=int(now) - 29))
    assert wired.handle(authorizer_event(token))["isAuthorized"] is True


# --- who is logged: "`sub` on every decision made after the signature verified" (SECURITY.md) --


def test_sub_is_logged_on_every_decision_after_the_signature_and_on_none_before(
    make_wired: Any, jwks_endpoint: responses.RequestsMock, capsys: pytest.CaptureFixture[str]
) -> None:
    documented(
        "and `sub` on every decision made after the signature verified: every allow, "
        "and a deny such as `missing_group` or `revoked`",
        where="SECURITY.md",
    )
    rules = {"GET /admin": {"groups": ["auditors"]}}
    wired = make_wired(make_config(ROUTE_RULES=json.dumps(rules)))
    payload = claims(now=wired.clock.now)
    signed = sign(payload)
    head, body, signature = signed.split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    seen = {}
    for name, token, route in (
        ("allow", signed, "GET /hello"),
        ("route deny", signed, "GET /admin"),
        ("bad signature", forged, "GET /hello"),
    ):
        capsys.readouterr()
        event = authorizer_event(token)
        event["routeKey"] = event["requestContext"]["routeKey"] = route
        wired.handle(event)
        [line] = decisions(capsys.readouterr().out)
        seen[name] = (line["reason"], line.get("sub"))
    assert seen == {
        "allow": ("ok", payload["sub"]),
        "route deny": ("missing_group", payload["sub"]),
        "bad signature": ("bad_signature", None),
    }
