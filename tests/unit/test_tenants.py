"""The tenant registry's item format (authorizer/tables/tenants.py): written, then read."""

from __future__ import annotations

import copy
import re
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
    assert pool.issuer == f"https://cognito-idp.eu-west-1.amazonaws.com/{POOL}"
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


STATUSES = "status must be one of active, suspended, deleted"
POOL_FORM = "userPoolId must look like <region>_<id>"
TOKEN_USES = "tokenUse must be one of id, access, any"


def broken(mutate: Any) -> dict[str, Any]:
    raw = copy.deepcopy(item(attributes={"plan": "gold"}))
    mutate(raw)
    return raw


SORT_KEY = "sort key is not <epoch ms>#<tenantId>"
TENANT_ID = "tenantId must be a letter or digit, then 0-63 of A-Z a-z 0-9 _ . -"
CLIENTS = f"appClientIds must hold 1 to {MAX_CLIENTS} app client ids"
CLIENT_STRINGS = "appClientIds must hold distinct non-empty strings"
ATTRIBUTES = f"attributes must be a map of at most {MAX_ATTRIBUTES} strings"
ATTRIBUTE_NAME = "an attribute name is not [A-Za-z][A-Za-z0-9_-]{0,31}"
ATTRIBUTE_VALUE = "an attribute value is not printable text"
ATTRIBUTE_BYTES = f"an attribute value is over {MAX_ATTRIBUTE_VALUE_BYTES} bytes"
REPLICAS = "replicaRegions must be other regions, e.g. eu-west-1"


def setting(name: str, typed: Any) -> Any:
    return lambda r: r.__setitem__(name, typed)


def attribute(name: str, typed: Any) -> Any:
    return lambda r: r["attributes"]["M"].__setitem__(name, typed)


