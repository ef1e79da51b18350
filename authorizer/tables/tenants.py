"""The tenant registry's item format: the one place it is encoded and decoded.

The authorizer reads the registry; operators write it (``make tenant-add``,
or their own onboarding code). Items are in DynamoDB's typed AttributeValue
form, what the low-level client's ``put_item`` takes and ``query`` returns.

The registry is a change log, like the revocation list: every change of a
tenant (added, updated, suspended, deleted) is a new item, and the newest item
of a tenant is what it is. So a refresh reads only what changed since its last
read (``sk > cursor``), and an item is never updated in place.

- ``pk``: always ``"tenants"``.
- ``sk``: ``<changed at, epoch milliseconds, 15 digits>#<tenantId>``. A
  tenant's items must have distinct, increasing times; the newest wins.
- ``tenantId`` (optional copy): when present, equal to the sort key's.
- ``status``: ``active``, ``suspended`` (its tokens are denied with
  ``tenant_suspended``) or ``deleted`` (its tokens are an unknown issuer's).
- ``userPoolId``: the tenant's Cognito user pool, ``<region>_<id>``. Not
  needed for ``deleted``. A pool belongs to one live tenant at a time.
- ``appClientIds``: the app clients that may call, a string set (``SS``)
  or a list of strings (``L``), 1 to ``MAX_CLIENTS``. Not needed for ``deleted``.
- ``tokenUse`` (optional): ``id``, ``access`` or ``any`` (the default).
- ``replicaRegions`` (optional): the regions the pool is replicated to, as
  ``appClientIds``.
- ``attributes`` (optional): a map of strings for the backend (``M``), at
  most ``MAX_ATTRIBUTES`` names of ``[A-Za-z][A-Za-z0-9_-]{0,31}``, each value
  printable text, the whole map at most ``MAX_ATTRIBUTES_BYTES`` (UTF-8, names
  and values). The context carries each as ``tenant:<name>``.

Other attributes are ignored (an operator's own bookkeeping). An item that
breaks a rule is skipped by readers (logged and counted, never half-read): the
tenant stays as its newest readable item made it. Keys are never read from an
item: they come from the pool's own host.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, NamedTuple

from authorizer.tables.changelog import MS_DIGITS, InvalidItem, cursor
from authorizer.verification.config import (
    TOKEN_USES,
    PoolConfig,
    default_jwks_url,
    is_client_id,
    is_region,
    original_issuer,
    pool_issuers,
    pool_region,
)
from authorizer.verification.tenancy import DELETED, STATUSES, Tenant

PARTITION_KEY: Final = "pk"
PARTITION: Final = "tenants"
TENANT_ID: Final = "tenantId"
STATUS: Final = "status"
USER_POOL_ID: Final = "userPoolId"
APP_CLIENT_IDS: Final = "appClientIds"
TOKEN_USE: Final = "tokenUse"
REPLICA_REGIONS: Final = "replicaRegions"
ATTRIBUTES: Final = "attributes"
# Everything a reader reads of an item (the projection of its Query).
READ_ATTRIBUTES: Final = (
    "sk",
    TENANT_ID,
    STATUS,
    USER_POOL_ID,
    APP_CLIENT_IDS,
    TOKEN_USE,
    REPLICA_REGIONS,
    ATTRIBUTES,
)

MAX_CLIENTS: Final = 50
MAX_ATTRIBUTES: Final = 10
MAX_ATTRIBUTES_BYTES: Final = 1024
MAX_ATTRIBUTE_VALUE_BYTES: Final = 256
TENANT_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ATTRIBUTE_NAME_PATTERN: Final = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")
_SORT_KEY_PARTS: Final = re.compile(rf"[0-9]{{{MS_DIGITS}}}#(.+)", re.DOTALL)

KeyUrl = Callable[[str, str], str]


class InvalidTenant(InvalidItem):
    """An item or an argument that is not a well-formed tenant (fixed text, no values)."""


class Deleted(NamedTuple):
    """A tenant's ``deleted`` item: its tokens are an unknown issuer's from then on."""

    tenant_id: str
    sort_key: str


def tenant_sort_key(tenant_id: str, changed_at: float) -> str:
    """``<changed at, epoch ms, 15 digits>#<tenantId>``."""
    _check_tenant_id(tenant_id)
    return f"{cursor(changed_at)}#{tenant_id}"


