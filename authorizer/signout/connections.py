"""``$connect`` and ``$disconnect`` of a WebSocket API: record and forget the open connections.

The integration of both routes (with ``ApiType=websocket`` and revocation
on). At ``$connect``, after the authorizer allowed the connection, it records
the connection's user and token family (``authorizer/tables/connections.py``)
so that a sign-out can close it; at ``$disconnect`` it removes the record.
It reads only what the authorizer put in the context (``shared/context.py``),
never a header or the query string, where the token may be.

A ``$connect`` that cannot be recorded is refused (502): a connection that
sign-out could not close would outlive a revocation by up to two hours. A
``$connect`` without an authorizer context (a route left unprotected) is
refused too (500), as the greeter refuses one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from authorizer.tables.connections import connection_item, connection_key
from shared.context import decode_context
from shared.exceptions import ConfigurationError, MissingAuthContext
from shared.http import error_response
from shared.jsonlog import get_logger, log_level_setting

CONNECT: Final = "CONNECT"
DISCONNECT: Final = "DISCONNECT"
# Bounded well inside the function's timeout: API Gateway holds the upgrade meanwhile.
CONNECT_TIMEOUT_SECONDS: Final = 1
READ_TIMEOUT_SECONDS: Final = 2
MAX_ATTEMPTS: Final = 2


def load_table(env: Mapping[str, str]) -> str:
    table = env.get("CONNECTIONS_TABLE", "").strip()
    if not table:
        raise ConfigurationError("CONNECTIONS_TABLE", "is required")
    return table


class Connections:
    """Records and forgets connections in ``table`` through a DynamoDB client."""

    def __init__(
        self,
        table: str,
        dynamodb: Any,
        *,
        log_level: str = "INFO",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self._dynamodb = dynamodb
        self._clock = clock
        self.logger = get_logger("connections", log_level)

    def handle(self, event: Any) -> dict[str, Any]:
        context = event.get("requestContext") if isinstance(event, dict) else None
        if not isinstance(context, dict):
            context = {}
        kind = context.get("eventType")
        connection_id = context.get("connectionId")
        joined = {
            "routeKey": context.get("routeKey"),
            "apiRequestId": context.get("requestId"),
            "connectionId": connection_id,
        }
        if kind not in (CONNECT, DISCONNECT) or not isinstance(connection_id, str):
            self.logger.error("not a $connect or $disconnect event", extra=joined)
            return error_response(400, "Bad Request")
        if kind == DISCONNECT:
            try:
                self._dynamodb.delete_item(TableName=self.table, Key=connection_key(connection_id))
            except Exception as err:  # noqa: BLE001 - the item's TTL removes it anyway
                self.logger.warning(
                    "connection record not removed; its TTL will",
                    extra={"error": type(err).__name__, **joined},
                )
            else:
                self.logger.info("connection forgotten", extra=joined)
            return {"statusCode": 200}
        try:
            caller = decode_context(event)
        except MissingAuthContext as err:
            self.logger.error(
                "$connect reached without an authorizer context: is the route protected?",
                extra={"reason": err.reason, **joined},
            )
            return error_response(500, "Internal Server Error")
        connected_at = context.get("connectedAt")
        seconds = (
            connected_at / 1000
            if isinstance(connected_at, int | float) and not isinstance(connected_at, bool)
            else self._clock()
        )
        item = connection_item(connection_id, caller.sub, caller.origin_jti, seconds)
        try:
            self._dynamodb.put_item(TableName=self.table, Item=item)
        except Exception as err:  # noqa: BLE001 - botocore's errors: refuse, never leave it open
            self.logger.error(
                "connection not recorded: refused, since sign-out could not close it",
                extra={"error": type(err).__name__, "sub": caller.sub, **joined},
            )
            return error_response(502, "Bad Gateway")
        self.logger.info("connection recorded", extra={"sub": caller.sub, **joined})
        return {"statusCode": 200}


def dynamodb_client() -> Any:
    """boto3's DynamoDB client (the Lambda runtime's), with bounded timeouts and retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        # total_max_attempts counts the first try: one retry at most.
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
    )
    return boto3.client("dynamodb", config=config)


def load_settings(env: Mapping[str, str]) -> tuple[str, str]:
    """What a cold start reads: the table (``CONNECTIONS_TABLE``) and ``LOG_LEVEL``."""
    return load_table(env), log_level_setting(env)


def from_environment(env: Mapping[str, str] = os.environ) -> Connections:
    table, log_level = load_settings(env)
    return Connections(table, dynamodb_client(), log_level=log_level)
