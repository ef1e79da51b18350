"""``$connect`` and ``$disconnect`` of a WebSocket API: record and forget the open connections.

The integration of both routes (with ``ApiType=websocket`` and revocation
on). At ``$connect``, after the authorizer allowed the connection, it records
the connection's user, token family and token issue time
(``authorizer/tables/connections.py``) so that a sign-out can close it; at
``$disconnect`` it removes the record. It reads only what the authorizer put
in the context (``shared/context.py``), never a header or the query string,
where the token may be.

Then, before it lets the connection open, it looks for a revocation the
authorizer may not have held yet: an instance decides with a list up to
``REVOCATION_MAX_STALE_SECONDS`` old, so a token revoked just before may be
allowed, and the hang-up function, which closes what a revocation covers,
may have handled that revocation before this record existed. One strongly
consistent Query of the revocations stamped since the connection began less
that staleness and the list's overlap (``OVERLAP_SECONDS``, for a writer's
stamp behind its write) finds it; older ones every authorizer instance held.
The order is the guarantee: a revocation written after the Query began finds
the record already written, and the hang-up function closes it.

A ``$connect`` whose token is revoked is refused (403, as the authorizer's
deny); one that cannot be recorded or checked is refused too (502): a
connection that sign-out could not close would outlive a revocation by up
to two hours. A ``$connect`` without an authorizer context (a route left
unprotected) is refused (500), as the greeter refuses one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple

from authorizer.tables import mirror
from authorizer.tables.connections import connection_item, connection_key
from authorizer.tables.revocation import (
    FAMILY,
    PARTITION,
    PARTITION_KEY,
    READ_ATTRIBUTES,
    InvalidRevocation,
    cursor,
    parse_item,
)
from authorizer.verification.config import revocation_settings
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


class ConnectionsSettings(NamedTuple):
    table: str
    revocation_table: str
    # How far before a connection's start a revocation the authorizer missed may be stamped.
    window_seconds: int
    log_level: str


class Connections:
    """Records and forgets connections in its table, and refuses a revoked token's connect."""

    def __init__(
        self,
        settings: ConnectionsSettings,
        dynamodb: Any,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        self._revocations = mirror.dynamodb_query(
            settings.revocation_table,
            partition_key=PARTITION_KEY,
            partition=PARTITION,
            attributes=READ_ATTRIBUTES,
            client=dynamodb,
        )
        self._clock = clock
        self.logger = get_logger("connections", settings.log_level)

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
            if self._forget(joined):
                self.logger.info("connection forgotten", extra=joined)
            return {"statusCode": 200}
        try:
            caller = decode_context(event)
            issued_at = caller.issued_at
            if issued_at is None:
                raise MissingAuthContext("authorizer context lacks issuedAt")
        except MissingAuthContext as err:
            self.logger.error(
                "$connect reached without an authorizer context: is the route protected?",
                extra={"reason": err.reason, "problem": str(err), **joined},
            )
            return error_response(500, "Internal Server Error")
        connected_at = context.get("connectedAt")
        now = self._clock()
        seconds = (
            connected_at / 1000
            if isinstance(connected_at, int | float) and not isinstance(connected_at, bool)
            else now
        )
        item = connection_item(connection_id, caller.sub, caller.origin_jti, issued_at, seconds)
        who = {"sub": caller.sub, **joined}
        try:
            self._dynamodb.put_item(TableName=self.settings.table, Item=item)
        except Exception as err:  # noqa: BLE001 - botocore's errors: refuse, never leave it open
            self.logger.error(
                "connection not recorded: refused, since sign-out could not close it",
                extra={"error": type(err).__name__, **who},
            )
            return error_response(502, "Bad Gateway")
        # Only now, with the record in place: a revocation this Query misses, the
        # hang-up function finds the record for. The earlier of the connection's
        # start and now: the authorizer decided after the one, before the other.
        since = min(seconds, now) - self.settings.window_seconds
        try:
            revoked = self.revoked(caller.sub, caller.origin_jti, issued_at, since, now)
        except Exception as err:  # noqa: BLE001 - botocore's errors: unchecked is never let in
            self.logger.error(
                "revocations not read: refused, since the token may be revoked",
                extra={"error": type(err).__name__, **who},
            )
            self._forget(joined)
            return error_response(502, "Bad Gateway")
        if revoked is not None:
            # A $connect integration's non-2xx answer refuses the connection with that status
            # (https://docs.aws.amazon.com/apigateway/latest/developerguide/websocket-connect-route-subprotocol.html):
            # the client gets the 403 an authorizer's deny gives.
            self.logger.warning(
                "connection refused: its token was revoked", extra={"kind": revoked, **who}
            )
            self._forget(joined)
            return error_response(403, "Forbidden")
        self.logger.info("connection recorded", extra=who)
        return {"statusCode": 200}

    def revoked(
        self, sub: str, family: str | None, issued_at: int, since: float, now: float
    ) -> str | None:
        """The kind of a revocation stamped after ``since``, in force, that covers the token.

        A family's covers every token of that sign-in; a user's every token of
        that ``sub`` issued at or before it: what the authorizer denies.
        """
        for item in self._revocations(cursor(since)):
            try:
                revocation = parse_item(item)
            except InvalidRevocation:
                continue  # the authorizer ignores it too
            if revocation.expires_at <= now:
                continue
            if revocation.kind == FAMILY:
                if revocation.value == family:
                    return revocation.kind
            elif revocation.value == sub and issued_at <= revocation.revoked_at:
                return revocation.kind
        return None

    def _forget(self, joined: dict[str, Any]) -> bool:
        """Remove the record of ``joined``'s connection; False (logged) when DynamoDB refused."""
        connection_id = joined["connectionId"]
        try:
            self._dynamodb.delete_item(
                TableName=self.settings.table, Key=connection_key(connection_id)
            )
        except Exception as err:  # noqa: BLE001 - the item's TTL removes it anyway
            self.logger.warning(
                "connection record not removed; its TTL will",
                extra={
                    "error": type(err).__name__,
                    "routeKey": joined["routeKey"],
                    "apiRequestId": joined["apiRequestId"],
                    "connectionId": connection_id,
                },
            )
            return False
        return True


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


def load_settings(env: Mapping[str, str]) -> ConnectionsSettings:
    """What a cold start reads: ``CONNECTIONS_TABLE``, ``REVOCATION_*`` and ``LOG_LEVEL``.

    ``REVOCATION_REFRESH_SECONDS`` and ``REVOCATION_MAX_STALE_SECONDS`` are the
    authorizer's, read as it reads them: the window reaches back as far as its
    list may be stale, plus the list's overlap.
    """
    table = load_table(env)
    revocation = revocation_settings(env)
    if not revocation.revocation_table:
        raise ConfigurationError("REVOCATION_TABLE", "is required")
    return ConnectionsSettings(
        table,
        revocation.revocation_table,
        revocation.revocation_max_stale_seconds + mirror.OVERLAP_SECONDS,
        log_level_setting(env),
    )


def from_environment(env: Mapping[str, str] = os.environ) -> Connections:
    return Connections(load_settings(env), dynamodb_client())
