"""POST /signout (authorizer/signout/handler.py) over fakes of Cognito and DynamoDB."""

from __future__ import annotations

import base64
import importlib
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from authorizer.signout.handler import (
    MAX_BODY_BYTES,
    SignOut,
    SignOutRequest,
    SignOutSettings,
    aws_clients,
    load_settings,
    parse_request,
)
from authorizer.tables.revocation import FAMILY, USER, default_expires_at, parse_item
from shared.exceptions import ConfigurationError
from tests.docs import pages
from tests.docs.pages import collapsed, page
from tests.forge import claims, load_event, sign
from tests.helpers import SIGN_OUT_TIMEOUT_SECONDS, FakeClock, create_change_log_table, log_records
from tests.leakcheck import leaked_piece, log_windows, secrets_of

NOW = 1_800_000_000.25
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
FAMILY_ID = "5d2b8f0e-family-of-this-sign-in"
TABLE = "local-revocations"
REFRESH = "eyJjdHkiOiJKV1QiLCJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiUlNBLU9BRVAifQ.refresh-token.x"
THIRTY_DAYS = 30 * 86400


def client_error(code: str, operation: str = "RevokeToken") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "refused"}}, operation)


@dataclass
class FakeCognito:
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fails_with: Exception | None = None

    def _call(self, name: str, arguments: dict[str, str]) -> dict[str, Any]:
        self.calls.append((name, arguments))
        if self.fails_with is not None:
            raise self.fails_with
        return {}

    def revoke_token(self, **arguments: str) -> dict[str, Any]:
        return self._call("RevokeToken", arguments)

    def global_sign_out(self, **arguments: str) -> dict[str, Any]:
        return self._call("GlobalSignOut", arguments)


@dataclass
class FakeTable:
    items: list[dict[str, Any]] = field(default_factory=list)
    fails_with: Exception | None = None

    def put_item(self, *, TableName: str, Item: dict[str, Any]) -> dict[str, Any]:
        assert TableName == TABLE
        if self.fails_with is not None:
            raise self.fails_with
        self.items.append(Item)
        return {}


@dataclass
class Wired:
    signout: SignOut
    cognito: FakeCognito
    table: FakeTable

    def post(self, body: Any = None, **overrides: Any) -> tuple[int, dict[str, Any]]:
        answer = self.signout.handle(signout_event(body, **overrides))
        assert answer["headers"] == {"content-type": "application/json"}
        return answer["statusCode"], json.loads(answer["body"])


