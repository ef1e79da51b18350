"""``make tenant-add``, ``make tenant-suspend``, ``make tenant-resume``, ``make tenant-delete``,
``make tenants``: the tenant registry, from an operator's terminal.

Each change writes one item in the registry's public format
(``authorizer/tables/tenants.py``): the tenant as it is from now on, stamped
later than any item of it before, and then removes the items it replaces.
Every authorizer instance applies it within its refresh interval
(``TenantRefreshSeconds``). Before writing a tenant, the tool checks with
Cognito that its user pool exists and that each app client is the pool's,
and with the registry that no other live tenant holds the pool.

Against a deployed stack (the default): the stack's ``TenantTableName``
output, found by stack name (``STACK``, else samconfig.toml's) and region
(``REGION``, else samconfig.toml's, else the SDK's); ``TABLE`` overrides it.
The caller's AWS credentials need ``cloudformation:DescribeStacks`` (unless
``TABLE`` is given), ``cognito-idp:DescribeUserPool`` and
``cognito-idp:DescribeUserPoolClient`` on the tenants' pools, and
``dynamodb:Query``, ``dynamodb:PutItem`` and ``dynamodb:DeleteItem`` on the
table. ``OFFLINE=1``: the stack ``make run TENANTS=<n>`` is serving.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from authorizer.tables.changelog import MS_DIGITS
from authorizer.tables.registry import TenantLedger
from authorizer.tables.tenants import (
    PARTITION,
    PARTITION_KEY,
    Deleted,
    InvalidTenant,
    parse_tenant_item,
    tenant_item,
)
from authorizer.verification.config import TOKEN_USES, default_jwks_url, pool_region
from authorizer.verification.tenancy import ACTIVE, DELETED, SUSPENDED, Tenant
from scripts.revoke import offline_stack, samconfig_defaults, stack_outputs

TABLE_OUTPUT = "TenantTableName"
TABLE_LOGICAL_ID = "TenantTable"


class TenantToolError(Exception):
    """What stops a change, said for the operator (exit status 1)."""


class Registry(NamedTuple):
    table: str
    cognito: Any
    dynamodb: Any
    where: str


class Listed(NamedTuple):
    """The registry as the authorizer folds it, and every item of each tenant (for cleanup)."""

    live: dict[str, Tenant]
    newest: dict[str, str]
    # Each tenant's items by sort key, readable or not.
    items: dict[str, dict[str, dict[str, Any]]]
    unreadable: int


def read(registry: Registry) -> Listed:
    """Every item, folded by the authorizer's own ledger."""
    ledger = TenantLedger(default_jwks_url, _quiet_logger())
    batch = ledger.batch()
    items: dict[str, dict[str, dict[str, Any]]] = {}
    unreadable = 0
    for item in _all_items(registry):
        sort_key = item["sk"]["S"]
        items.setdefault(sort_key[MS_DIGITS + 1 :], {})[sort_key] = item
        if not ledger.add(batch, item, 0.0):
            unreadable += 1
    ledger.apply(batch, [], time.time())
    return Listed(dict(ledger.tenants), dict(ledger.newest), items, unreadable)


def add(
    registry: Registry,
    tenant_id: str,
    *,
    user_pool_id: str,
    app_client_ids: Sequence[str],
    token_use: str = "any",  # noqa: S107 - Cognito's token_use claim, not a password
    replica_regions: Sequence[str] = (),
    attributes: dict[str, str] | None = None,
    now: float | None = None,
) -> Tenant | Deleted:
    """Register ``tenant_id`` (or replace what it was) as an active tenant."""
    check_pool(registry.cognito, user_pool_id, app_client_ids)
    listed = read(registry)
    for other in listed.live.values():
        if other.pool.user_pool_id == user_pool_id and other.tenant_id != tenant_id:
            raise TenantToolError(
                f"user pool {user_pool_id} is tenant {other.tenant_id}'s: "
                "a pool belongs to one tenant (delete that one first)"
            )
    return _write(
        registry,
        listed,
        tenant_id,
        now,
        status=ACTIVE,
        user_pool_id=user_pool_id,
        app_client_ids=app_client_ids,
        token_use=token_use,
        replica_regions=replica_regions,
        attributes=attributes,
    )