# Each rule's own message: fixed text, never the value that broke it.
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (setting("sk", {"S": "1760000000250#acme"}), SORT_KEY),  # 13 digits
        (setting("sk", {"S": "001760000000250acme"}), SORT_KEY),
        (setting("sk", {"S": "001760000000250#"}), SORT_KEY),
        (setting("sk", {"S": "001760000000250#-acme"}), TENANT_ID),
        (setting("sk", {"S": "001760000000250#" + "a" * 65}), TENANT_ID),
        (setting("sk", {"S": "001760000000250#ac me"}), TENANT_ID),
        (setting("sk", {"N": "1"}), "sk must be a non-empty string (S)"),
        (lambda r: r.__delitem__("sk"), "sk must be a non-empty string (S)"),
        (
            setting("tenantId", {"S": "other"}),
            "tenantId does not match the sort key",
        ),
        (setting("status", {"S": "paused"}), STATUSES),
        (setting("status", {"S": "Active"}), STATUSES),
        (lambda r: r.__delitem__("status"), "status must be a non-empty string (S)"),
        (lambda r: r.__delitem__("userPoolId"), "userPoolId must be a non-empty string (S)"),
        (setting("userPoolId", {"S": "TenantA1"}), POOL_FORM),
        (setting("userPoolId", {"S": f"{POOL} "}), POOL_FORM),
        (
            setting("userPoolId", {"S": POOL, "N": "1"}),
            "userPoolId must be a non-empty string (S)",
        ),
        (
            setting("userPoolId", {"S": ""}),
            "userPoolId must be a non-empty string (S)",
        ),
        (lambda r: r.__delitem__("appClientIds"), "appClientIds is required"),
        (setting("appClientIds", {"SS": []}), CLIENTS),
        (setting("appClientIds", {"SS": ["ok", "not ok"]}), CLIENTS),
        (
            lambda r: r.__setitem__(
                "appClientIds", {"SS": [f"c{n}" for n in range(MAX_CLIENTS + 1)]}
            ),
            CLIENTS,
        ),
        (setting("appClientIds", {"L": [{"S": "a"}, {"S": "a"}]}), CLIENT_STRINGS),
        (setting("appClientIds", {"L": [{"N": "1"}]}), CLIENT_STRINGS),
        (setting("appClientIds", {"L": ["clientA"]}), CLIENT_STRINGS),
        (setting("appClientIds", {"L": [{"S": "a", "N": "1"}]}), CLIENT_STRINGS),
        (setting("appClientIds", {"SS": [1]}), CLIENT_STRINGS),
        (setting("appClientIds", {"SS": [""]}), CLIENT_STRINGS),
        (
            setting("appClientIds", {"S": "clientA"}),
            "appClientIds must be a string set (SS) or a list of strings (L)",
        ),
        (setting("tokenUse", {"S": "refresh"}), TOKEN_USES),
        (setting("tokenUse", {"S": ""}), "tokenUse must be a non-empty string (S)"),
        (setting("replicaRegions", {"SS": ["eu-west-1"]}), REPLICAS),  # its own
        (setting("replicaRegions", {"SS": ["nowhere"]}), REPLICAS),
        (setting("attributes", {"S": "plan=gold"}), ATTRIBUTES),
        (setting("attributes", "plan=gold"), ATTRIBUTES),
        (attribute("1plan", {"S": "x"}), ATTRIBUTE_NAME),
        (attribute("tenant:x", {"S": "x"}), ATTRIBUTE_NAME),
        (attribute("n" * 33, {"S": "x"}), ATTRIBUTE_NAME),
        (attribute("tier", {"N": "3"}), ATTRIBUTE_VALUE),
        (attribute("tier", "3"), ATTRIBUTE_VALUE),
        (attribute("tier", {"S": "3", "N": "3"}), ATTRIBUTE_VALUE),
        (attribute("tier", {"S": "a\nb"}), ATTRIBUTE_VALUE),
        (attribute("tier", {"S": "x" * (MAX_ATTRIBUTE_VALUE_BYTES + 1)}), ATTRIBUTE_BYTES),
        # Bytes, not characters.
        (attribute("tier", {"S": "é" * (MAX_ATTRIBUTE_VALUE_BYTES // 2 + 1)}), ATTRIBUTE_BYTES),
        (
            lambda r: r["attributes"]["M"].update(
                {f"a{n}": {"S": "x"} for n in range(MAX_ATTRIBUTES)}
            ),
            ATTRIBUTES,
        ),
    ],
    ids=lambda value: (
        "item" if callable(value) else "-".join(re.findall(r"[a-z0-9]+", value.lower()))[:40]
    ),
)
def test_an_item_that_breaks_a_rule_is_refused_with_the_rules_message(
    mutate: Any, message: str
) -> None:
    with pytest.raises(InvalidTenant) as refused:
        parsed(broken(mutate))
    assert str(refused.value) == message


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
    with pytest.raises(InvalidTenant, match=rf"^attributes are over {MAX_ATTRIBUTES_BYTES} bytes$"):
        item(attributes=at_cap)


def test_a_writer_cannot_write_what_readers_skip() -> None:
    with pytest.raises(InvalidTenant, match=f"^{POOL_FORM}$"):
        item(user_pool_id="not-a-pool")
    with pytest.raises(InvalidTenant, match=r"^userPoolId must be a non-empty string \(S\)$"):
        tenant_item("acme", changed_at=T, status="active", app_client_ids=["clientA"])
    with pytest.raises(InvalidTenant, match=f"^{CLIENTS}$"):
        item(app_client_ids=[])
    with pytest.raises(InvalidTenant, match=f"^{re.escape(TENANT_ID)}$"):
        tenant_item("", changed_at=T, status="deleted")
    with pytest.raises(InvalidTenant, match=f"^{STATUSES}$"):
        item(status="gone")


def test_the_module_reads_only_the_standard_library_and_the_verification_core() -> None:
    source = Path(tenants.__file__).read_bytes()
    ours = {name for name in imported_modules(source) if name.startswith("authorizer")}
    assert ours == {
        "authorizer.tables.changelog",
        "authorizer.verification.config",
        "authorizer.verification.tenancy",
    }
