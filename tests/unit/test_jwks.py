"""The JWKS cache and fetch: faults, staleness, rotation and floods (README.md, "JWKS cache")."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable

import pytest
import requests
import responses

from authorizer.exceptions import JwksError, JwksFetchError, JwksParseError
from authorizer.verification.jwks import MAX_JWKS_BYTES, USER_AGENT, fetch_jwks, parse_jwks
from tests.forge import JWKS_URL, authorizer_event, claims, forged_key, jwks_body, sign
from tests.helpers import WiredAuthorizer, log_records, make_config

Factory = Callable[..., WiredAuthorizer]


def serve(mock: responses.RequestsMock, **kwargs: object) -> None:
    mock.replace(responses.GET, JWKS_URL, **kwargs)  # type: ignore[arg-type]


def serve_keys(mock: responses.RequestsMock, *kids: str) -> None:
    serve(mock, body=jwks_body(*(forged_key(k) for k in kids)), content_type="application/json")


def allowed(wired: WiredAuthorizer, kid: str = "key-1") -> bool:
    token = sign(claims(now=wired.clock.now), forged_key(kid))
    return wired.handle(authorizer_event(token))["isAuthorized"] is True


# --- fetch -------------------------------------------------------------------


def test_fetch_sends_user_agent(jwks_endpoint: responses.RequestsMock) -> None:
    body = fetch_jwks(JWKS_URL)
    assert json.loads(body)["keys"][0]["kid"] == "key-1"
    sent = jwks_endpoint.calls[0].request
    assert sent.headers["User-Agent"] == USER_AGENT  # the literal: tests/unit/test_promises.py


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": 500, "body": "oops", "content_type": "application/json"}, "HTTP 500"),
        ({"status": 404, "body": "{}", "content_type": "application/json"}, "HTTP 404"),
        (
            {"status": 302, "headers": {"Location": "https://attacker.example/jwks.json"}},
            "HTTP 302",
        ),
        ({"body": "<html>login</html>", "content_type": "text/html"}, "content type"),
        ({"body": b"x" * (MAX_JWKS_BYTES + 1), "content_type": "application/json"}, "over"),
        ({"body": requests.exceptions.ConnectTimeout()}, "ConnectTimeout"),
        ({"body": requests.exceptions.ReadTimeout()}, "ReadTimeout"),
        ({"body": requests.exceptions.ConnectionError()}, "ConnectionError"),
    ],
)
def test_fetch_faults(
    jwks_endpoint: responses.RequestsMock, kwargs: dict[str, object], message: str
) -> None:
    serve(jwks_endpoint, **kwargs)
    with pytest.raises(JwksFetchError, match=message):
        fetch_jwks(JWKS_URL)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_not_followed(jwks_endpoint: responses.RequestsMock, status: int) -> None:
    """A redirect to a good key set is still a failed fetch: the target is never asked."""
    target = "https://attacker.example/jwks.json"
    serve(jwks_endpoint, status=status, headers={"Location": target})
    jwks_endpoint.get(target, body=jwks_body(forged_key()), content_type="application/json")
    with pytest.raises(JwksFetchError, match=f"HTTP {status}"):
        fetch_jwks(JWKS_URL)
    assert [c.request.url for c in jwks_endpoint.calls] == [JWKS_URL]


# --- parse -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"keys": {}}', b'{"keys": []}', b'{"nokeys": 1}', b"[" * 100_000],
)
def test_unusable_key_sets(body: bytes) -> None:
    with pytest.raises(JwksParseError):
        parse_jwks(body)


def test_unusable_keys_are_skipped() -> None:
    good = forged_key()
    small = forged_key("small", 1024)
    body = jwks_body(
        good,
        small,
        forged_key("enc").jwk(use="enc"),
        forged_key("rs512").jwk(alg="RS512"),
        {"kid": "ec", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        {"kty": "RSA", "n": "AQAB", "e": "AQAB"},
        forged_key("noalg").jwk(alg=None, use=None),
        "not an object",  # type: ignore[arg-type]
    )
    assert sorted(parse_jwks(body)) == ["key-1", "noalg"]


def test_duplicate_kid_with_different_keys_is_dropped() -> None:
    body = jwks_body(forged_key(), forged_key("other").jwk(kid="key-1"), forged_key("key-2"))
    assert sorted(parse_jwks(body)) == ["key-2"]


def test_an_unusable_entry_sharing_a_kid_is_skipped_not_a_conflict() -> None:
    unusable = [
        {"kid": "key-1", "kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"},
        forged_key("enc").jwk(kid="key-1", use="enc"),
        forged_key("small", 1024).jwk(kid="key-1"),
    ]
    body = jwks_body(*unusable, forged_key())
    keys = parse_jwks(body)
    assert sorted(keys) == ["key-1"]
    expected = forged_key().private_key.public_key().public_numbers()
    assert keys["key-1"].key.public_numbers() == expected


def test_duplicate_kid_with_the_same_key_is_kept() -> None:
    assert sorted(parse_jwks(jwks_body(forged_key(), forged_key()))) == ["key-1"]


# --- cache behaviour through the handler ---------------------------------------


def test_fetched_once_for_many_requests(wired: WiredAuthorizer) -> None:
    for _ in range(5):
        assert allowed(wired)
    assert len(wired.fetches) == 1


def test_refetched_after_cache_seconds(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    assert allowed(wired)
    wired.clock.advance(3599)
    assert allowed(wired)
    assert len(wired.fetches) == 1
    wired.clock.advance(2)
    assert allowed(wired)
    assert len(wired.fetches) == 2


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "body": "{}", "content_type": "application/json"},
        {"body": "not json", "content_type": "application/json"},
        {"body": b"{" * (MAX_JWKS_BYTES + 10), "content_type": "application/json"},
        {"status": 302, "headers": {"Location": "https://elsewhere.example/"}},
        {"body": requests.exceptions.ReadTimeout()},
    ],
)
def test_no_keys_and_fault_raises(
    make_wired: Factory, jwks_endpoint: responses.RequestsMock, fault: dict[str, object]
) -> None:
    serve(jwks_endpoint, **fault)
    wired = make_wired()
    token = sign(claims())
    with pytest.raises(JwksError):
        wired.handle(authorizer_event(token))


def test_stale_keys_serve_when_refresh_fails(
    wired: WiredAuthorizer,
    jwks_endpoint: responses.RequestsMock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert allowed(wired)
    serve(jwks_endpoint, status=503, body="{}", content_type="application/json")
    wired.clock.advance(3601)
    capsys.readouterr()
    assert allowed(wired)
    logs = log_records(capsys.readouterr().out)
    warnings = [line for line in logs if line["level"] == "WARNING"]
    assert warnings
    assert warnings[0]["message"] == "jwks refresh failed"
    assert warnings[0]["servingStale"] is True
    assert len(wired.fetches) == 2


def test_failed_fetch_is_retried_after_cooldown_and_recovers(
    make_wired: Factory, jwks_endpoint: responses.RequestsMock
) -> None:
    serve(jwks_endpoint, status=500, body="{}", content_type="application/json")
    wired = make_wired()
    token = sign(claims())
    with pytest.raises(JwksError):
        wired.handle(authorizer_event(token))
    serve_keys(jwks_endpoint, "key-1")
    wired.clock.advance(5)  # inside the cooldown: no new fetch, still undecided
    with pytest.raises(JwksError):
        wired.handle(authorizer_event(token))
    assert len(wired.fetches) == 1
    wired.clock.advance(5)  # the cooldown (10 s) has passed: the outage ends for us too
    assert wired.handle(authorizer_event(token))["isAuthorized"] is True
    assert len(wired.fetches) == 2


def test_outage_never_turns_into_a_deny(
    make_wired: Factory, jwks_endpoint: responses.RequestsMock
) -> None:
    serve(jwks_endpoint, body=requests.exceptions.ConnectionError())
    wired = make_wired()
    for _ in range(3):
        with pytest.raises(JwksError):
            wired.handle(authorizer_event(sign(claims(), forged_key("new-key"))))
        wired.clock.advance(11)


def test_rotation_new_kid_is_picked_up(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    assert allowed(wired)
    serve_keys(jwks_endpoint, "key-1", "key-2")
    wired.clock.advance(11)  # past the cooldown of the first fetch
    assert allowed(wired, "key-2")
    assert len(wired.fetches) == 2
    assert allowed(wired, "key-1")


def test_new_kid_inside_the_cooldown_is_denied_then_picked_up(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    assert allowed(wired)
    serve_keys(jwks_endpoint, "key-1", "key-2")
    wired.clock.advance(3)
    assert not allowed(wired, "key-2")
    assert len(wired.fetches) == 1
    wired.clock.advance(10)
    assert allowed(wired, "key-2")


def test_removed_key_stops_working_after_refresh(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    assert allowed(wired)
    serve_keys(jwks_endpoint, "key-2")
    wired.clock.advance(3601)
    assert not allowed(wired)


def test_flood_of_unknown_kids_is_bounded(wired: WiredAuthorizer) -> None:
    assert allowed(wired)
    for i in range(200):
        token = sign(claims(now=wired.clock.now), forged_key("key-1"), kid=f"made-up-{i}")
        assert wired.handle(authorizer_event(token)) == {"isAuthorized": False}
        wired.clock.advance(0.5)  # 100 s in all: at most one refetch per 10 s cooldown
    assert len(wired.fetches) <= 1 + 100 // 10


def test_miss_cooldown_setting(make_wired: Factory, jwks_endpoint: responses.RequestsMock) -> None:
    wired = make_wired(make_config(JWKS_MISS_COOLDOWN_SECONDS="60"))
    assert allowed(wired)
    serve_keys(jwks_endpoint, "key-1", "key-2")
    wired.clock.advance(30)
    assert not allowed(wired, "key-2")
    wired.clock.advance(31)
    assert allowed(wired, "key-2")


def test_garbage_tokens_never_fetch(
    make_wired: Factory, jwks_endpoint: responses.RequestsMock
) -> None:
    wired = make_wired()
    for token in ["garbage", "a.b.c", sign(claims()) + "x"]:
        wired.handle(authorizer_event(token))
    assert wired.fetches == []


def test_warm_fetches_before_the_first_request(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    wired.jwks.warm()
    assert len(wired.fetches) == 1
    assert allowed(wired)
    assert len(wired.fetches) == 1


def test_failed_warm_is_retried_after_the_cooldown(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    serve(jwks_endpoint, body=requests.exceptions.ConnectionError())
    wired.jwks.warm()
    serve_keys(jwks_endpoint, "key-1")
    with pytest.raises(JwksError):  # at once: no second wait inside the first request
        allowed(wired)
    assert len(wired.fetches) == 1
    wired.clock.advance(10)
    assert allowed(wired)
    assert len(wired.fetches) == 2


def test_unknown_kid_while_serving_stale_keys_raises(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    """A deny here would be cached by API Gateway for a user whose new key we cannot fetch."""
    assert allowed(wired)
    serve(jwks_endpoint, status=503, body="{}", content_type="application/json")
    wired.clock.advance(3601)
    assert allowed(wired)  # stale keys serve the known kid
    with pytest.raises(JwksError):
        allowed(wired, "key-2")


def test_compressed_body_is_refused(jwks_endpoint: responses.RequestsMock) -> None:
    serve(
        jwks_endpoint,
        body=gzip.compress(jwks_body(forged_key())),
        content_type="application/json",
        headers={"Content-Encoding": "gzip"},
    )
    with pytest.raises(JwksFetchError, match="compressed"):
        fetch_jwks(JWKS_URL)
    assert jwks_endpoint.calls[0].request.headers["Accept-Encoding"] == "identity"