def set_status(
    registry: Registry, tenant_id: str, status: str, *, now: float | None = None
) -> Tenant | Deleted:
    """Suspend, resume or delete a registered tenant, keeping the rest of it as it is."""
    listed = read(registry)
    if tenant_id not in listed.live:
        raise TenantToolError(f"no tenant {tenant_id!r} in the registry ({registry.table})")
    if status == DELETED:
        return _write(registry, listed, tenant_id, now, status=DELETED)
    held = plain(listed.items[tenant_id][listed.newest[tenant_id]])
    return _write(
        registry,
        listed,
        tenant_id,
        now,
        status=status,
        user_pool_id=held["userPoolId"],
        app_client_ids=held["appClientIds"],
        token_use=held.get("tokenUse", "any"),
        replica_regions=held.get("replicaRegions", []),
        attributes=held.get("attributes", {}),
    )


def check_pool(cognito: Any, user_pool_id: str, app_client_ids: Sequence[str]) -> None:
    """The pool exists and each app client is one of its own; else a clear error."""
    from botocore.exceptions import BotoCoreError, ClientError

    if pool_region(user_pool_id) is None:
        raise TenantToolError(f"{user_pool_id!r} is not a user pool id (<region>_<id>)")
    if not app_client_ids:
        raise TenantToolError("name the tenant's app clients: CLIENTS=<id>[,<id>...]")
    try:
        cognito.describe_user_pool(UserPoolId=user_pool_id)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise TenantToolError(f"user pool {user_pool_id} does not exist") from None
        raise _aws_error(err) from None
    except BotoCoreError as err:
        raise TenantToolError(f"AWS could not be reached: {err}") from None
    for client_id in app_client_ids:
        try:
            cognito.describe_user_pool_client(UserPoolId=user_pool_id, ClientId=client_id)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise TenantToolError(
                    f"app client {client_id} is not a client of {user_pool_id}"
                ) from None
            raise _aws_error(err) from None


def _write(
    registry: Registry, listed: Listed, tenant_id: str, now: float | None, **state: Any
) -> Tenant | Deleted:
    """The new item, stamped after every item of the tenant, then the ones it replaces removed."""
    from botocore.exceptions import BotoCoreError, ClientError

    stamp = time.time() if now is None else now
    newest = listed.newest.get(tenant_id)
    if newest is not None:
        stamp = max(stamp, (int(newest[:MS_DIGITS]) + 1) / 1000)
    try:
        item = tenant_item(tenant_id, changed_at=stamp, **state)
    except InvalidTenant as err:
        raise TenantToolError(str(err)) from None
    try:
        registry.dynamodb.put_item(TableName=registry.table, Item=item)
        # Older items change nothing any more (the newest wins); removed so a cold
        # start reads one item a tenant. A deleted tenant's own item stays: it is
        # what tells an instance that read the tenant before that it is gone.
        for sort_key in listed.items.get(tenant_id, {}):
            registry.dynamodb.delete_item(
                TableName=registry.table,
                Key={PARTITION_KEY: {"S": PARTITION}, "sk": {"S": sort_key}},
            )
    except ClientError as err:
        raise _aws_error(err) from None
    except BotoCoreError as err:
        raise TenantToolError(f"AWS could not be reached: {err}") from None
    return parse_tenant_item(item, default_jwks_url)


def _all_items(registry: Registry) -> Iterator[dict[str, Any]]:
    from botocore.exceptions import BotoCoreError, ClientError

    request: dict[str, Any] = {
        "TableName": registry.table,
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
        "ExpressionAttributeValues": {":pk": {"S": PARTITION}},
        "ConsistentRead": True,
    }
    try:
        while True:
            page = registry.dynamodb.query(**request)
            yield from page.get("Items", ())
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except ClientError as err:
        raise _aws_error(err) from None
    except BotoCoreError as err:
        raise TenantToolError(f"AWS could not be reached: {err}") from None


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """An item's attributes as plain values (S, SS, L of S, M of S), without pk and sk."""
    values: dict[str, Any] = {}
    for name, typed in item.items():
        if name in (PARTITION_KEY, "sk"):
            continue
        [(kind, value)] = typed.items()
        if kind == "L":
            value = [member["S"] for member in value]
        elif kind == "M":
            value = {key: member["S"] for key, member in value.items()}
        values[name] = value
    return values


def _aws_error(err: Any) -> TenantToolError:
    error = err.response.get("Error", {})
    return TenantToolError(
        f"{err.operation_name} failed: {error.get('Code')}: {error.get('Message')}"
    )


def _quiet_logger() -> Any:
    import logging

    logger = logging.getLogger("scripts.tenants")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    return logger


