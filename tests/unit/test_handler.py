"""The handler's contract: simple responses, the decision log, and the verified-token cache."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import pytest
import responses
from jwt.algorithms import RSAAlgorithm

import authorizer.verification.verify as verify
from shared.exceptions import ConfigurationError
from tests.forge import (
    JWKS_URL,
    authorizer_event,
    claims,
    forged_key,
    jwks_body,
    sign,
)
from tests.helpers import BASE_ENV, WiredAuthorizer, log_records, make_config


def decisions(out: str) -> list[dict[str, Any]]:
    lines = log_records(out)
    return [line for line in lines if line["message"] == "authorization decision"]


def test_allow_log_line(wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    wired.handle(authorizer_event(sign(claims("access"))))
    [line] = decisions(capsys.readouterr().out)
    assert line["level"] == "INFO"
    assert line["decision"] == "allow"
    assert line["reason"] == "ok"
    assert line["sub"] == "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
    assert line["kid"] == "key-1"
    assert line["routeKey"] == "POST /hello"
    assert line["tokenUse"] == "access"
    assert line["verifiedTokenCache"] is False
    assert isinstance(line["latencyMs"], float)


def test_deny_log_names_the_sub_only_once_the_signature_verified(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    now = wired.clock.now
    capsys.readouterr()
    # Signed by the pool, but expired: the signature vouches for the sub.
    wired.handle(authorizer_event(sign(claims(iat=now - 7200, exp=now - 3600))))
    # Well formed in every segment, claiming the pool's kid, signed by someone else:
    # it reaches the RSA check and fails there, so its sub is just a claim.
    impostor = sign(claims(sub="victim"), forged_key("impostor"), kid="key-1")
    wired.handle(authorizer_event(impostor))
    expired, forged = decisions(capsys.readouterr().out)
    assert (expired["reason"], expired["sub"]) == (
        "expired",
        "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
    )
    assert (forged["reason"], forged["kid"]) == ("bad_signature", "key-1")
    assert "sub" not in forged  # Lambda's JSON format leaves out a member whose value is None


def test_jwks_failure_logs_an_error_and_raises(
    make_wired: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, status=500, body="{}", content_type="application/json")
        wired = make_wired()
        capsys.readouterr()
        with pytest.raises(Exception, match="HTTP 500"):
            wired.handle(authorizer_event(sign(claims())))
    [line] = decisions(capsys.readouterr().out)
    assert (line["level"], line["decision"], line["reason"]) == (
        "ERROR",
        "error",
        "jwks_fetch_failed",
    )


@pytest.mark.parametrize("event", [None, "Bearer x", 42, ["Bearer x"]])
def test_non_object_event_is_denied(wired: WiredAuthorizer, event: Any) -> None:
    assert wired.handle(event) == {"isAuthorized": False}


def test_log_level_warning_silences_decisions(
    make_wired: Any, jwks_endpoint: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wired = make_wired(make_config(LOG_LEVEL="WARNING"))
    capsys.readouterr()
    wired.handle(authorizer_event(sign(claims())))
    assert decisions(capsys.readouterr().out) == []


# --- verified-token cache ----------------------------------------------------


def test_repeated_token_skips_the_signature_check(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = sign(claims())
    first = wired.handle(authorizer_event(token))

    def no_rsa(*_: Any) -> bool:
        raise AssertionError("the RSA check ran for a remembered token")

    monkeypatch.setattr(RSAAlgorithm, "verify", no_rsa)
    capsys.readouterr()
    assert wired.handle(authorizer_event(token)) == first
    [line] = decisions(capsys.readouterr().out)
    assert line["verifiedTokenCache"] is True


def test_remembered_token_expires_at_exp(wired: WiredAuthorizer) -> None:
    now = wired.clock.now
    token = sign(claims(iat=now, exp=now + 60))
    assert wired.handle(authorizer_event(token))["isAuthorized"] is True
    wired.clock.advance(61)  # past exp, inside the leeway: re-verified, still allowed
    assert wired.handle(authorizer_event(token))["isAuthorized"] is True
    wired.clock.advance(30)  # past exp + leeway
    assert wired.handle(authorizer_event(token)) == {"isAuthorized": False}


def test_remembered_token_is_forgotten_when_its_key_goes(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    token = sign(claims(exp=wired.clock.now + 7200))
    assert wired.handle(authorizer_event(token))["isAuthorized"] is True
    jwks_endpoint.replace(
        responses.GET,
        JWKS_URL,
        body=jwks_body(forged_key("key-2")),
        content_type="application/json",
    )
    wired.clock.advance(3601)  # the set is refreshed and key-1 is gone
    assert wired.handle(authorizer_event(token)) == {"isAuthorized": False}


def test_remembered_token_is_forgotten_when_its_kid_gets_new_material(
    wired: WiredAuthorizer, jwks_endpoint: responses.RequestsMock
) -> None:
    token = sign(claims(exp=wired.clock.now + 7200))
    assert wired.handle(authorizer_event(token))["isAuthorized"] is True
    replacement = forged_key("replacement").jwk(kid="key-1")
    jwks_endpoint.replace(
        responses.GET,
        JWKS_URL,
        body=json.dumps({"keys": [replacement]}),
        content_type="application/json",
    )
    wired.clock.advance(3601)
    assert wired.handle(authorizer_event(token)) == {"isAuthorized": False}


def test_a_refresh_with_the_same_keys_keeps_remembered_tokens(
    wired: WiredAuthorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    token = sign(claims(exp=wired.clock.now + 7200))
    wired.handle(authorizer_event(token))
    wired.clock.advance(3601)
    capsys.readouterr()
    wired.handle(authorizer_event(token))
    [line] = decisions(capsys.readouterr().out)
    assert line["verifiedTokenCache"] is True
    assert len(wired.fetches) == 2


def test_denied_tokens_are_not_remembered(
    wired: WiredAuthorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[bytes] = []
    real = RSAAlgorithm.verify

    def counting(self: RSAAlgorithm, msg: bytes, key: Any, sig: bytes) -> bool:
        checks.append(msg)
        return real(self, msg, key, sig)

    monkeypatch.setattr(RSAAlgorithm, "verify", counting)
    token = sign(claims(), forged_key("impostor"), kid="key-1")
    for _ in range(2):
        assert wired.handle(authorizer_event(token)) == {"isAuthorized": False}
    assert len(checks) == 2  # checked again, not answered from memory


def test_a_bug_is_logged_and_fails_closed(
    wired: WiredAuthorizer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: Any) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(verify, "check_claims", broken)
    capsys.readouterr()
    with pytest.raises(RuntimeError):
        wired.handle(authorizer_event(sign(claims())))
    [line] = decisions(capsys.readouterr().out)
    assert (line["decision"], line["reason"], line["error"]) == (
        "error",
        "internal",
        "RuntimeError",
    )
    event = authorizer_event(sign(claims()))
    assert (line["routeKey"], line["apiRequestId"]) == (
        event["routeKey"],
        event["requestContext"]["requestId"],
    )


# --- the Lambda entry point ----------------------------------------------------


def test_app_module_wires_config_and_warms_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("authorizer.app", None)
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        app = importlib.import_module("authorizer.app")
        assert len(mock.calls) == 1  # fetched during initialisation
        response = app.lambda_handler(authorizer_event(sign(claims())), None)
        assert len(mock.calls) == 1
    assert response["isAuthorized"] is True
    sys.modules.pop("authorizer.app", None)


def test_app_module_refuses_bad_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_POOL_ID", "nonsense")
    monkeypatch.setenv("APP_CLIENT_IDS", "abc")
    sys.modules.pop("authorizer.app", None)
    with pytest.raises(ConfigurationError, match="USER_POOL_ID"):
        importlib.import_module("authorizer.app")
    sys.modules.pop("authorizer.app", None)
