"""Sign-out that also hangs up: close the open WebSocket connections of what was just revoked.

Invoked by the revocation table's DynamoDB stream (a Lambda event source
mapping), so it acts on every revocation whoever wrote it: the sign-out
function, ``make revoke``, or an operator's own tool writing the documented
item format (``authorizer/tables/revocation.py``). For each new or changed
item still in force:

- ``family``: every connection recorded with that token family;
- ``user``: every connection of that ``sub`` whose token was issued at or
  before the revocation (``issuedAt <= revokedAt``, what the authorizer
  denies): a sign-in after it stays connected, a token issued before it is
  closed whenever its connection was opened;

each is closed through the API's connections management API
(``DeleteConnection``; API Gateway then runs ``$disconnect``, which removes
the record). A connection already gone (410) is done. Any other failure
raises after the whole batch was tried, so the event source mapping retries
it (closing twice is harmless). Items deleted by the table's TTL (``REMOVE``)
revoke nothing and are skipped.

Only this function may call the management API (``execute-api:ManageConnections``
on that API's ``DELETE @connections``); it reads the connections table's
indexes and nothing else. Logs name the revocation's kind, never a family
id, and counts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, NamedTuple

from authorizer.tables.connections import (
    FAMILY,
    FAMILY_INDEX,
    ISSUED_AT,
    SUB,
    USER_INDEX,
    connection_id_of,
)
from authorizer.tables.revocation import USER, InvalidRevocation, Revocation, parse_item
from shared.exceptions import ConfigurationError
from shared.jsonlog import get_logger, log_level_setting

# Stream events that carry an item written (a TTL deletion is a REMOVE).
WRITES: Final = ("INSERT", "MODIFY")
CONNECT_TIMEOUT_SECONDS: Final = 1
READ_TIMEOUT_SECONDS: Final = 2
MAX_ATTEMPTS: Final = 2


class HangUpSettings(NamedTuple):
    table: str
    endpoint: str
    log_level: str


def load_settings(env: Mapping[str, str]) -> HangUpSettings:
    """``CONNECTIONS_TABLE``, ``CONNECTIONS_ENDPOINT`` (https://.../<stage>), ``LOG_LEVEL``."""
    table = env.get("CONNECTIONS_TABLE", "").strip()
    if not table:
        raise ConfigurationError("CONNECTIONS_TABLE", "is required")
    endpoint = env.get("CONNECTIONS_ENDPOINT", "").strip()
    if not endpoint.startswith(("https://", "http://")) or endpoint.count("/") < 3:
        raise ConfigurationError(
            "CONNECTIONS_ENDPOINT", "must be the API's https://<api id>.execute-api.../<stage>"
        )
    return HangUpSettings(table, endpoint, log_level_setting(env))


class Closed(NamedTuple):
    closed: int
    gone: int
    failed: int


class HangUp:
    """Closes connections through ``management`` (apigatewaymanagementapi) found in ``dynamodb``."""

    def __init__(
        self,
        settings: HangUpSettings,
        dynamodb: Any,
        management: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        self._management = management
        self._clock = clock
        self.logger = get_logger("hangup", settings.log_level)

    def handle(self, event: Any) -> dict[str, int]:
        records = event.get("Records") if isinstance(event, dict) else None
        failed = closed = 0
        for record in records if isinstance(records, list) else []:
            revocation = self._revocation(record)
            if revocation is None:
                continue
            outcome = self.close(revocation)
            closed += outcome.closed
            failed += outcome.failed
            self.logger.info(
                "revocation hung up its connections",
                extra={
                    "kind": revocation.kind,
                    "sub": revocation.value if revocation.kind == USER else None,
                    "closed": outcome.closed,
                    "alreadyGone": outcome.gone,
                    "failed": outcome.failed,
                },
            )
        if failed:
            # The event source mapping retries the batch: closing again is harmless.
            raise RuntimeError(f"{failed} connection(s) could not be closed")
        return {"closed": closed}

    def _revocation(self, record: Any) -> Revocation | None:
        if not isinstance(record, dict) or record.get("eventName") not in WRITES:
            return None
        change = record.get("dynamodb")
        image = change.get("NewImage") if isinstance(change, dict) else None
        try:
            revocation = parse_item(image if isinstance(image, dict) else {})
        except InvalidRevocation:
            self.logger.warning("revocation item it cannot read; ignored")
            return None
        if revocation.expires_at <= self._clock():
            return None  # covers nothing any more
        return revocation

    def close(self, revocation: Revocation) -> Closed:
        closed = gone = failed = 0
        for connection_id in self.connections(revocation):
            try:
                self._management.delete_connection(ConnectionId=connection_id)
            except Exception as err:  # noqa: BLE001 - botocore's errors, told apart by code
                if _error_code(err) == "GoneException":
                    gone += 1
                else:
                    failed += 1
                    self.logger.warning(
                        "connection not closed; the batch will be retried",
                        extra={"connectionId": connection_id, "error": _error_name(err)},
                    )
            else:
                closed += 1
        return Closed(closed, gone, failed)

    def connections(self, revocation: Revocation) -> Iterator[str]:
        """The recorded connections the revocation covers (an index read: eventually consistent)."""
        if revocation.kind == USER:
            request: dict[str, Any] = {
                "IndexName": USER_INDEX,
                "KeyConditionExpression": "#sub = :value AND #iat <= :revoked",
                "ExpressionAttributeNames": {"#sub": SUB, "#iat": ISSUED_AT},
                "ExpressionAttributeValues": {
                    ":value": {"S": revocation.value},
                    ":revoked": {"N": str(revocation.revoked_at)},
                },
            }
        else:
            request = {
                "IndexName": FAMILY_INDEX,
                "KeyConditionExpression": "#family = :value",
                "ExpressionAttributeNames": {"#family": FAMILY},
                "ExpressionAttributeValues": {":value": {"S": revocation.value}},
            }
        request["TableName"] = self.settings.table
        while True:
            page = self._dynamodb.query(**request)
            for item in page.get("Items", ()):
                connection_id = connection_id_of(item)
                if connection_id is not None:
                    yield connection_id
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last


def _error_code(err: Exception) -> str | None:
    response = getattr(err, "response", None)
    error = response.get("Error") if isinstance(response, dict) else None
    code = error.get("Code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def _error_name(err: Exception) -> str:
    code = _error_code(err)
    name = type(err).__name__
    return f"{name}:{code}" if code is not None and code.isidentifier() else name


def aws_clients(settings: HangUpSettings) -> tuple[Any, Any]:
    """boto3's DynamoDB and connections management clients (the Lambda runtime's boto3)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        # total_max_attempts counts the first try: one retry at most.
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    return (
        boto3.client("dynamodb", config=config),
        boto3.client("apigatewaymanagementapi", endpoint_url=settings.endpoint, config=config),
    )


def from_environment(env: Mapping[str, str] = os.environ) -> HangUp:
    settings = load_settings(env)
    return HangUp(settings, *aws_clients(settings))