def signout_event(
    body: Any = None,
    *,
    token_use: str = "id",
    origin_jti: str | None = FAMILY_ID,
    token: str | None = None,
    raw_body: str | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """A recorded payload-2.0 route event, moved to POST /signout, as the authorizer passed it."""
    event = load_event("greeter_post.json")
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /signout"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/signout"
    context = event["requestContext"]["authorizer"]["lambda"]
    context["tokenUse"] = token_use
    if origin_jti is None:
        context.pop("originJti", None)
    else:
        context["originJti"] = origin_jti
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    if text is not None and base64_body:
        text = base64.b64encode(text.encode()).decode()
    event["body"] = text
    event["isBase64Encoded"] = base64_body
    return event


SETTINGS = SignOutSettings(TABLE, THIRTY_DAYS, "INFO")


@pytest.fixture
def wired() -> Wired:
    cognito, table = FakeCognito(), FakeTable()
    return Wired(SignOut(SETTINGS, cognito, table, clock=lambda: NOW), cognito, table)


# --- this sign-in ------------------------------------------------------------------------


def test_without_a_body_the_family_is_revoked_for_as_long_as_its_refresh_token_lives(
    wired: Wired,
) -> None:
    status, body = wired.post()
    assert status == 200
    assert body == {
        "message": "Signed out: this sign-in's tokens are revoked",
        "scope": "session",
        "refreshTokenRevoked": False,
    }
    assert wired.cognito.calls == []
    [item] = wired.table.items
    entry = parse_item(item)
    assert (entry.kind, entry.value, entry.revoked_at) == (FAMILY, FAMILY_ID, int(NOW))
    # Cognito still refreshes it: a day past the refresh token's whole validity.
    assert entry.expires_at == default_expires_at(NOW) + THIRTY_DAYS


def test_with_the_refresh_token_cognito_revokes_it_first_and_the_entry_lasts_a_day(
    wired: Wired,
) -> None:
    status, body = wired.post({"refreshToken": REFRESH})
    assert (status, body["scope"], body["refreshTokenRevoked"]) == (200, "session", True)
    assert wired.cognito.calls == [
        ("RevokeToken", {"Token": REFRESH, "ClientId": "testclient123"}),
    ]
    entry = parse_item(wired.table.items[0])
    assert (entry.kind, entry.value) == (FAMILY, FAMILY_ID)
    assert entry.expires_at == default_expires_at(NOW) == int(NOW) + 1 + 86400 + 300


def test_an_empty_or_base64_body_is_read_like_any_other(wired: Wired) -> None:
    assert wired.post(raw_body="")[0] == 200
    assert wired.post(raw_body="  \n")[0] == 200
    assert wired.post({"refreshToken": REFRESH}, base64_body=True)[1]["refreshTokenRevoked"]
    assert wired.cognito.calls == [("RevokeToken", {"Token": REFRESH, "ClientId": "testclient123"})]
    assert len(wired.table.items) == 3


def test_a_token_without_a_family_cannot_sign_out_one_sign_in(wired: Wired) -> None:
    status, body = wired.post(origin_jti=None)
    assert status == 400
    assert "origin_jti" in body["message"]
    assert '{"global": true}' in body["message"]
    assert (wired.cognito.calls, wired.table.items) == ([], [])


# --- everywhere --------------------------------------------------------------------------


def test_global_signs_out_at_cognito_with_the_requests_access_token_then_revokes_the_user(
    wired: Wired,
) -> None:
    access = sign(claims("access"))
    status, body = wired.post({"global": True}, token_use="access", token=access)
    assert status == 200
    assert body == {
        "message": "Signed out everywhere: every token issued so far is revoked",
        "scope": "global",
        "refreshTokenRevoked": True,
    }
    assert wired.cognito.calls == [("GlobalSignOut", {"AccessToken": access})]
    [item] = wired.table.items
    entry = parse_item(item)
    assert (entry.kind, entry.value, entry.revoked_at) == (USER, SUB, int(NOW))
    assert entry.expires_at == default_expires_at(NOW)


def test_global_with_an_id_token_is_a_400_that_says_an_access_token_is_needed(
    wired: Wired,
) -> None:
    status, body = wired.post({"global": True}, token_use="id", token=sign(claims("id")))
    assert status == 400
    assert "needs an access token" in body["message"]
    assert (wired.cognito.calls, wired.table.items) == ([], [])


def test_global_false_is_this_sign_in_only(wired: Wired) -> None:
    status, body = wired.post({"global": False})
    assert (status, body["scope"]) == (200, "session")


def test_global_without_an_authorization_header_is_a_400(wired: Wired) -> None:
    event = signout_event({"global": True}, token_use="access")
    assert "authorization" not in event["headers"]  # the recorded event has none
    answer = wired.signout.handle(event)
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"]) == {"message": "no access token in the Authorization header"}


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{", "request body is not valid UTF-8 JSON"),
        ('"yes"', "request body must be a JSON object"),
        ("[]", "request body must be a JSON object"),
        ('{"global": "true"}', "global must be true or false"),
        ('{"global": 1}', "global must be true or false"),
        ('{"refreshToken": ""}', "refreshToken must be a non-empty string"),
        ('{"refreshToken": 7}', "refreshToken must be a non-empty string"),
        (
            '{"refresh_token": "x"}',
            "unknown field(s) refresh_token; accepted: refreshToken, global",
        ),
        ("[" * 100_000 + "]" * 100_000, f"request body is larger than {MAX_BODY_BYTES} bytes"),
        ('{"refreshToken": "' + "r" * MAX_BODY_BYTES + '"}', "request body is larger than"),
    ],
)
def test_a_body_it_cannot_read_is_a_400_that_says_why(
    wired: Wired, body: str, message: str
) -> None:
    status, answer = wired.post(raw_body=body)
    assert status == 400
    assert answer["message"].startswith(message)
    assert (wired.cognito.calls, wired.table.items) == ([], [])


