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
        if revocation.expires_at <= started:
            return True  # it covers nothing any more
        families, users = batch
        if revocation.kind == FAMILY:
            _remember_family(families, revocation.value, revocation.expires_at)
        else:
            _remember_user(users, revocation.value, revocation.revoked_at, revocation.expires_at)
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
        # Expired as of the refresh's start: only the request's thread changes the
        # dictionaries, and it has not since (one refresh in flight at a time); what
        # the refresh read again is added back below.
        for kind, value in expired:
            (families if kind == FAMILY else users).pop(value, None)
        new_families, new_users = batch
        if not families and not users:  # a cold start's whole list: adopted, not copied
            self.families, self.users = new_families, new_users
            return
        for value, expires_at in new_families.items():
            _remember_family(families, value, expires_at)
        for value, (revoked_at, expires_at) in new_users.items():
            _remember_user(users, value, revoked_at, expires_at)


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


def _remember_family(families: Families, value: str, expires_at: int) -> None:
    """A family named twice keeps the later of the two expiries."""
    held = families.get(value)
    families[value] = expires_at if held is None else max(held, expires_at)


def _remember_user(users: Users, value: str, revoked_at: int, expires_at: int) -> None:
    """A user named twice keeps the later sign-out and the later expiry."""
    held = users.get(value)
    users[value] = (
        (revoked_at, expires_at)
        if held is None
        else (max(held[0], revoked_at), max(held[1], expires_at))
    )


def _revoked(verified: Verified, message: str) -> Revoked:
    err = Revoked(message)
    err.kid, err.sub = verified.kid, verified.context.sub
    return err
