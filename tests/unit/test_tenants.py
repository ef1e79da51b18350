"""The tenant registry's item format (authorizer/tables/tenants.py): written, then read."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from authorizer.tables import tenants
from authorizer.tables.changelog import cursor
from authorizer.tables.tenants import (
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_ATTRIBUTES_BYTES,
    MAX_CLIENTS,
    Deleted,
    InvalidTenant,
    parse_tenant_item,
    tenant_item,
    tenant_sort_key,
)
from authorizer.verification.config import default_jwks_url, pool_issuers
from authorizer.verification.tenancy import Tenant
from tests.imports import imported_modules

T = 1_760_000_000.25
POOL = "eu-west-1_TenantA1"


def item(**state: Any) -> dict[str, Any]:
    state.setdefault("status", "active")
    state.setdefault("user_pool_id", POOL)
    state.setdefault("app_client_ids", ["clientA"])
    return tenant_item("acme", changed_at=T, **state)


def parsed(raw: dict[str, Any]) -> Tenant | Deleted:
    return parse_tenant_item(raw, default_jwks_url)


def test_round_trip_of_an_active_tenant() -> None:
    raw = item(
        app_client_ids=["clientB", "clientA"],
        token_use="access",
        replica_regions=["us-west-2"],
        attributes={"plan": "gold", "region": "eu"},
    )
    assert raw == {
        "pk": {"S": "tenants"},
        "sk": {"S": "001760000000250#acme"},
        "tenantId": {"S": "acme"},
        "status": {"S": "active"},
        "userPoolId": {"S": POOL},
        "appClientIds": {"SS": ["clientA", "clientB"]},
        "tokenUse": {"S": "access"},
        "replicaRegions": {"SS": ["us-west-2"]},
        "attributes": {"M": {"plan": {"S": "gold"}, "region": {"S": "eu"}}},
    }
    tenant = parsed(raw)
    assert isinstance(tenant, Tenant)
    assert (tenant.tenant_id, tenant.status, tenant.sort_key) == (
        "acme",
        "active",
        "001760000000250#acme",
    )
    assert tenant.attributes == (("plan", "gold"), ("region", "eu"))
    pool = tenant.pool
    assert pool.user_pool_id == POOL
    assert pool.region == "eu-west-1"
    assert pool.app_client_ids == {"clientA", "clientB"}
    assert pool.token_use == "access"
    # Both issuer forms and the replica's, as a configured pool's.
    assert pool.issuers == pool_issuers("eu-west-1", POOL, ["us-west-2"])
    assert (
        pool.jwks_url == f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}/.well-known/jwks.json"
    )


def test_keys_come_from_where_the_deploy_says_never_from_the_item() -> None:
    raw = item()
    raw["jwksUrl"] = {"S": "https://evil.example/jwks.json"}  # an attribute readers ignore
    tenant = parse_tenant_item(raw, lambda region, pool: f"http://127.0.0.1:9229/{pool}/jwks")
    assert isinstance(tenant, Tenant)
    assert tenant.pool.jwks_url == f"http://127.0.0.1:9229/{POOL}/jwks"


def test_defaults_and_the_list_form() -> None:
    raw = item()
    assert "tokenUse" in raw
    del raw["tokenUse"], raw["tenantId"]
    raw["appClientIds"] = {"L": [{"S": "clientA"}, {"S": "clientC"}]}
    raw["replicaRegions"] = {"L": [{"S": "eu-central-1"}]}
    tenant = parsed(raw)
    assert isinstance(tenant, Tenant)
    assert tenant.pool.token_use == "any"
    assert tenant.pool.app_client_ids == {"clientA", "clientC"}
    assert f"https://cognito-idp.eu-central-1.amazonaws.com/{POOL}" in tenant.pool.issuers


def test_a_deleted_tenant_needs_no_pool() -> None:
    raw = tenant_item("acme", changed_at=T, status="deleted")
    assert set(raw) == {"pk", "sk", "tenantId", "status"}
    assert parsed(raw) == Deleted("acme", "001760000000250#acme")


def test_a_suspended_tenant_keeps_its_pool() -> None:
    tenant = parsed(item(status="suspended"))
    assert isinstance(tenant, Tenant)
    assert tenant.status == "suspended"
    assert tenant.pool.user_pool_id == POOL


def test_sort_keys_order_by_time_then_tenant() -> None:
    assert tenant_sort_key("zeta", T) < tenant_sort_key("alpha", T + 0.001)
    assert cursor(T) < tenant_sort_key("acme", T) < cursor(T + 0.001)


def broken(mutate: Any) -> dict[str, Any]:
    raw = copy.deepcopy(item(attributes={"plan": "gold"}))
    mutate(raw)
    return raw


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r.__setitem__("sk", {"S": "1760000000250#acme"}),  # 13 digits
        lambda r: r.__setitem__("sk", {"S": "001760000000250acme"}),
        lambda r: r.__setitem__("sk", {"S": "001760000000250#"}),
        lambda r: r.__setitem__("sk", {"S": "001760000000250#-acme"}),
        lambda r: r.__setitem__("sk", {"S": "001760000000250#" + "a" * 65}),
        lambda r: r.__setitem__("sk", {"S": "001760000000250#ac me"}),
        lambda r: r.__setitem__("sk", {"N": "1"}),
        lambda r: r.__delitem__("sk"),
        lambda r: r.__setitem__("tenantId", {"S": "other"}),
        lambda r: r.__setitem__("status", {"S": "paused"}),
        lambda r: r.__setitem__("status", {"S": "Active"}),
        lambda r: r.__delitem__("status"),
        lambda r: r.__delitem__("userPoolId"),
        lambda r: r.__setitem__("userPoolId", {"S": "TenantA1"}),
        lambda r: r.__setitem__("userPoolId", {"S": f"{POOL} "}),
        lambda r: r.__setitem__("userPoolId", {"S": POOL, "N": "1"}),
        lambda r: r.__delitem__("appClientIds"),
        lambda r: r.__setitem__("appClientIds", {"SS": []}),
        lambda r: r.__setitem__("appClientIds", {"SS": ["ok", "not ok"]}),
        lambda r: r.__setitem__("appClientIds", {"SS": [f"c{n}" for n in range(MAX_CLIENTS + 1)]}),
        lambda r: r.__setitem__("appClientIds", {"L": [{"S": "a"}, {"S": "a"}]}),
        lambda r: r.__setitem__("appClientIds", {"L": [{"N": "1"}]}),
        lambda r: r.__setitem__("appClientIds", {"S": "clientA"}),
        lambda r: r.__setitem__("tokenUse", {"S": "refresh"}),
        lambda r: r.__setitem__("tokenUse", {"S": ""}),
        lambda r: r.__setitem__("replicaRegions", {"SS": ["eu-west-1"]}),  # its own region
        lambda r: r.__setitem__("replicaRegions", {"SS": ["nowhere"]}),
        lambda r: r.__setitem__("attributes", {"S": "plan=gold"}),
        lambda r: r["attributes"]["M"].__setitem__("1plan", {"S": "x"}),
        lambda r: r["attributes"]["M"].__setitem__("tenant:x", {"S": "x"}),
        lambda r: r["attributes"]["M"].__setitem__("n" * 33, {"S": "x"}),
        lambda r: r["attributes"]["M"].__setitem__("tier", {"N": "3"}),
        lambda r: r["attributes"]["M"].__setitem__("tier", {"S": "a\nb"}),
        lambda r: r["attributes"]["M"].__setitem__(
            "tier", {"S": "x" * (MAX_ATTRIBUTE_VALUE_BYTES + 1)}
        ),
        lambda r: r["attributes"]["M"].__setitem__(
            "tier",
            {"S": "é" * (MAX_ATTRIBUTE_VALUE_BYTES // 2 + 1)},  # bytes, not characters
        ),
        lambda r: r["attributes"]["M"].update({f"a{n}": {"S": "x"} for n in range(MAX_ATTRIBUTES)}),
    ],
)
def test_an_item_that_breaks_a_rule_is_refused(mutate: Any) -> None:
    with pytest.raises(InvalidTenant):
        parsed(broken(mutate))


def test_the_limits_themselves_are_accepted() -> None:
    names = {f"a{n}": "x" * 100 for n in range(MAX_ATTRIBUTES)}
    assert sum(len(k) + len(v) for k, v in names.items()) <= MAX_ATTRIBUTES_BYTES
    tenant = parsed(
        item(
            app_client_ids=[f"c{n}" for n in range(MAX_CLIENTS)],
            attributes={"a" * 32: "é" * (MAX_ATTRIBUTE_VALUE_BYTES // 2)},
        )
    )
    assert isinstance(tenant, Tenant)
    assert isinstance(parsed(item(attributes=names)), Tenant)
    assert isinstance(parsed(item(attributes={})), Tenant)
    tenant_id = "A" + "b.c_d-" * 10 + "xyz"
    assert len(tenant_id) == 64
    assert tenant_item(tenant_id, changed_at=T, status="deleted")["tenantId"] == {"S": tenant_id}


def test_the_whole_map_is_capped_in_bytes() -> None:
    # Ten values of 100 bytes and short names: 1,020 bytes; one more byte is too many.
    at_cap = {f"a{n}": "x" * 100 for n in range(MAX_ATTRIBUTES)}
    at_cap["a0"] = "x" * 104
    assert sum(len(k) + len(v.encode()) for k, v in at_cap.items()) == MAX_ATTRIBUTES_BYTES
    assert isinstance(parsed(item(attributes=at_cap)), Tenant)
    at_cap["a0"] += "x"
    with pytest.raises(InvalidTenant):
        item(attributes=at_cap)


def test_a_writer_cannot_write_what_readers_skip() -> None:
    with pytest.raises(InvalidTenant):
        item(user_pool_id="not-a-pool")
    with pytest.raises(InvalidTenant):
        item(app_client_ids=[])
    with pytest.raises(InvalidTenant):
        tenant_item("", changed_at=T, status="deleted")
    with pytest.raises(InvalidTenant):
        item(status="gone")


def test_the_module_reads_only_the_standard_library_and_the_verification_core() -> None:
    source = Path(tenants.__file__).read_bytes()
    ours = {name for name in imported_modules(source) if name.startswith("authorizer")}
    assert ours == {
        "authorizer.tables.changelog",
        "authorizer.verification.config",
        "authorizer.verification.tenancy",
    }
