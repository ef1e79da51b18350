"""The open WebSocket connections' item format (sign-out that hangs up): one place encodes it.

With ``ApiType=websocket`` and revocation on, the connections function
records each authorized connection at ``$connect`` and removes it at
``$disconnect``; the hang-up function finds a revoked family's or user's
connections through the two indexes and closes them. Items are in DynamoDB's
typed AttributeValue form, as the low-level client takes and returns them.
Standard library only.

One item names one connection:

- ``connectionId``: API Gateway's connection id (the table's key).
- ``sub``: the user (the authorizer context's ``sub``).
- ``family``: the token family (the context's ``originJti``), when the token
  has one; an item without it is in no family's index.
- ``issuedAt``: epoch seconds, whole: the token's ``iat`` (the context's
  ``issuedAt``). A user's revocation closes the connections whose token it
  covers: ``issuedAt`` at or before its ``revokedAt``, as the authorizer denies.
- ``connectedAt``: epoch seconds, whole (``requestContext.connectedAt``,
  rounded down).
- ``expiresAt``: epoch seconds, whole: ``connectedAt`` plus API Gateway's
  two-hour connection limit, after which DynamoDB's TTL may delete an item
  whose ``$disconnect`` never came.

Nothing else: no token, no other claim.
"""

from __future__ import annotations

import math
from typing import Any, Final

CONNECTION_ID: Final = "connectionId"
SUB: Final = "sub"
FAMILY: Final = "family"
ISSUED_AT: Final = "issuedAt"
CONNECTED_AT: Final = "connectedAt"
# The table's TimeToLiveSpecification AttributeName.
EXPIRES_AT: Final = "expiresAt"
# The table's global secondary indexes (keys only): a family's connections, a user's by the
# issue time of their tokens.
FAMILY_INDEX: Final = "byFamily"
USER_INDEX: Final = "bySub"
# API Gateway ends every WebSocket connection after two hours.
# https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
MAX_CONNECTION_SECONDS: Final = 7200


def connection_item(
    connection_id: str, sub: str, family: str | None, issued_at: int, connected_at: float
) -> dict[str, dict[str, str]]:
    """The item that records an authorized connection (``family`` None: no family index entry)."""
    if not connection_id or not sub:
        raise ValueError("a connection item needs a connection id and a sub")
    connected = math.floor(connected_at)
    item = {
        CONNECTION_ID: {"S": connection_id},
        SUB: {"S": sub},
        ISSUED_AT: {"N": str(issued_at)},
        CONNECTED_AT: {"N": str(connected)},
        EXPIRES_AT: {"N": str(connected + MAX_CONNECTION_SECONDS)},
    }
    if family:
        item[FAMILY] = {"S": family}
    return item


def connection_key(connection_id: str) -> dict[str, dict[str, str]]:
    return {CONNECTION_ID: {"S": connection_id}}


def connection_id_of(item: dict[str, Any]) -> str | None:
    """The connection id of an item (or an index's keys-only item); None when it has none."""
    value = item.get(CONNECTION_ID)
    text = value.get("S") if isinstance(value, dict) else None
    return text if isinstance(text, str) and text else None
