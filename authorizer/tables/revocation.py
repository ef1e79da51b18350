"""The revocation list's item format: the one place it is encoded and decoded.

The authorizer reads the list; the sign-out paths write it. Both import these
names, so the two sides cannot drift apart. Items are in DynamoDB's typed
AttributeValue form (``{"S": ...}``, ``{"N": ...}``), what the low-level boto3
client's ``put_item`` takes and ``query`` returns. This module imports nothing
beyond the standard library: a writer or a cold start pays nothing for it.

One item names one revocation:

- ``pk``: always ``"revoked"``. One partition, so a single Query returns
  everything written since a cursor.
- ``sk``: ``<revoked at, epoch milliseconds, 15 digits>#<kind>#<value>``.
  Time-ordered: "what changed since T" is ``sk > cursor(T)``.
- ``kind``: ``family`` (``value`` is a token family's ``origin_jti``: every
  ID and access token of one sign-in) or ``user`` (``value`` is a ``sub``:
  every token of that user with ``iat`` at or before ``revokedAt``).
- ``revokedAt``: epoch seconds, whole (the sign-out time, rounded down: a
  token issued before it has an ``iat`` no later than that second); always
  the sort key's milliseconds divided by 1000, rounded down.
- ``expiresAt``: epoch seconds, whole; when no token the entry covers can
  still be valid. DynamoDB's TTL deletes the item after it (lazily); readers
  drop it from memory at that time themselves.

Nothing else: no token, no other claim.
"""

from __future__ import annotations

import math
import re
from typing import Any, Final, NamedTuple

from authorizer.tables.changelog import MS_DIGITS, InvalidItem, stamped_seconds

# The sort-key layout every table shares, named here for the list's writers and readers.
from authorizer.tables.changelog import SORT_KEY as SORT_KEY
from authorizer.tables.changelog import cursor as cursor

PARTITION_KEY: Final = "pk"
PARTITION: Final = "revoked"
KIND: Final = "kind"
VALUE: Final = "value"
REVOKED_AT: Final = "revokedAt"
# The table's TimeToLiveSpecification AttributeName.
EXPIRES_AT: Final = "expiresAt"
# What a reader needs of an item: the sort key names the time, the kind and the value.
READ_ATTRIBUTES: Final = (SORT_KEY, EXPIRES_AT)

FAMILY: Final = "family"
USER: Final = "user"
KINDS: Final = (FAMILY, USER)

# Cognito's ID and access tokens live at most a day (the app client's validity
# ranges cap at 24 hours), and the authorizer accepts up to LEEWAY_SECONDS
# (at most 300) past exp: an entry revoked at T covers nothing after this.
MAX_TOKEN_LIFETIME_SECONDS: Final = 86400
MAX_LEEWAY_SECONDS: Final = 300
# An origin_jti or a sub is a UUID; anything far longer is not one of them.
# (DynamoDB caps a sort key at 1024 bytes; the prefix takes 23 of them.)
MAX_VALUE_BYTES: Final = 256
_SORT_KEY_PARTS: Final = re.compile(rf"([0-9]{{{MS_DIGITS}}})#({'|'.join(KINDS)})#(.+)", re.DOTALL)


class Revocation(NamedTuple):
    """One decoded item."""

    sort_key: str
    kind: str
    value: str
    revoked_at: int
    expires_at: int


class InvalidRevocation(InvalidItem):
    """An item or an argument that is not a well-formed revocation (fixed text, no values)."""


def sort_key(kind: str, value: str, revoked_at: float) -> str:
    """``<revoked at, epoch ms, 15 digits>#<kind>#<value>``."""
    _check(kind, value)
    return f"{cursor(revoked_at)}#{kind}#{value}"


def default_expires_at(revoked_at: float) -> int:
    """When nothing an entry revoked at ``revoked_at`` covers can still be accepted.

    Right when no covered token is issued after T: a user entry covers only
    tokens with ``iat`` at or before T, and a family whose refresh token
    Cognito revoked (``RevokeToken``, ``GlobalSignOut``) gets no new tokens.
    No token outlives its ``iat`` by more than a day plus the leeway. A family
    whose refresh token still works keeps getting new tokens with the same
    ``origin_jti``: its entry must last until that refresh token expires.
    """
    return math.ceil(revoked_at) + MAX_TOKEN_LIFETIME_SECONDS + MAX_LEEWAY_SECONDS


def revocation_item(
    kind: str, value: str, revoked_at: float, expires_at: float | None = None
) -> dict[str, dict[str, str]]:
    """The item that revokes ``kind``/``value`` as of ``revoked_at`` (epoch seconds).

    ``expires_at`` defaults to ``default_expires_at(revoked_at)``. For
    ``client.put_item(TableName=..., Item=revocation_item(...))``.
    """
    key = sort_key(kind, value, revoked_at)
    expires = default_expires_at(revoked_at) if expires_at is None else math.ceil(expires_at)
    # From the sort key itself, so a reader may read the one and not the other.
    revoked_seconds = stamped_seconds(key)
    if expires <= revoked_at:
        raise InvalidRevocation("expiresAt must be after revokedAt")
    return {
        PARTITION_KEY: {"S": PARTITION},
        SORT_KEY: {"S": key},
        KIND: {"S": kind},
        VALUE: {"S": value},
        REVOKED_AT: {"N": str(revoked_seconds)},
        EXPIRES_AT: {"N": str(expires)},
    }


def parse_item(item: dict[str, Any]) -> Revocation:
    """An item as ``query`` returns it; InvalidRevocation unless ``revocation_item`` made it.

    The sort key names the time, the kind and the value, so a reader may
    leave ``kind``, ``value`` and ``revokedAt`` out of what it reads
    (``READ_ATTRIBUTES``: half of what the SDK parses per item); when
    present, they must agree with it.
    """
    try:
        key = item[SORT_KEY]["S"]
        expires_at = int(item[EXPIRES_AT]["N"])
    except (KeyError, TypeError, ValueError):
        raise InvalidRevocation("item lacks a field or has one of the wrong type") from None
    parts = _SORT_KEY_PARTS.fullmatch(key) if isinstance(key, str) else None
    if parts is None:
        raise InvalidRevocation("sort key is not <epoch ms>#<kind>#<value>")
    milliseconds, kind, value = parts.groups()
    _check_value(value)
    revoked_at = int(milliseconds) // 1000
    # Read in full (no projection), the copies must agree with the sort key.
    if (KIND in item or VALUE in item or REVOKED_AT in item) and (
        item.get(KIND, {"S": kind}) != {"S": kind}
        or item.get(VALUE, {"S": value}) != {"S": value}
        or item.get(REVOKED_AT, {"N": str(revoked_at)}) != {"N": str(revoked_at)}
    ):
        raise InvalidRevocation("kind, value or revokedAt does not match the sort key")
    return Revocation(key, kind, value, revoked_at, expires_at)


def _check(kind: Any, value: Any) -> None:
    if kind not in KINDS:
        raise InvalidRevocation(f"kind must be one of {', '.join(KINDS)}")
    _check_value(value)


def _check_value(value: Any) -> None:
    if (
        not isinstance(value, str)
        or not value
        or len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES
        or not value.isprintable()
    ):
        raise InvalidRevocation(
            f"value must be printable text of 1 to {MAX_VALUE_BYTES} bytes (an origin_jti or a sub)"
        )
