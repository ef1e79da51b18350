"""The tenant registry an authorizer instance holds in memory, refreshed from DynamoDB.

Imported only when ``TENANT_TABLE`` is set. The registry is kept current by
the mechanism every table kept in memory shares (``authorizer/tables/mirror.py``:
one Query for what changed, the refresh schedule, the wait bound, stale use
and then ``TenantRegistryUnavailable``); this module is only what its items
mean (``authorizer/tables/tenants.py``).

A lookup is two dictionary reads: the token's ``iss`` names a pool, the pool
its one live tenant. Each tenant is as its newest item makes it; a pool
claimed by two live tenants belongs to neither (its tokens are an unknown
issuer's, and a warning says which) until one of them changes, so every
instance agrees whatever order it read the changes in.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from authorizer.exceptions import TenantRegistryUnavailable
from authorizer.operations.metrics import MetricsEmitter
from authorizer.tables import mirror
from authorizer.tables.mirror import Expired, Query, TableMirror
from authorizer.tables.tenants import (
    PARTITION,
    PARTITION_KEY,
    READ_ATTRIBUTES,
    Deleted,
    InvalidTenant,
    KeyUrl,
    parse_tenant_item,
)
from authorizer.verification.config import PoolConfig
from authorizer.verification.tenancy import Tenant

# tenantId -> its newest item, as read in one refresh.
Batch = dict[str, Tenant | Deleted]


def dynamodb_query(table: str, client: Any = None) -> Query:
    """``changes_since(cursor)``: every tenant change with ``sk > cursor``, all pages."""
    return mirror.dynamodb_query(
        table,
        partition_key=PARTITION_KEY,
        partition=PARTITION,
        attributes=READ_ATTRIBUTES,
        client=client,
    )


class TenantLedger:
    """Every tenant's newest state, and which live tenant each pool and issuer belongs to."""

    name = "tenant registry"

    def __init__(self, key_url: KeyUrl, logger: logging.Logger) -> None:
        self._key_url = key_url
        self._logger = logger
        # Each tenant's newest sort key, deleted ones included: an older item read
        # again never brings one back.
        self.newest: dict[str, str] = {}
        self.tenants: dict[str, Tenant] = {}  # the live ones
        # The live (active or suspended) tenants claiming each pool, with the pool as each
        # names it: one claimant, or none of them is trusted.
        self.claims: dict[str, dict[str, PoolConfig]] = {}
        self.pool_of_issuer: dict[str, str] = {}
        # Each pool with exactly one claimant, and that tenant: a request's one lookup.
        self.owners: dict[str, Tenant] = {}

    def __len__(self) -> int:
        """The live tenants."""
        return len(self.tenants)

    def batch(self) -> Batch:
        return {}

    def add(self, batch: Batch, item: dict[str, Any], started: float) -> bool:
        try:
            tenant = parse_tenant_item(item, self._key_url)
        except InvalidTenant:
            return False
        held = batch.get(tenant.tenant_id)
        if held is None or tenant.sort_key > held.sort_key:
            batch[tenant.tenant_id] = tenant
        return True

    def sweep(self, now: float) -> None:
        return None  # every item matters until a newer one replaces it

    def apply(self, batch: Batch, expired: Expired, now: float) -> None:
        for change in batch.values():
            tenant_id = change.tenant_id
            newest = self.newest.get(tenant_id)
            if newest is not None and change.sort_key <= newest:
                continue  # read again (the overlap) or older than what is held
            self.newest[tenant_id] = change.sort_key
            held = self.tenants.pop(tenant_id, None)
            if held is not None:
                self._release(tenant_id, held.pool)
            if isinstance(change, Tenant):
                self.tenants[tenant_id] = change
                self._claim(tenant_id, change.pool)

    def _settle(self, user_pool_id: str) -> None:
        """The pool's owner: its one claimant, or none while two (or none) claim it."""
        claimants = self.claims.get(user_pool_id, {})
        if len(claimants) == 1:
            [tenant_id] = claimants
            self.owners[user_pool_id] = self.tenants[tenant_id]
        else:
            self.owners.pop(user_pool_id, None)

    def _claim(self, tenant_id: str, pool: PoolConfig) -> None:
        owners = self.claims.setdefault(pool.user_pool_id, {})
        owners[tenant_id] = pool
        for issuer in pool.issuers:
            self.pool_of_issuer[issuer] = pool.user_pool_id
        self._settle(pool.user_pool_id)
        if len(owners) > 1:
            self._logger.warning(
                "tenant registry names a user pool for two live tenants; "
                "its tokens are denied until one of them changes",
                extra={"userPoolId": pool.user_pool_id, "tenantIds": sorted(owners)},
            )

    def _release(self, tenant_id: str, pool: PoolConfig) -> None:
        owners = self.claims[pool.user_pool_id]
        del owners[tenant_id]
        if not owners:
            del self.claims[pool.user_pool_id]
        # An issuer stays only while another claimant's pool still issues it.
        still_issued = set().union(*(other.issuers for other in owners.values()))
        for issuer in pool.issuers - still_issued:
            del self.pool_of_issuer[issuer]
        self._settle(pool.user_pool_id)


class TenantRegistry(TableMirror[Batch]):
    """The registry's live tenants, as of the last Query (a ``TenantDirectory``)."""

    def __init__(
        self,
        query: Query,
        *,
        key_url: KeyUrl,
        refresh_seconds: float,
        max_stale_seconds: float,
        logger: logging.Logger,
        metrics: MetricsEmitter | None = None,
        clock: Callable[[], float],
        background: bool = True,
    ) -> None:
        self._ledger = TenantLedger(key_url, logger)
        super().__init__(
            query,
            self._ledger,
            refresh_seconds=refresh_seconds,
            max_stale_seconds=max_stale_seconds,
            logger=logger,
            unavailable=TenantRegistryUnavailable,
            emit=None if metrics is None else metrics.tenant_registry_refresh,
            clock=clock,
            background=background,
        )

    def tenant_for_issuer(self, issuer: str) -> Tenant | None:
        self.current()
        user_pool_id = self._ledger.pool_of_issuer.get(issuer)
        return None if user_pool_id is None else self._ledger.owners.get(user_pool_id)

    def tenant_of_pool(self, user_pool_id: str) -> Tenant | None:
        self.current()
        return self._ledger.owners.get(user_pool_id)

    def tenant(self, tenant_id: str) -> Tenant | None:
        """A live tenant by id (for tools and tests); no refresh."""
        return self._ledger.tenants.get(tenant_id)