def tenant_item(
    tenant_id: str,
    *,
    changed_at: float,
    status: str,
    user_pool_id: str = "",
    app_client_ids: Iterable[str] = (),
    token_use: str = "any",  # noqa: S107 - Cognito's token_use claim, not a password
    replica_regions: Iterable[str] = (),
    attributes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The item recording this state of ``tenant_id`` as of ``changed_at`` (epoch seconds).

    Checked as a reader checks it, so a writer never writes what readers skip.
    For ``client.put_item(TableName=..., Item=tenant_item(...))``.
    """
    item: dict[str, Any] = {
        PARTITION_KEY: {"S": PARTITION},
        "sk": {"S": tenant_sort_key(tenant_id, changed_at)},
        TENANT_ID: {"S": tenant_id},
        STATUS: {"S": status},
    }
    if status != DELETED:
        item[USER_POOL_ID] = {"S": user_pool_id}
        item[APP_CLIENT_IDS] = {"SS": sorted(set(app_client_ids))}
        item[TOKEN_USE] = {"S": token_use}
        if replica_regions := sorted(set(replica_regions)):
            item[REPLICA_REGIONS] = {"SS": replica_regions}
        if attributes:
            item[ATTRIBUTES] = {"M": {name: {"S": value} for name, value in attributes.items()}}
    parse_tenant_item(item, default_jwks_url)  # refuses what a reader would skip
    return item


def parse_tenant_item(item: Mapping[str, Any], key_url: KeyUrl) -> Tenant | Deleted:
    """An item as ``query`` returns it; InvalidTenant unless it follows the format.

    ``key_url(region, user_pool_id)`` says where the pool's keys are fetched:
    the deploy decides that, never the item.
    """
    sort_key = _string(item, "sk")
    parts = _SORT_KEY_PARTS.fullmatch(sort_key)
    if parts is None:
        raise InvalidTenant("sort key is not <epoch ms>#<tenantId>")
    tenant_id = parts[1]
    _check_tenant_id(tenant_id)
    if TENANT_ID in item and item[TENANT_ID] != {"S": tenant_id}:
        raise InvalidTenant("tenantId does not match the sort key")
    status = _string(item, STATUS)
    if status not in STATUSES:
        raise InvalidTenant(f"status must be one of {', '.join(STATUSES)}")
    if status == DELETED:
        return Deleted(tenant_id, sort_key)
    user_pool_id = _string(item, USER_POOL_ID)
    region = pool_region(user_pool_id)
    if region is None:
        raise InvalidTenant("userPoolId must look like <region>_<id>")
    clients = _strings(item, APP_CLIENT_IDS, required=True)
    if not 1 <= len(clients) <= MAX_CLIENTS or not all(is_client_id(c) for c in clients):
        raise InvalidTenant(f"appClientIds must hold 1 to {MAX_CLIENTS} app client ids")
    token_use = _string(item, TOKEN_USE) if TOKEN_USE in item else "any"
    if token_use not in TOKEN_USES:
        raise InvalidTenant(f"tokenUse must be one of {', '.join(TOKEN_USES)}")
    replicas = _strings(item, REPLICA_REGIONS, required=False)
    if not all(is_region(r) and r != region for r in replicas):
        raise InvalidTenant("replicaRegions must be other regions, e.g. eu-west-1")
    pool = PoolConfig(
        user_pool_id=user_pool_id,
        region=region,
        app_client_ids=frozenset(clients),
        token_use=token_use,
        issuers=pool_issuers(region, user_pool_id, replicas),
        jwks_url=key_url(region, user_pool_id),
        issuer=original_issuer(region, user_pool_id),
    )
    return Tenant(tenant_id, status, pool, _attributes(item), sort_key)


def _attributes(item: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    if ATTRIBUTES not in item:
        return ()
    value = item[ATTRIBUTES]
    members = value.get("M") if isinstance(value, dict) else None
    if not isinstance(members, dict) or len(members) > MAX_ATTRIBUTES:
        raise InvalidTenant(f"attributes must be a map of at most {MAX_ATTRIBUTES} strings")
    pairs = []
    size = 0
    for name, typed in members.items():
        text = typed.get("S") if isinstance(typed, dict) and len(typed) == 1 else None
        if not isinstance(name, str) or not ATTRIBUTE_NAME_PATTERN.fullmatch(name):
            raise InvalidTenant("an attribute name is not [A-Za-z][A-Za-z0-9_-]{0,31}")
        if not isinstance(text, str) or not text.isprintable():
            raise InvalidTenant("an attribute value is not printable text")
        value_bytes = len(text.encode("utf-8", "surrogatepass"))
        if value_bytes > MAX_ATTRIBUTE_VALUE_BYTES:
            raise InvalidTenant(f"an attribute value is over {MAX_ATTRIBUTE_VALUE_BYTES} bytes")
        size += len(name) + value_bytes
        pairs.append((name, text))
    if size > MAX_ATTRIBUTES_BYTES:
        raise InvalidTenant(f"attributes are over {MAX_ATTRIBUTES_BYTES} bytes")
    return tuple(sorted(pairs))


def _string(item: Mapping[str, Any], name: str) -> str:
    typed = item.get(name)
    value = typed.get("S") if isinstance(typed, dict) and len(typed) == 1 else None
    if not isinstance(value, str) or not value:
        raise InvalidTenant(f"{name} must be a non-empty string (S)")
    return value


def _strings(item: Mapping[str, Any], name: str, *, required: bool) -> list[str]:
    """A string set (SS) or a list of strings (L), without duplicates."""
    if name not in item:
        if required:
            raise InvalidTenant(f"{name} is required")
        return []
    typed = item[name]
    values: list[Any]
    if isinstance(typed, dict) and len(typed) == 1 and isinstance(typed.get("SS"), list):
        values = typed["SS"]
    elif isinstance(typed, dict) and len(typed) == 1 and isinstance(typed.get("L"), list):
        values = [
            member.get("S") if isinstance(member, dict) and len(member) == 1 else None
            for member in typed["L"]
        ]
    else:
        raise InvalidTenant(f"{name} must be a string set (SS) or a list of strings (L)")
    strings = [v for v in values if isinstance(v, str) and v]
    if len(strings) != len(values) or len(set(strings)) != len(strings):
        raise InvalidTenant(f"{name} must hold distinct non-empty strings")
    return strings


def _check_tenant_id(tenant_id: Any) -> None:
    if not isinstance(tenant_id, str) or not TENANT_ID_PATTERN.fullmatch(tenant_id):
        raise InvalidTenant("tenantId must be a letter or digit, then 0-63 of A-Z a-z 0-9 _ . -")
