"""Everything logged over a run of valid and hostile tokens holds no token, signature or claims."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import jwt
import pytest
import requests
import responses

from authorizer.exceptions import JwksError
from tests.forge import (
    JWKS_URL,
    authorizer_event,
    b64url_json,
    claims,
    forged_key,
    sign,
    sign_raw,
)
from tests.helpers import WiredAuthorizer, make_config
from tests.leakcheck import assert_clean


@pytest.fixture
def everything_logged() -> Iterator[io.StringIO]:
    """A root handler at DEBUG, so library loggers (urllib3, requests) are caught too."""
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # Our loggers do not propagate; listen to them directly as well.
    product = logging.getLogger("authorizer")
    product.addHandler(handler)
    yield sink
    root.removeHandler(handler)
    product.removeHandler(handler)
    root.setLevel(old_level)


def hostile_tokens(now: float) -> list[str]:
    valid_id = sign(claims("id", now=now))
    header, payload, signature = valid_id.split(".")
    return [
        valid_id,
        sign(claims("access", now=now)),
        sign(claims(now=now - 7200)),  # expired
        sign(claims(aud="intruder", now=now)),
        sign(claims(now=now), forged_key("impostor"), kid="key-1"),
        sign(claims(now=now), forged_key("unknown")),
        f"{header}.{b64url_json(claims(sub='root', now=now))}.{signature}",
        f"{header}.{payload}.{signature[:-4]}",
        sign_raw({"alg": "none", "kid": "key-1"}, claims(now=now), lambda _: b""),
        f"{header}.{payload}",
        "garbage-token-value-that-must-not-appear",
    ]


def test_decisions_never_log_secrets(
    make_wired: object,
    jwks_endpoint: responses.RequestsMock,
    everything_logged: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    wired: WiredAuthorizer = make_wired(make_config(LOG_LEVEL="DEBUG"))  # type: ignore[operator]
    tokens = hostile_tokens(wired.clock.now)
    for token in tokens:
        for scheme in ("Bearer ", ""):
            wired.handle(authorizer_event(token, scheme=scheme))
    assert_clean(capsys.readouterr().out + everything_logged.getvalue(), tokens)


def outage_outcome(token: str) -> str:
    """What a key-set outage leaves of the decision: a token needing a key cannot be decided.

    A token PyJWT cannot parse, or one not signed with RS256, is denied before
    any key lookup. (Whether the truncated signature is canonical base64url
    depends on the random signature, so this is computed, not listed.)
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return "deny"
    return "jwks_fetch_failed" if header.get("alg") == "RS256" else "deny"


def attempt(wired: WiredAuthorizer, token: str) -> tuple[str, str]:
    """``("deny", "")``, or the reason and message of the key-set error the handler raised."""
    try:
        answer = wired.handle(authorizer_event(token))
    except JwksError as err:
        return err.reason, str(err)
    assert answer == {"isAuthorized": False}
    return "deny", ""


def test_outage_logs_never_log_secrets(
    make_wired: object, everything_logged: io.StringIO, capsys: pytest.CaptureFixture[str]
) -> None:
    wired: WiredAuthorizer = make_wired(make_config(LOG_LEVEL="DEBUG"))  # type: ignore[operator]
    tokens = hostile_tokens(wired.clock.now)
    outcomes: list[str] = []
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=requests.exceptions.ConnectionError("refused"))
        for token in tokens:
            reason, message = attempt(wired, token)
            assert token not in message
            outcomes.append(reason)
            wired.clock.advance(11)  # past the cooldown: every key lookup fetches again
        # Every token that needs a key gets the undecided error (API Gateway's 500).
        expected = [outage_outcome(token) for token in tokens]
        assert outcomes == expected
        assert expected.count("deny") >= 3  # alg none, two segments, garbage
        assert len(mock.calls) == expected.count("jwks_fetch_failed")
    assert_clean(capsys.readouterr().out + everything_logged.getvalue(), tokens)
