"""docs/tenants.md's item format table, held to authorizer/tables/tenants.py: each attribute,
its type, whether it is required, and the limits the table states."""

from __future__ import annotations

import re
from typing import Any, Final

import pytest

from authorizer.tables import tenants
from authorizer.tables.tenants import InvalidTenant, parse_tenant_item, tenant_item
from authorizer.verification.config import TOKEN_USES, default_jwks_url
from authorizer.verification.tenancy import STATUSES
from tests.docs.pages import collapsed, section, table_rows

FORMAT: Final = section("docs/tenants.md", "The item format")
ROWS: Final = {re.findall(r"`(\w+)`", row[0])[0]: row for row in table_rows(FORMAT, "attribute")}
T: Final = 1_796_630_000.0


def full_item(status: str = "active") -> dict[str, Any]:
    return tenant_item(
        "acme",
        changed_at=T,
        status=status,
        user_pool_id="eu-west-1_AbC123",
        app_client_ids=["client1"],
        token_use="id",
        replica_regions=["us-west-2"],
        attributes={"plan": "gold"},
    )


def accepted(item: dict[str, Any]) -> bool:
    try:
        parse_tenant_item(item, default_jwks_url)
    except InvalidTenant:
        return False
    return True


def test_the_table_names_every_attribute_a_reader_reads_and_no_other() -> None:
    assert set(ROWS) == {tenants.PARTITION_KEY, *tenants.READ_ATTRIBUTES}
    assert set(ROWS) == set(full_item())


@pytest.mark.parametrize("attribute", sorted(ROWS))
def test_each_attributes_type_is_what_the_writer_writes(attribute: str) -> None:
    documented = ROWS[attribute][1]
    [written] = full_item()[attribute]
    assert documented.split()[0] == written
    if "(or L of S)" in documented:
        item = full_item()
        item[attribute] = {"L": [{"S": value} for value in item[attribute]["SS"]]}
        assert accepted(item)


@pytest.mark.parametrize("attribute", sorted(ROWS))
def test_each_attribute_is_required_as_the_table_says(attribute: str) -> None:
    required = ROWS[attribute][2]
    if attribute == tenants.PARTITION_KEY:
        # The table's key: DynamoDB refuses an item without it, and a reader's Query names it.
        assert required == "yes"
        return
    active = {k: v for k, v in full_item().items() if k != attribute}
    deleted_item = full_item("deleted")
    deleted = {k: v for k, v in deleted_item.items() if k != attribute}
    if required == "yes":
        assert not accepted(active)
        assert not accepted(deleted)
    elif required == "unless deleted":
        assert not accepted(active)
        assert accepted(deleted)
    else:
        assert required == "no"
        assert accepted(active)


def test_the_values_and_limits_the_table_states_are_the_codes() -> None:
    text = collapsed(FORMAT)
    assert f"always `{tenants.PARTITION}`" in text
    assert all(f"`{status}`" in ROWS["status"][3] for status in STATUSES)
    assert all(f"`{use}`" in ROWS["tokenUse"][3] for use in TOKEN_USES)
    assert f"1 to {tenants.MAX_CLIENTS}" in ROWS["appClientIds"][3]
    attributes = ROWS["attributes"][3]
    assert (
        f"at most {tenants.MAX_ATTRIBUTES} names of `{tenants.ATTRIBUTE_NAME_PATTERN.pattern}`"
        in (attributes)
    )
    assert f"at most {tenants.MAX_ATTRIBUTE_VALUE_BYTES} bytes" in attributes
    assert f"at most {tenants.MAX_ATTRIBUTES_BYTES} bytes in all" in attributes
    assert tenants.TENANT_ID_PATTERN.pattern == r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
    assert "a letter or digit, then up to 63 of `A-Z a-z 0-9 _ . -`" in ROWS["sk"][3]
    [example] = re.findall(r"e\.g\. `([^`]+)`", ROWS["sk"][3])
    assert example == tenants.tenant_sort_key("acme", T)
