"""make tenant-add / tenant-suspend / tenant-resume / tenant-delete / tenants (scripts/tenants.py)
against moto's Cognito and DynamoDB: what it writes is what the authorizer reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from authorizer.tables.registry import TenantRegistry
from authorizer.tables.registry import dynamodb_query as registry_query
from authorizer.tables.tenants import Deleted
from scripts import tenants
from scripts.tenants import Registry, TenantToolError, add, main, read, set_status
from tests.helpers import FakeClock, create_change_log_table

T = 1_780_000_000.0


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import boto3

        cognito = boto3.client("cognito-idp")
        dynamodb = boto3.client("dynamodb")
        create_change_log_table(dynamodb, "tenants")
        pools = {}
        for name in ("acme", "globex"):
            pool = cognito.create_user_pool(PoolName=name)["UserPool"]["Id"]
            client = cognito.create_user_pool_client(UserPoolId=pool, ClientName=name)
            pools[name] = (pool, client["UserPoolClient"]["ClientId"])
        yield {
            "registry": Registry("tenants", cognito, dynamodb, "moto"),
            "pools": pools,
            "dynamodb": dynamodb,
        }


def items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    return list(aws["dynamodb"].scan(TableName="tenants")["Items"])


def as_the_authorizer_reads_it(aws: dict[str, Any]) -> TenantRegistry:
    import logging

    registry = TenantRegistry(
        registry_query("tenants", aws["dynamodb"]),
        key_url=lambda region, pool: f"https://keys.example/{pool}",
        refresh_seconds=10,
        max_stale_seconds=120,
        logger=logging.getLogger("test"),
        clock=FakeClock(),
    )
    assert registry.load()
    return registry


def owner(aws: dict[str, Any], pool: str) -> tuple[str, str]:
    """The live tenant of ``pool`` as the authorizer reads the table: its id and status."""
    tenant = as_the_authorizer_reads_it(aws).tenant_of_pool(pool)
    assert tenant is not None
    return tenant.tenant_id, tenant.status


def test_add_writes_what_the_authorizer_reads(aws: dict[str, Any]) -> None:
    pool, client = aws["pools"]["acme"]
    add(
        aws["registry"],
        "acme",
        user_pool_id=pool,
        app_client_ids=[client],
        attributes={"plan": "gold"},
        now=T,
    )
    registry = as_the_authorizer_reads_it(aws)
    tenant = registry.tenant("acme")
    assert tenant is not None
    assert tenant.status == "active"
    assert tenant.pool.app_client_ids == {client}
    assert tenant.attributes == (("plan", "gold"),)
    assert registry.tenant_of_pool(pool) is tenant


def test_each_change_replaces_the_tenants_items_and_keeps_the_newest_only(
    aws: dict[str, Any],
) -> None:
    pool, client = aws["pools"]["acme"]
    registry = aws["registry"]
    add(registry, "acme", user_pool_id=pool, app_client_ids=[client], now=T)
    set_status(registry, "acme", "suspended", now=T)  # same second: still stamped later
    [only] = items(aws)
    assert only["status"] == {"S": "suspended"}
    assert only["sk"]["S"] > f"{int(T * 1000):015d}#acme"
    assert only["userPoolId"] == {"S": pool}
    assert owner(aws, pool) == ("acme", "suspended")
    set_status(registry, "acme", "active", now=T + 5)
    assert owner(aws, pool) == ("acme", "active")
    assert isinstance(set_status(registry, "acme", "deleted", now=T + 6), Deleted)
    [tombstone] = items(aws)
    assert set(tombstone) == {"pk", "sk", "tenantId", "status"}
    assert as_the_authorizer_reads_it(aws).tenant_of_pool(pool) is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda r, p: add(r, "acme", user_pool_id="us-east-1_Missing1", app_client_ids=["c"]),
            "user pool us-east-1_Missing1 does not exist",
        ),
        (
            lambda r, p: add(r, "acme", user_pool_id=p["acme"][0], app_client_ids=["nope"]),
            "app client nope is not a client of ",
        ),
        (
            # A client of another pool is not this pool's.
            lambda r, p: add(r, "acme", user_pool_id=p["acme"][0], app_client_ids=[p["globex"][1]]),
            "is not a client of",
        ),
        (
            lambda r, p: add(r, "acme", user_pool_id="not-a-pool", app_client_ids=["c"]),
            "'not-a-pool' is not a user pool id",
        ),
        (
            lambda r, p: add(r, "acme", user_pool_id=p["acme"][0], app_client_ids=[]),
            "name the tenant's app clients",
        ),
        (lambda r, p: set_status(r, "nobody", "suspended"), "no tenant 'nobody' in the registry"),
        (
            lambda r, p: add(
                r,
                "bad id!",
                user_pool_id=p["acme"][0],
                app_client_ids=[p["acme"][1]],
            ),
            "tenantId must be",
        ),
    ],
)
def test_a_change_that_cannot_be_made_says_why_and_writes_nothing(
    aws: dict[str, Any], change: Any, message: str
) -> None:
    with pytest.raises(TenantToolError, match=message.replace("'", ".")):
        change(aws["registry"], aws["pools"])
    assert items(aws) == []


def test_a_pool_belongs_to_one_tenant(aws: dict[str, Any]) -> None:
    pool, client = aws["pools"]["acme"]
    registry = aws["registry"]
    add(registry, "acme", user_pool_id=pool, app_client_ids=[client], now=T)
    with pytest.raises(TenantToolError, match=f"user pool {pool} is tenant acme's"):
        add(registry, "other", user_pool_id=pool, app_client_ids=[client], now=T + 1)
    set_status(registry, "acme", "deleted", now=T + 2)
    add(registry, "other", user_pool_id=pool, app_client_ids=[client], now=T + 3)
    assert owner(aws, pool) == ("other", "active")


def test_the_listing_is_the_authorizers_view(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = aws["registry"]
    for name, (pool, client) in aws["pools"].items():
        add(registry, name, user_pool_id=pool, app_client_ids=[client], now=T)
    set_status(registry, "globex", "deleted", now=T + 1)
    monkeypatch.setattr(tenants, "aws_registry", lambda *args: registry)
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "1 live tenant(s) in moto (tenants)"
    assert '"tenantId": "acme"' in out[1]
    assert '"status": "active"' in out[1]
    assert out[2] == "deleted: globex"
    assert set(read(registry).live) == {"acme"}


def test_the_command_line_names_what_it_did_and_refuses_by_exit_status(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tenants, "aws_registry", lambda *args: aws["registry"])
    pool, client = aws["pools"]["acme"]
    argv = ["add", "--tenant", "acme", "--user-pool-id", pool, "--clients", client]
    assert main([*argv, "--attributes", "plan=gold region=eu"]) == 0
    assert capsys.readouterr().out.startswith("registered tenant acme in moto (tenants)")
    assert main(["suspend", "--tenant", "acme"]) == 0
    assert main(["suspend", "--tenant", "ghost"]) == 1
    assert capsys.readouterr().err.strip() == "error: no tenant 'ghost' in the registry (tenants)"
    assert main([*argv, "--attributes", "plan"]) == 1
    assert "ATTRS takes name=value pairs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["suspend"])  # no tenant named


def test_the_stack_output_names_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.test_revoke_script import fake_aws

    asked = fake_aws(monkeypatch, {"TenantTableName": "t-123"})
    registry = tenants.aws_registry(None, "eu-west-1", None, "default")
    assert registry.table == "t-123"
    assert asked.asked == ["cognito-lambda-authorizer"]
    fake_aws(monkeypatch, {})
    with pytest.raises(TenantToolError, match="has no TenantTableName output"):
        tenants.aws_registry("mine", None, None, "default")
    asked = fake_aws(monkeypatch, {})
    assert tenants.aws_registry("mine", None, "given", "default").table == "given"
    assert asked.asked == []
