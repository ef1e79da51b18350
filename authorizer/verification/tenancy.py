"""What the verifier knows of a registered tenant, and how it asks the registry for one.

The registry itself (a DynamoDB table kept in memory) lives in
``authorizer/tables/``; the verifier sees it only through ``TenantDirectory``,
so the verification core never imports the tables above it.
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

from authorizer.verification.config import PoolConfig
from authorizer.verification.keysets import KeySets

ACTIVE: Final = "active"
SUSPENDED: Final = "suspended"
DELETED: Final = "deleted"
STATUSES: Final = (ACTIVE, SUSPENDED, DELETED)


class Tenant(NamedTuple):
    """A live (active or suspended) tenant as the registry's newest item for it names it.

    A new object for every change: the verifier recognises an unchanged
    tenant by identity (a remembered token of a changed tenant is verified
    afresh against the change).
    """

    tenant_id: str
    status: str
    pool: PoolConfig
    # Small flat attributes for the backend (a plan, a region), in name order.
    attributes: tuple[tuple[str, str], ...]
    # The item's sort key: the newest change wins.
    sort_key: str

    @property
    def active(self) -> bool:
        """Its tokens may be allowed; a suspended tenant's are denied."""
        return self.status == ACTIVE


class TenantDirectory(Protocol):
    """The registry as the verifier reads it; each call keeps the registry within its bound.

    Both raise TenantRegistryUnavailable (no decision) when the registry has
    not been read within its maximum staleness.
    """

    def tenant_for_issuer(self, issuer: str) -> Tenant | None:
        """The live (active or suspended) tenant whose pool issues ``issuer``, if any."""
        ...

    def tenant_of_pool(self, user_pool_id: str) -> Tenant | None:
        """The live tenant whose pool this is, if any."""
        ...


class Tenancy(NamedTuple):
    """What the verifier needs with the registry on: the tenants and their key sets."""

    directory: TenantDirectory
    key_sets: KeySets
