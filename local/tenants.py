"""``make run TENANTS=<n>``: a pool per tenant in the local Cognito, registered in the registry.

Each tenant gets a pool of its own with the demo user, and an item in the
template's tenant registry (``TenantRegistry=true``), written in the public
item format the operators' tools write (``authorizer/tables/tenants.py``)
before any function starts. The authorizer fetches a tenant's keys from the
local Cognito (``TENANT_JWKS_URL``), as it would from the pool's own host.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from authorizer.tables.tenants import tenant_item
from local.cognito import LocalPool, aws_client, bootstrap
from local.exceptions import StartupError

REGISTRY_PARAMETER: Final = "TenantRegistry"
REGISTRY_TABLE: Final = "TenantTable"
NAMES: Final = ("acme", "globex", "initech", "umbrella", "hooli")
PLANS: Final = ("gold", "silver", "bronze", "gold", "silver")
MAX_LOCAL_TENANTS: Final = len(NAMES)


@dataclass(frozen=True)
class LocalTenant:
    tenant_id: str
    plan: str
    pool: LocalPool

    def to_dict(self) -> dict[str, Any]:
        return {"tenantId": self.tenant_id, "plan": self.plan, **self.pool.to_dict()}


def make_tenants(endpoint: str, count: int) -> list[LocalTenant]:
    """``count`` tenants, each with its own local pool and demo user."""
    return [
        LocalTenant(name, plan, bootstrap(endpoint, f"offline-tenant-{name}"))
        for name, plan in zip(NAMES[:count], PLANS, strict=False)
    ]


def key_url(endpoint: str) -> str:
    """TENANT_JWKS_URL: every tenant's keys from the local Cognito, by its pool id."""
    return f"{endpoint}/{{userPoolId}}/.well-known/jwks.json"


def register(tenants: list[LocalTenant], tables: Mapping[str, str], endpoint: str) -> str:
    """Write each tenant's item into the template's registry; the table's name."""
    table = tables.get(REGISTRY_TABLE)
    if table is None:
        raise StartupError(
            f"TENANTS needs a template with the tenant registry ({REGISTRY_PARAMETER}): "
            "template.yaml, template-rest.yaml or one that names the authorizer by ARN"
        )
    client = aws_client("dynamodb", endpoint)
    now = time.time()
    for tenant in tenants:
        client.put_item(
            TableName=table,
            Item=tenant_item(
                tenant.tenant_id,
                changed_at=now,
                status="active",
                user_pool_id=tenant.pool.user_pool_id,
                app_client_ids=[tenant.pool.client_id],
                attributes={"plan": tenant.plan},
            ),
        )
    return table
