"""``POST /signout``: revoke the caller's tokens for every API this authorizer protects.

A small function of its own behind the authorizer (the route is protected, so
the caller is whoever the authorizer verified), shipped in the authorizer's
artifact because it writes the authorizer's revocation list with the very
helpers the authorizer reads it with (``authorizer/tables/revocation.py``). It
imports neither PyJWT nor the authorizer's configuration.

- No body, or ``{"refreshToken": "..."}``: this sign-in is over. The token
  family (the context's ``originJti``, Cognito's ``origin_jti``) goes on the
  list; given the refresh token, Cognito's ``RevokeToken`` first stops it
  minting new tokens, and the entry then lasts a day (no token of the family
  outlives that). Without it, the family can still be refreshed, so the entry
  lasts the refresh token's whole validity (``REFRESH_TOKEN_VALIDITY_DAYS``)
  plus that day.
- ``{"global": true}``: signed out everywhere. Cognito's ``GlobalSignOut``
  (it takes the access token: the request's own, so the caller must have
  signed the request with an access token) ends every refresh token, then a
  ``user`` entry revokes every token of the ``sub`` issued up to now.

Cognito first, then the list: when Cognito refuses or cannot be reached,
nothing is written and the same request can be sent again. RevokeToken and
GlobalSignOut are authorized by the token itself, not by IAM, so the
function's role holds only ``dynamodb:PutItem`` on the table. The function
holds no app client secret: a confidential client's refresh token is refused
by Cognito (400); such a client revokes it where its secret lives and signs
out here without it.

Answers are JSON; a refused request is a 400 that says what is wrong. Tokens
are never logged, echoed or stored.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from authorizer.exceptions import (
    BadSignOutRequest,
    CognitoRefused,
    CognitoUnavailable,
    MalformedToken,
    MissingToken,
    RevocationWriteFailed,
    SignOutError,
)
from authorizer.tables.revocation import FAMILY, USER, default_expires_at, revocation_item
from authorizer.verification.token import extract_token
from shared.context import AuthContext, decode_context
from shared.exceptions import BadRequest, ConfigurationError, MissingAuthContext
from shared.http import error_response, json_response, request_body
from shared.jsonlog import correlation, get_logger, log_level_setting

# A refresh token is a JWE of under 2 KB; the body holds one and a flag.
MAX_BODY_BYTES: Final = 8192
DEFAULT_REFRESH_TOKEN_VALIDITY_DAYS: Final = 30  # Cognito's default, and the template's client
MAX_REFRESH_TOKEN_VALIDITY_DAYS: Final = 3650  # Cognito's longest: ten years
FIELDS: Final = ("refreshToken", "global")
_FIELD_NAME: Final = re.compile(r"[A-Za-z_]{1,15}")
# Bounded well inside the function's timeout: two calls (Cognito, then the list),
# each at most MAX_ATTEMPTS tries of a connect and a read. botocore's standard
# retry mode retries throttling and 5xx answers itself.
CONNECT_TIMEOUT_SECONDS: Final = 2
READ_TIMEOUT_SECONDS: Final = 3
MAX_ATTEMPTS: Final = 2
# Cognito errors that mean "this token or client cannot be used here", not "try again".
_REFUSALS: Final = {
    "NotAuthorizedException": "Cognito refused the token (revoked, expired, or issued to "
    "another app client)",
    "UnauthorizedException": "Cognito refused the token for this app client (a client with "
    "a secret must revoke its refresh token where the secret lives)",
    "InvalidParameterException": "Cognito found the token malformed",
    "UnsupportedTokenTypeException": "refreshToken is not a refresh token",
    "UnsupportedOperationException": "token revocation is turned off for this app client",
    "ForbiddenException": "Cognito's web ACL refused the request",
    "UserNotFoundException": "the user no longer exists",
    "PasswordResetRequiredException": "the user must reset their password first",
    "UserNotConfirmedException": "the user is not confirmed",
}


class SignOutSettings(NamedTuple):
    table: str
    refresh_token_validity_seconds: int
    log_level: str


def load_settings(env: Mapping[str, str]) -> SignOutSettings:
    """``REVOCATION_TABLE`` (required), ``REFRESH_TOKEN_VALIDITY_DAYS``, ``LOG_LEVEL``."""
    table = env.get("REVOCATION_TABLE", "").strip()
    if not table:
        raise ConfigurationError("REVOCATION_TABLE", "is required")
    raw = env.get("REFRESH_TOKEN_VALIDITY_DAYS", "").strip()
    days = DEFAULT_REFRESH_TOKEN_VALIDITY_DAYS
    if raw:
        if (
            not (raw.isascii() and raw.isdigit())
            or not 1 <= int(raw) <= MAX_REFRESH_TOKEN_VALIDITY_DAYS
        ):
            raise ConfigurationError(
                "REFRESH_TOKEN_VALIDITY_DAYS",
                f"must be a whole number of days from 1 to {MAX_REFRESH_TOKEN_VALIDITY_DAYS}",
            )
        days = int(raw)
    return SignOutSettings(table, days * 86400, log_level_setting(env))


class SignOutRequest(NamedTuple):
    everywhere: bool
    refresh_token: str | None


def parse_request(event: Mapping[str, Any]) -> SignOutRequest:
    """The body: empty, or a JSON object with ``refreshToken`` and/or ``global``."""
    try:
        raw = request_body(event, MAX_BODY_BYTES)
    except BadRequest as err:
        raise BadSignOutRequest(str(err)) from None
    if not raw.strip():
        return SignOutRequest(everywhere=False, refresh_token=None)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadSignOutRequest("request body is not valid UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise BadSignOutRequest("request body must be a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        # The answer and the log line name a field only when it reads like one: a
        # pasted token never reaches either (15 characters is under any window
        # of a token the log checks look for).
        named = ", ".join(
            name if _FIELD_NAME.fullmatch(name) else "(one not shown)" for name in unknown[:3]
        )
        raise BadSignOutRequest(f"unknown field(s) {named}; accepted: {', '.join(FIELDS)}")
    everywhere = document.get("global", False)
    if not isinstance(everywhere, bool):
        raise BadSignOutRequest("global must be true or false")
    refresh_token = document.get("refreshToken")
    if refresh_token is not None and (not isinstance(refresh_token, str) or not refresh_token):
        raise BadSignOutRequest("refreshToken must be a non-empty string")
    return SignOutRequest(everywhere, refresh_token)


class SignOut:
    """The sign-out itself, over a Cognito and a DynamoDB client (boto3's, or fakes in tests)."""

    def __init__(
        self,
        settings: SignOutSettings,
        cognito: Any,
        dynamodb: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._cognito = cognito
        self._dynamodb = dynamodb
        self._clock = clock
        self.logger = get_logger("signout", settings.log_level)

    def handle(self, event: Any) -> dict[str, Any]:
        route, request_id = correlation(event)
        joined = {"routeKey": route, "apiRequestId": request_id}
        if not isinstance(event, dict):
            event = {}
        try:
            caller = decode_context(event)
        except MissingAuthContext as err:
            # A route left unprotected: fail closed, as the greeter does.
            self.logger.error(
                "sign-out reached without an authorizer context: is the route protected?",
                extra={"reason": err.reason, **joined},
            )
            return error_response(500, "Internal Server Error")
        try:
            request = parse_request(event)
            answer = (
                self._everywhere(caller, event)
                if request.everywhere
                else self._session(caller, request)
            )
        except SignOutError as err:
            self.logger.info(
                "sign-out refused" if err.status < 500 else "sign-out failed",
                extra={
                    "reason": err.reason,
                    "problem": str(err),
                    "errorCode": err.error_code,
                    "sub": caller.sub,
                    **joined,
                },
            )
            return error_response(err.status, str(err))
        self.logger.info(
            "signed out", extra={"scope": answer["scope"], "sub": caller.sub, **joined}
        )
        return json_response(200, answer)

    def _session(self, caller: AuthContext, request: SignOutRequest) -> dict[str, Any]:
        if caller.origin_jti is None:
            raise BadSignOutRequest(
                "this token names no token family (origin_jti): its app client has token "
                'revocation turned off; sign out everywhere with {"global": true}'
            )
        if request.refresh_token is not None:
            self._call_cognito(
                self._cognito.revoke_token, Token=request.refresh_token, ClientId=caller.client_id
            )
        revoked_at = self._clock()
        expires_at = default_expires_at(revoked_at)
        if request.refresh_token is None:
            # The family's refresh token still works and keeps minting tokens of this family.
            expires_at += self.settings.refresh_token_validity_seconds
        self._put(revocation_item(FAMILY, caller.origin_jti, revoked_at, expires_at))
        return {
            "message": "Signed out: this sign-in's tokens are revoked",
            "scope": "session",
            "refreshTokenRevoked": request.refresh_token is not None,
        }

    def _everywhere(self, caller: AuthContext, event: Mapping[str, Any]) -> dict[str, Any]:
        if caller.token_use != "access":
            raise BadSignOutRequest(
                "global sign-out needs an access token in the Authorization header "
                "(Cognito's GlobalSignOut takes no other); this request carries an id token"
            )
        try:
            access_token = extract_token(dict(event))
        except (MissingToken, MalformedToken):
            raise BadSignOutRequest("no access token in the Authorization header") from None
        self._call_cognito(self._cognito.global_sign_out, AccessToken=access_token)
        # After Cognito answered: every token issued so far has iat at or before now.
        self._put(revocation_item(USER, caller.sub, self._clock()))
        return {
            "message": "Signed out everywhere: every token issued so far is revoked",
            "scope": "global",
            "refreshTokenRevoked": True,
        }

    def _call_cognito(self, operation: Callable[..., Any], **arguments: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            operation(**arguments)
        except ClientError as err:
            code = _error_code(err)
            refusal = _REFUSALS.get(code)
            if refusal is not None:
                raise CognitoRefused(
                    f"{refusal} ({code}); nothing was revoked", error_code=code
                ) from None
            raise CognitoUnavailable(
                "Cognito could not sign out now; nothing was revoked, try again", error_code=code
            ) from None
        except BotoCoreError as err:
            raise CognitoUnavailable(
                "Cognito could not be reached; nothing was revoked, try again",
                error_code=type(err).__name__,
            ) from None

    def _put(self, item: dict[str, dict[str, str]]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._dynamodb.put_item(TableName=self.settings.table, Item=item)
        except (ClientError, BotoCoreError) as err:
            raise RevocationWriteFailed(
                "the revocation list could not be written: the tokens stay valid until they "
                "expire; try again",
                error_code=_error_code(err) if isinstance(err, ClientError) else type(err).__name__,
            ) from None


def _error_code(err: Any) -> str:
    """The AWS error code of a botocore ClientError (its ``response``'s ``Error.Code``).

    A ClientError's response is a dict whose ``Error``, when present, is one: its
    own constructor reads them so.
    """
    code = err.response.get("Error", {}).get("Code")
    return code if isinstance(code, str) else "Unknown"


def aws_clients() -> tuple[Any, Any]:
    """boto3's Cognito and DynamoDB clients, with bounded timeouts and retries.

    boto3 is the Lambda runtime's own. Endpoints follow the SDK's usual
    settings (``AWS_ENDPOINT_URL_DYNAMODB`` and the like), which is how the
    offline stack points them at its emulators.
    """
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        # total_max_attempts counts the first try; max_attempts would not (one more try).
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    return boto3.client("cognito-idp", config=config), boto3.client("dynamodb", config=config)
