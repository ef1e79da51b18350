"""The revocation list an authorizer instance holds in memory, refreshed from DynamoDB.

Imported only when ``REVOCATION_TABLE`` is set; the AWS SDK (botocore, in the
Lambda runtime, never in the artifact) only when the DynamoDB client is made.

A decision costs two dictionary lookups: the token's ``origin_jti`` among the
revoked families, its ``sub`` among the signed-out users (revoked when the
token's ``iat`` is at or before the sign-out). The list is kept current by the
mechanism every table kept in memory shares (``authorizer/tables/mirror.py``:
one Query for what changed, the refresh schedule, the wait bound, stale use
and then ``RevocationUnavailable``, never an allow the list was not checked
for); this module is only what the list's items mean.

Expired entries (``expiresAt``) never revoke anything, and are dropped at most
``SWEEP_SECONDS`` after they expire, so the list's size is what is still valid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from authorizer.exceptions import RevocationUnavailable, Revoked
from authorizer.operations.metrics import MetricsEmitter
from authorizer.tables import mirror
from authorizer.tables.mirror import (
    ABANDON_SECONDS,
    OVERLAP_SECONDS,
    RETRY_SECONDS,
    SWEEP_SECONDS,
    Expired,
    Query,
    TableMirror,
)
from authorizer.tables.revocation import (
    FAMILY,
    PARTITION,
    PARTITION_KEY,
    READ_ATTRIBUTES,
    USER,
    InvalidRevocation,
    Revocation,
    parse_item,
)
from authorizer.verification.verify import Verified

# The mechanism's bounds, which the list's documentation and tests name.
__all__ = [
    "ABANDON_SECONDS",
    "OVERLAP_SECONDS",
    "RETRY_SECONDS",
    "SWEEP_SECONDS",
    "RevocationList",
    "dynamodb_query",
    "remember",
]

# origin_jti -> expiresAt; sub -> (revokedAt, expiresAt).
Families = dict[str, int]
Users = dict[str, tuple[int, int]]
Batch = tuple[Families, Users]


def dynamodb_query(table: str, client: Any = None) -> Query:
    """``changes_since(cursor)``: every revocation with ``sk > cursor``, all pages of one Query."""
    return mirror.dynamodb_query(
        table,
        partition_key=PARTITION_KEY,
        partition=PARTITION,
        attributes=READ_ATTRIBUTES,
        client=client,
    )


class RevocationLedger:
    """Revoked families and signed-out users, as the list's items make them."""

    name = "revocation list"

    def __init__(self) -> None:
        self.families: Families = {}
        self.users: Users = {}

    def __len__(self) -> int:
        return len(self.families) + len(self.users)

    def batch(self) -> Batch:
        return {}, {}

    def add(self, batch: Batch, item: dict[str, Any], started: float) -> bool:
        try:
            revocation = parse_item(item)
        except InvalidRevocation:
            return False
        if revocation.expires_at > started:  # else it covers nothing any more
            remember(*batch, revocation)
        return True

    def sweep(self, now: float) -> Callable[[], Expired]:
        families, users = self.families, self.users

        def expired() -> Expired:
            # Runs on the refresh thread while no request changes the dictionaries.
            return [(FAMILY, k) for k, e in families.items() if e <= now] + [
                (USER, k) for k, (_, e) in users.items() if e <= now
            ]

        return expired

    def apply(self, batch: Batch, expired: Expired, now: float) -> None:
        families, users = self.families, self.users
        for kind, value in expired:
            held: dict[str, Any] = families if kind == FAMILY else users
            entry = held.get(value)
            # Swept as of the snapshot; a change since may have extended it.
            if entry is not None and (entry if kind == FAMILY else entry[1]) <= now:
                del held[value]
        new_families, new_users = batch
        if not families and not users:  # a cold start's whole list: adopted, not copied
            self.families, self.users = new_families, new_users
            return
        for value, expires_at in new_families.items():
            remember(families, users, Revocation("", FAMILY, value, 0, expires_at))
        for value, (revoked_at, expires_at) in new_users.items():
            remember(families, users, Revocation("", USER, value, revoked_at, expires_at))


class RevocationList(TableMirror[Batch]):
    """Revoked families (origin_jti) and signed-out users (sub), as of the last Query."""

    def __init__(
        self,
        query: Query,
        *,
        refresh_seconds: float,
        max_stale_seconds: float,
        logger: logging.Logger,
        metrics: MetricsEmitter | None = None,
        clock: Callable[[], float],
        background: bool = True,
    ) -> None:
        self._ledger = RevocationLedger()
        super().__init__(
            query,
            self._ledger,
            refresh_seconds=refresh_seconds,
            max_stale_seconds=max_stale_seconds,
            logger=logger,
            unavailable=RevocationUnavailable,
            emit=None if metrics is None else metrics.revocation_refresh,
            clock=clock,
            background=background,
        )

    def check(self, verified: Verified) -> None:
        """Raise Revoked for a revoked token, RevocationUnavailable when the list is too old."""
        now = self.current()
        ledger = self._ledger
        origin_jti = verified.origin_jti
        if origin_jti is not None:
            expires_at = ledger.families.get(origin_jti)
            if expires_at is not None and now < expires_at:
                raise _revoked(verified, "token family is revoked")
        signed_out = ledger.users.get(verified.context.sub)
        if signed_out is not None and verified.issued_at <= signed_out[0] and now < signed_out[1]:
            raise _revoked(verified, "user signed out after this token was issued")


def remember(families: Families, users: Users, revocation: Revocation) -> None:
    """Add one revocation; a family or user named twice keeps the widest of the two."""
    value = revocation.value
    if revocation.kind == FAMILY:
        families[value] = max(families.get(value, 0), revocation.expires_at)
    else:
        revoked_at, expires_at = users.get(value, (0, 0))
        users[value] = (
            max(revoked_at, revocation.revoked_at),
            max(expires_at, revocation.expires_at),
        )


def _revoked(verified: Verified, message: str) -> Revoked:
    err = Revoked(message)
    err.kid, err.sub = verified.kid, verified.context.sub
    return err