def test_an_unknown_field_is_named_only_when_it_reads_like_a_field_name(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    pasted = sign(claims("access"))
    capsys.readouterr()
    status, body = wired.post(raw_body=json.dumps({pasted: True, "token": 1}))
    assert status == 400
    assert body["message"] == (
        "unknown field(s) (one not shown), token; accepted: refreshToken, global"
    )
    windows = log_windows(capsys.readouterr().out)
    assert all(leaked_piece(secret, windows) is None for secret in secrets_of(pasted))


def test_a_deeply_nested_body_is_a_400_not_a_crash(wired: Wired) -> None:
    status, _ = wired.post(raw_body="[" * 4000 + "]" * 4000)
    assert status == 400


def test_a_body_marked_base64_that_is_not_is_a_400(wired: Wired) -> None:
    answer = wired.signout.handle({**signout_event(), "body": "@@@", "isBase64Encoded": True})
    assert answer["statusCode"] == 400
    assert json.loads(answer["body"])["message"] == (
        "request body is marked base64 but is not valid base64"
    )


@pytest.mark.parametrize(
    "code",
    ["NotAuthorizedException", "UnauthorizedException", "UnsupportedOperationException"],
)
def test_a_token_cognito_refuses_is_a_400_and_nothing_is_written(wired: Wired, code: str) -> None:
    wired.cognito.fails_with = client_error(code)
    status, body = wired.post({"refreshToken": REFRESH})
    assert status == 400
    assert f"({code}); nothing was revoked" in body["message"]
    assert wired.table.items == []


@pytest.mark.parametrize(
    "failure",
    [
        client_error("InternalErrorException"),
        client_error("TooManyRequestsException"),
        EndpointConnectionError(endpoint_url="https://cognito-idp.us-east-1.amazonaws.com/"),
    ],
)
def test_cognito_out_of_reach_is_a_502_and_nothing_is_written(
    wired: Wired, failure: Exception
) -> None:
    wired.cognito.fails_with = failure
    status, body = wired.post({"global": True}, token_use="access", token=sign(claims("access")))
    assert status == 502
    assert "nothing was revoked, try again" in body["message"]
    assert wired.table.items == []


def test_a_list_that_cannot_be_written_is_a_503_that_says_the_tokens_stay_valid(
    wired: Wired,
) -> None:
    wired.table.fails_with = client_error("ProvisionedThroughputExceededException", "PutItem")
    status, body = wired.post()
    assert status == 503
    assert body["message"].startswith("the revocation list could not be written")


def test_a_request_without_an_authorizer_context_fails_closed(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    event = signout_event()
    del event["requestContext"]["authorizer"]
    capsys.readouterr()
    answer = wired.signout.handle(event)
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"]) == {"message": "Internal Server Error"}
    [line] = log_records(capsys.readouterr().out)
    assert (line["level"], line["reason"]) == ("ERROR", "missing_auth_context")
    assert (wired.cognito.calls, wired.table.items) == ([], [])


def test_an_event_that_is_not_an_object_fails_closed(wired: Wired) -> None:
    assert wired.signout.handle(None)["statusCode"] == 500


# --- logs --------------------------------------------------------------------------------


def test_one_line_per_sign_out_names_the_caller_and_never_a_token(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    access = sign(claims("access"))
    capsys.readouterr()
    wired.post({"refreshToken": REFRESH})
    wired.post({"global": True, "refreshToken": REFRESH}, token_use="access", token=access)
    wired.cognito.fails_with = client_error("NotAuthorizedException", "GlobalSignOut")
    wired.post({"global": True}, token_use="access", token=access)
    out = capsys.readouterr().out
    records = log_records(out)
    assert [(r["message"], r.get("scope"), r.get("reason")) for r in records] == [
        ("signed out", "session", None),
        ("signed out", "global", None),
        ("sign-out refused", None, "cognito_refused"),
    ]
    assert records[2]["errorCode"] == "NotAuthorizedException"
    assert {r["sub"] for r in records} == {SUB}
    assert {r["apiRequestId"] for r in records} == {"TmxYqg8VIAMEVBA="}
    windows = log_windows(out)
    for secret in [*secrets_of(access), REFRESH, FAMILY_ID]:
        assert leaked_piece(secret, windows) is None


# --- settings ----------------------------------------------------------------------------


def test_settings_need_the_table_and_default_to_cognitos_30_day_refresh_tokens() -> None:
    assert load_settings({"REVOCATION_TABLE": " t "}) == SignOutSettings("t", THIRTY_DAYS, "INFO")
    assert load_settings(
        {"REVOCATION_TABLE": "t", "REFRESH_TOKEN_VALIDITY_DAYS": "3650", "LOG_LEVEL": "debug"}
    ) == SignOutSettings("t", 3650 * 86400, "DEBUG")
    with pytest.raises(ConfigurationError, match=r"^REVOCATION_TABLE: is required$"):
        load_settings({})


@pytest.mark.parametrize("days", ["0", "3651", "-1", "1.5", "thirty", "٣"])
def test_a_refresh_token_validity_outside_1_to_3650_days_stops_the_cold_start(days: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^REFRESH_TOKEN_VALIDITY_DAYS: must be"):
        load_settings({"REVOCATION_TABLE": "t", "REFRESH_TOKEN_VALIDITY_DAYS": days})


def test_the_authorizer_never_imports_the_sign_out_function() -> None:
    """Its cold start pays nothing for it: a fresh interpreter imports the authorizer's entry."""
    root = Path(__file__).resolve().parents[2]
    script = (
        "import sys; from authorizer import app; "
        "print(sorted(m for m in sys.modules if m.startswith('authorizer.signout.handler')))"
    )
    env = {
        **os.environ,
        "USER_POOL_ID": "us-east-1_TestPool1",
        "APP_CLIENT_IDS": "testclient123",
        "JWKS_URL": "http://127.0.0.1:9/jwks.json",
    }
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


# --- what docs/revocation.md ("POST /signout") and docs/configuration.md promise ---------------

REVOCATION_PAGE = collapsed(page("docs/revocation.md"))


def documented(*phrases: str) -> None:
    pages.documented(*phrases, where="docs/revocation.md")


def test_a_body_of_at_most_8192_bytes_is_read(wired: Wired) -> None:
    documented("at most 8192 bytes, base64 bodies included")
    padded = '{"refreshToken": "' + "r" * (8192 - 20) + '"}'
    assert len(padded) == 8192
    assert wired.post(raw_body=padded)[0] == 200
    assert wired.post(raw_body=padded, base64_body=True)[0] == 200
    assert wired.post(raw_body=padded + " ")[0] == 400
    assert wired.post(raw_body=padded + " ", base64_body=True)[0] == 400


def test_entries_last_a_day_and_five_minutes_plus_the_refresh_tokens_validity(
    wired: Wired,
) -> None:
    documented("a day and five minutes, plus `RefreshTokenValidityDays`")
    pages.documented(
        "| `RefreshTokenValidityDays` | `30` | 1 to 3650 | `REFRESH_TOKEN_VALIDITY_DAYS` "
        "| the created client's is 30 |",
        where="docs/configuration.md",
    )
    wired.post()
    wired.post({"refreshToken": REFRESH})
    family, revoked = (parse_item(item) for item in wired.table.items)
    whole_second = int(NOW) + 1  # NOW has a fraction: the entry rounds up, never down
    assert revoked.expires_at == whole_second + 86400 + 5 * 60
    assert family.expires_at == whole_second + 86400 + 5 * 60 + 30 * 86400


def test_the_answers_and_log_reasons_are_the_documented_ones(wired: Wired) -> None:
    documented(
        '{"message": "Signed out: this sign-in\'s tokens are revoked", "scope": "session", '
        '"refreshTokenRevoked": false}',
        '| `400 {"message": "<what is wrong>"}` |',
        "`bad_request`",
        "`cognito_refused`",
        "`cognito_unavailable`",
        "`revocation_write_failed`",
        "`signout_failed`",
    )
    assert json.dumps(wired.post()[1]) in REVOCATION_PAGE
    wired.cognito.fails_with = client_error("InternalErrorException")
    assert wired.post({"refreshToken": REFRESH})[0] == 502
    wired.cognito.fails_with = None
    wired.table.fails_with = client_error("InternalServerError", "PutItem")
    assert wired.post()[0] == 503


# --- every answer and log line, exactly ---------------------------------------------------


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return log_records(capsys.readouterr().out)


def test_an_empty_body_is_this_sign_in_without_a_refresh_token() -> None:
    for body in (None, "", " \n"):
        request = parse_request(signout_event(raw_body=body))
        assert request == SignOutRequest(everywhere=False, refresh_token=None)
        assert request.everywhere is False


def test_at_most_three_unknown_fields_are_named(wired: Wired) -> None:
    status, body = wired.post({"a": 1, "b": 2, "c": 3, "d": 4})
    assert (status, body["message"]) == (
        400,
        "unknown field(s) a, b, c; accepted: refreshToken, global",
    )


def test_the_sign_out_log_lines_name_the_logger_route_and_what_was_refused(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    wired.post()
    wired.post(origin_jti=None)
    [signed_out, refused] = records(capsys)
    for record in (signed_out, refused):
        assert (record["logger"], record["routeKey"]) == ("signout", "POST /signout")
    assert (refused["level"], refused["message"], refused["reason"]) == (
        "INFO",
        "sign-out refused",
        "bad_request",
    )
    assert refused["problem"] == (
        "this token names no token family (origin_jti): its app client has token "
        'revocation turned off; sign out everywhere with {"global": true}'
    )
    assert "errorCode" not in refused  # none behind a refusal of our own


def test_the_log_level_setting_silences_the_info_lines(capsys: pytest.CaptureFixture[str]) -> None:
    quiet = SignOut(SETTINGS._replace(log_level="WARNING"), FakeCognito(), FakeTable())
    capsys.readouterr()
    assert quiet.handle(signout_event())["statusCode"] == 200
    assert records(capsys) == []
    event = signout_event()
    del event["requestContext"]["authorizer"]
    assert quiet.handle(event)["statusCode"] == 500
    [error] = records(capsys)  # an unprotected route is an ERROR: never silenced
    assert error["level"] == "ERROR"


def test_an_unprotected_route_is_logged_as_such(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    event = signout_event()
    del event["requestContext"]["authorizer"]
    capsys.readouterr()
    wired.signout.handle(event)
    [line] = records(capsys)
    assert line["message"] == (
        "sign-out reached without an authorizer context: is the route protected?"
    )
    assert (line["routeKey"], line["apiRequestId"]) == ("POST /signout", "TmxYqg8VIAMEVBA=")


def test_global_with_an_id_token_says_exactly_why(wired: Wired) -> None:
    _, body = wired.post({"global": True}, token_use="id", token=sign(claims("id")))
    assert body["message"] == (
        "global sign-out needs an access token in the Authorization header "
        "(Cognito's GlobalSignOut takes no other); this request carries an id token"
    )


@pytest.mark.parametrize(
    ("failure", "code", "message"),
    [
        (
            client_error("InternalErrorException"),
            "InternalErrorException",
            "Cognito could not sign out now; nothing was revoked, try again",
        ),
        (
            ClientError({}, "RevokeToken"),  # an answer without an error code
            "Unknown",
            "Cognito could not sign out now; nothing was revoked, try again",
        ),
        (
            EndpointConnectionError(endpoint_url="https://cognito-idp.us-east-1.amazonaws.com/"),
            "EndpointConnectionError",
            "Cognito could not be reached; nothing was revoked, try again",
        ),
    ],
)
def test_cognito_out_of_reach_is_logged_as_failed_with_its_error_code(
    wired: Wired,
    capsys: pytest.CaptureFixture[str],
    failure: Exception,
    code: str,
    message: str,
) -> None:
    wired.cognito.fails_with = failure
    capsys.readouterr()
    status, body = wired.post({"refreshToken": REFRESH})
    assert (status, body) == (502, {"message": message})
    [line] = records(capsys)
    assert (line["message"], line["reason"], line["errorCode"], line["problem"]) == (
        "sign-out failed",
        "cognito_unavailable",
        code,
        message,
    )


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (
            client_error("ProvisionedThroughputExceededException", "PutItem"),
            "ProvisionedThroughputExceededException",
        ),
        (
            EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/"),
            "EndpointConnectionError",
        ),
    ],
)
def test_a_list_that_cannot_be_written_is_logged_as_failed_with_its_error_code(
    wired: Wired, capsys: pytest.CaptureFixture[str], failure: Exception, code: str
) -> None:
    wired.table.fails_with = failure
    capsys.readouterr()
    status, body = wired.post()
    message = (
        "the revocation list could not be written: the tokens stay valid until they expire; "
        "try again"
    )
    assert (status, body) == (503, {"message": message})
    [line] = records(capsys)
    assert (line["message"], line["reason"], line["errorCode"]) == (
        "sign-out failed",
        "revocation_write_failed",
        code,
    )


def test_a_refresh_validity_of_one_day_is_accepted() -> None:
    settings = load_settings({"REVOCATION_TABLE": "t", "REFRESH_TOKEN_VALIDITY_DAYS": "1"})
    assert settings.refresh_token_validity_seconds == 86400


# --- the Lambda entry point and its AWS clients -------------------------------------------


def test_the_aws_clients_try_each_call_twice_within_the_functions_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    cognito, dynamodb = aws_clients()
    assert cognito.meta.service_model.service_name == "cognito-idp"
    assert dynamodb.meta.service_model.service_name == "dynamodb"
    for client in (cognito, dynamodb):
        config = client.meta.config
        assert client.meta.region_name == "eu-west-1"
        assert (config.connect_timeout, config.read_timeout) == (2, 3)
        # botocore's own reading of the setting: the first try and one retry.
        assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    # Two calls, each at most two tries of a connect and a read, and botocore's
    # backoff before the retry (at most a second): inside the function's timeout.
    worst_case = 2 * (2 * (2 + 3) + 1)
    assert worst_case < SIGN_OUT_TIMEOUT_SECONDS


def test_the_lambda_entry_point_signs_out_into_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "REVOCATION_TABLE": TABLE,
        "REFRESH_TOKEN_VALIDITY_DAYS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "authorizer.signout.app", raising=False)
    with mock_aws():
        import boto3

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_change_log_table(dynamodb, TABLE)
        app = importlib.import_module("authorizer.signout.app")
        answer = app.lambda_handler(signout_event(), None)
        assert answer["statusCode"] == 200
        [item] = dynamodb.scan(TableName=TABLE)["Items"]
    entry = parse_item(item)
    assert (entry.kind, entry.value) == (FAMILY, FAMILY_ID)
    # The day's validity from the environment: a day, five minutes and the day.
    assert entry.expires_at - entry.revoked_at in range(2 * 86400 + 300, 2 * 86400 + 302)


# --- the sign-out's time stamp: after Cognito answered ----------------------------------------


class SlowCognito(FakeCognito):
    """Cognito taking ``seconds`` to answer, on the sign-out function's clock."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    def _call(self, name: str, arguments: dict[str, str]) -> dict[str, Any]:
        self.clock.advance(self.seconds)
        return super()._call(name, arguments)


@pytest.mark.parametrize(
    ("body", "token_use", "kind"),
    [({"global": True}, "access", USER), ({"refreshToken": "r"}, "id", FAMILY)],
    ids=["global", "session"],
)
def test_the_sign_out_time_is_when_cognito_answered(
    body: dict[str, Any], token_use: str, kind: str
) -> None:
    clock = FakeClock(1_800_000_000.5)
    table = FakeTable()
    signout = SignOut(SETTINGS, SlowCognito(clock, 5), table, clock=clock)
    access = sign(claims("access"))
    answer = signout.handle(signout_event(body, token_use=token_use, token=access))
    assert answer["statusCode"] == 200
    [item] = table.items
    entry = parse_item(item)
    assert entry.kind == kind
    assert entry.revoked_at == int(clock.now)  # 5 s after the request began
    if kind == FAMILY:
        assert entry.expires_at == math.ceil(clock.now) + 86400 + 300


# --- which Cognito errors are the caller's, and which are worth a retry -----------------------

REFUSED: Final = (
    "NotAuthorizedException",
    "UnauthorizedException",
    "InvalidParameterException",
    "UnsupportedTokenTypeException",
    "UnsupportedOperationException",
    "ForbiddenException",
    "UserNotFoundException",
    "PasswordResetRequiredException",
    "UserNotConfirmedException",
)
RETRIED: Final = (
    ("TooManyRequestsException", 400),
    ("LimitExceededException", 400),
    ("InternalErrorException", 500),
    ("ServiceUnavailable", 503),
)


def cognito_error(code: str, status: int) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": "as Cognito says it"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "GlobalSignOut")


def sign_out_answer(failure: Exception) -> int:
    table = FakeTable()
    cognito = FakeCognito(fails_with=failure)
    signout = SignOut(SETTINGS, cognito, table, clock=lambda: 1_800_000_000.0)
    event = signout_event({"global": True}, token_use="access", token=sign(claims("access")))
    status: int = signout.handle(event)["statusCode"]
    assert table.items == []  # nothing revoked, whatever the answer
    return status


@pytest.mark.parametrize("code", REFUSED)
def test_a_token_or_user_cognito_refuses_is_a_400(code: str) -> None:
    assert sign_out_answer(cognito_error(code, 400)) == 400


@pytest.mark.parametrize(("code", "status"), RETRIED, ids=[code for code, _ in RETRIED])
def test_a_throttle_or_an_outage_is_a_502_to_retry_even_when_cognito_says_400(
    code: str, status: int
) -> None:
    assert sign_out_answer(cognito_error(code, status)) == 502