def offline_registry(state_file: Path) -> Registry:
    from local.exceptions import StartupError

    try:
        stack = offline_stack(state_file, TABLE_LOGICAL_ID)
    except StartupError as err:
        raise TenantToolError(str(err)) from None
    if stack.table is None:
        raise TenantToolError(
            "the offline stack runs without a tenant registry: make run TENANTS=3"
        )
    return Registry(stack.table, stack.cognito, stack.dynamodb, stack.where)


def aws_registry(
    stack: str | None, region: str | None, table: str | None, config_env: str
) -> Registry:
    import boto3

    defaults = samconfig_defaults(config_env)
    session = boto3.session.Session(region_name=region or defaults.get("region"))
    if table:
        where = f"table {table} in {session.region_name}"
    else:
        stack = stack or defaults.get("stack_name")
        if not stack:
            raise TenantToolError("no stack name: pass STACK=<stack> (or TABLE=<table>)")
        table = stack_outputs(session.client("cloudformation"), stack).get(TABLE_OUTPUT)
        if not table:
            raise TenantToolError(
                f"stack {stack} has no {TABLE_OUTPUT} output: deploy it with TenantRegistry=true"
            )
        where = f"stack {stack} in {session.region_name}"
    return Registry(table, session.client("cognito-idp"), session.client("dynamodb"), where)


def _attributes(raw: str) -> dict[str, str]:
    """``plan=gold region=eu`` (space or comma separated)."""
    pairs = [part for part in raw.replace(",", " ").split() if part]
    attributes = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise TenantToolError(f"ATTRS takes name=value pairs, not {pair!r}")
        attributes[name] = value
    return attributes


def _names(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make tenants", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["add", "suspend", "resume", "delete", "list"])
    parser.add_argument("--tenant", default="")
    parser.add_argument("--user-pool-id", default="")
    parser.add_argument("--clients", default="")
    parser.add_argument("--token-use", default="any", choices=TOKEN_USES)
    parser.add_argument("--replicas", default="")
    parser.add_argument("--attributes", default="")
    parser.add_argument("--offline", action="store_true", help="the stack make run serves")
    parser.add_argument(
        "--state-file",
        type=Path,
        default=Path(os.environ.get("STATE_FILE", ".local-state/stack.json")),
    )
    parser.add_argument("--stack", default=None)
    parser.add_argument("--region", default=None)
    parser.add_argument("--table", default=None)
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment")
    args = parser.parse_args(argv)
    if args.action != "list" and not args.tenant.strip():
        parser.error("name the tenant: TENANT=<tenant id>")
    try:
        registry = (
            offline_registry(args.state_file)
            if args.offline
            else aws_registry(args.stack, args.region, args.table, args.config_env)
        )
        done = _run(args, registry)
    except TenantToolError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(done)
    return 0


def _run(args: argparse.Namespace, registry: Registry) -> str:
    actions: dict[str, Callable[[], str]] = {
        "list": lambda: _listing(registry),
        "add": lambda: _said(
            "registered",
            add(
                registry,
                args.tenant,
                user_pool_id=args.user_pool_id,
                app_client_ids=_names(args.clients),
                token_use=args.token_use,
                replica_regions=_names(args.replicas),
                attributes=_attributes(args.attributes),
            ),
            registry,
        ),
        "suspend": lambda: _said(
            "suspended", set_status(registry, args.tenant, SUSPENDED), registry
        ),
        "resume": lambda: _said("resumed", set_status(registry, args.tenant, ACTIVE), registry),
        "delete": lambda: _said("deleted", set_status(registry, args.tenant, DELETED), registry),
    }
    return actions[args.action]()


def _said(verb: str, change: Tenant | Deleted, registry: Registry) -> str:
    return (
        f"{verb} tenant {change.tenant_id} in {registry.where} ({registry.table}); "
        "every authorizer applies it within its refresh interval"
    )


def _listing(registry: Registry) -> str:
    """One JSON line per live tenant, as its newest item says it, then the deleted ones."""
    listed = read(registry)
    rows = [
        json.dumps(plain(listed.items[tenant_id][listed.newest[tenant_id]]), sort_keys=True)
        for tenant_id in sorted(listed.live)
    ]
    head = f"{len(rows)} live tenant(s) in {registry.where} ({registry.table})"
    deleted = sorted(set(listed.newest) - set(listed.live))
    tail = [f"deleted: {', '.join(deleted)}"] if deleted else []
    if listed.unreadable:
        tail.append(f"unreadable items (skipped by the authorizer too): {listed.unreadable}")
    return "\n".join([head, *rows, *tail])


if __name__ == "__main__":
    sys.exit(main())
