"""The authorizer's settings, read once per cold start into one frozen object.

One user pool: ``USER_POOL_ID`` + ``APP_CLIENT_IDS`` (with ``TOKEN_USE``,
``REPLICA_REGIONS``, ``JWKS_URL``, and ``ISSUER`` as an override for
non-standard setups). Several pools: ``USER_POOLS``, a JSON list with one
object per pool. Either way a pool accepts both of Cognito's issuer forms
(original and updated) unless ``ISSUER`` pins exactly one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from authorizer.verification.rules import RouteRule, parse_route_rules
from shared.exceptions import ConfigurationError
from shared.jsonlog import log_level_setting

TOKEN_USES: Final = ("id", "access", "any")
# The one-pool settings, which USER_POOLS replaces (setting both is refused).
ONE_POOL_VARIABLES: Final = (
    "USER_POOL_ID",
    "APP_CLIENT_IDS",
    "TOKEN_USE",
    "REPLICA_REGIONS",
    "ISSUER",
    "JWKS_URL",
)
MAX_POOLS: Final = 10
DEFAULT_CONTEXT_CLAIMS_MAX_BYTES: Final = 2048
DEFAULT_JWKS_CACHE_SECONDS: Final = 3600
DEFAULT_JWKS_MISS_COOLDOWN_SECONDS: Final = 10
DEFAULT_LEEWAY_SECONDS: Final = 30
DEFAULT_REVOCATION_REFRESH_SECONDS: Final = 10
MAX_REVOCATION_REFRESH_SECONDS: Final = 300
DEFAULT_REVOCATION_MAX_STALE_SECONDS: Final = 120
MAX_REVOCATION_MAX_STALE_SECONDS: Final = 3600
# The tenant registry (TENANT_TABLE): the same bounds as the revocation list's.
DEFAULT_TENANT_REFRESH_SECONDS: Final = 10
MAX_TENANT_REFRESH_SECONDS: Final = 300
DEFAULT_TENANT_MAX_STALE_SECONDS: Final = 120
MAX_TENANT_MAX_STALE_SECONDS: Final = 3600
# Tenants' key sets held at once (each about 3 KB with its parsed keys).
DEFAULT_MAX_KEY_SETS: Final = 1000
MAX_MAX_KEY_SETS: Final = 100_000
# TENANT_JWKS_URL names a tenant's pool by this placeholder (offline and tests only).
POOL_PLACEHOLDER: Final = "{userPoolId}"

# A region: us-east-1, us-gov-west-1, or the AWS European Sovereign Cloud's
# eusc-de-east-1 (botocore's partitions.json: partition aws-eusc, regionRegex
# ^eusc\-(de)\-\w+\-\d+$, dnsSuffix amazonaws.eu).
_REGION_PATTERN: Final = r"(?:[a-z]{2}|eusc)(?:-[a-z]+)+-\d"
# <region>_<id>, e.g. us-east-1_AbC123xyz or eusc-de-east-1_x1Y2z3.
_POOL_ID = re.compile(rf"(?P<region>{_REGION_PATTERN})_[0-9A-Za-z]+")
# Cognito app client ids are [\w+]+ (CreateUserPoolClient API reference).
_CLIENT_ID = re.compile(r"[\w+]+")
_REGION = re.compile(_REGION_PATTERN)
# A DynamoDB table name (3-255 of [a-zA-Z0-9_.-]), or its ARN (the SDK takes either as TableName).
_TABLE = re.compile(r"(?:arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/)?[A-Za-z0-9_.-]{3,255}")
# A claim name copied into the context: no whitespace, nothing a log would mangle.
_CLAIM_NAME = re.compile(r"[!-~]{1,128}")
_POOL_KEYS: Final = frozenset(
    {"userPoolId", "appClientIds", "tokenUse", "replicaRegions", "jwksUrl"}
)


# Settings are NamedTuples, not dataclasses: as immutable, and a cold start
# creates each class in a tenth of a frozen dataclass's time.
class PoolConfig(NamedTuple):
    """One trusted user pool: whose tokens, from which clients, with which issuers."""

    user_pool_id: str
    region: str
    app_client_ids: frozenset[str]
    token_use: str
    # Every iss value a token of this pool may carry, compared as exact strings.
    issuers: frozenset[str]
    jwks_url: str
    # The pool's own issuer: the original form in its region, or ISSUER for one pool.
    issuer: str


class AuthorizerConfig(NamedTuple):
    pools: tuple[PoolConfig, ...]
    jwks_cache_seconds: int
    jwks_miss_cooldown_seconds: int
    leeway_seconds: int
    log_level: str
    route_rules: Mapping[str, RouteRule] = MappingProxyType({})
    # Claims copied into the context for the backend (CONTEXT_CLAIMS), and their size cap.
    context_claims: tuple[str, ...] = ()
    context_claims_max_bytes: int = DEFAULT_CONTEXT_CLAIMS_MAX_BYTES
    # The revocation list's table (REVOCATION_TABLE); empty: revocation is off.
    revocation_table: str = ""
    revocation_refresh_seconds: int = DEFAULT_REVOCATION_REFRESH_SECONDS
    revocation_max_stale_seconds: int = DEFAULT_REVOCATION_MAX_STALE_SECONDS
    # The tenant registry's table (TENANT_TABLE); empty: the registry is off.
    tenant_table: str = ""
    tenant_refresh_seconds: int = DEFAULT_TENANT_REFRESH_SECONDS
    tenant_max_stale_seconds: int = DEFAULT_TENANT_MAX_STALE_SECONDS
    max_key_sets: int = DEFAULT_MAX_KEY_SETS
    # Where a tenant's keys are fetched: empty for its pool's own host (the default).
    tenant_jwks_url: str = ""

    @property
    def rule_claim_names(self) -> frozenset[str]:
        """Every token claim some route rule reads (kept for remembered tokens)."""
        return frozenset().union(*(rule.claim_names for rule in self.route_rules.values()))

    @property
    def pool(self) -> PoolConfig:
        """The first (with USER_POOL_ID, the only) pool."""
        return self.pools[0]

    def tenant_key_url(self, region: str, user_pool_id: str) -> str:
        """Where a registered tenant's pool serves its keys: never a URL from the registry."""
        if self.tenant_jwks_url:
            return self.tenant_jwks_url.replace(POOL_PLACEHOLDER, user_pool_id)
        return default_jwks_url(region, user_pool_id)


def dns_suffix(region: str) -> str:
    """The region's AWS DNS suffix: the European Sovereign Cloud has its own."""
    return "amazonaws.eu" if region.startswith("eusc-") else "amazonaws.com"


def original_issuer(region: str, user_pool_id: str) -> str:
    return f"https://cognito-idp.{region}.{dns_suffix(region)}/{user_pool_id}"


def updated_issuer(region: str, user_pool_id: str) -> str:
    """The form AWS recommends (IssuerConfigurationType UPDATED); region is the primary one."""
    return f"https://issuer-cognito-idp.{region}.{dns_suffix(region)}/{user_pool_id}"


def pool_issuers(region: str, user_pool_id: str, replicas: Iterable[str]) -> frozenset[str]:
    """Every iss a pool's tokens may carry, compared as exact strings.

    The original form in the pool's region, the updated form (always the
    primary region), and the original form in each replica region (with the
    original form a replica writes its own region there). A pool can switch
    between the forms with no redeploy: both are always accepted.
    """
    return frozenset(
        {original_issuer(region, user_pool_id), updated_issuer(region, user_pool_id)}
        | {original_issuer(replica, user_pool_id) for replica in replicas}
    )


def default_jwks_url(region: str, user_pool_id: str) -> str:
    """The original issuer host serves every pool's keys, whichever issuer form it uses.

    The updated host answers 403 for pools that never switched
    (awslabs/aws-jwt-verify#279). Never derived from a token's iss.
    """
    return f"{original_issuer(region, user_pool_id)}/.well-known/jwks.json"


def pool_region(user_pool_id: str) -> str | None:
    """The region a user pool id names, or None when it is not ``<region>_<id>``."""
    match = _POOL_ID.fullmatch(user_pool_id)
    return match["region"] if match else None


def is_client_id(value: str) -> bool:
    return bool(_CLIENT_ID.fullmatch(value))


def is_region(value: str) -> bool:
    return bool(_REGION.fullmatch(value))


def load_config(env: Mapping[str, str]) -> AuthorizerConfig:
    """Parse the environment, or raise ConfigurationError naming the variable."""
    tenants = _tenants(env)
    if env.get("USER_POOLS", "").strip():
        for single in ONE_POOL_VARIABLES:
            if env.get(single, "").strip():
                raise ConfigurationError(
                    "USER_POOLS", f"is set, so {single} must not be: give it in USER_POOLS"
                )
        pools = _pools(env["USER_POOLS"])
    elif tenants["tenant_table"] and not any(env.get(v, "").strip() for v in ONE_POOL_VARIABLES):
        pools = ()  # the registry's tenants only
    else:
        pools = (_single_pool(env),)

    return AuthorizerConfig(
        pools=pools,
        jwks_cache_seconds=_whole_number(
            env, "JWKS_CACHE_SECONDS", DEFAULT_JWKS_CACHE_SECONDS, minimum=1
        ),
        jwks_miss_cooldown_seconds=_whole_number(
            env, "JWKS_MISS_COOLDOWN_SECONDS", DEFAULT_JWKS_MISS_COOLDOWN_SECONDS, minimum=1
        ),
        leeway_seconds=_whole_number(
            env, "LEEWAY_SECONDS", DEFAULT_LEEWAY_SECONDS, minimum=0, maximum=300
        ),
        log_level=log_level_setting(env),
        route_rules=MappingProxyType(parse_route_rules(env.get("ROUTE_RULES", ""))),
        context_claims=_context_claims(env.get("CONTEXT_CLAIMS", "")),
        context_claims_max_bytes=_whole_number(
            env,
            "CONTEXT_CLAIMS_MAX_BYTES",
            DEFAULT_CONTEXT_CLAIMS_MAX_BYTES,
            minimum=64,
            maximum=8192,
            unit="bytes",
        ),
        **revocation_settings(env)._asdict(),
        **tenants,
    )


class RevocationSettings(NamedTuple):
    """``REVOCATION_*``, as the authorizer and the WebSocket connections function read them.

    Named as AuthorizerConfig's fields, which it fills.
    """

    revocation_table: str
    revocation_refresh_seconds: int
    revocation_max_stale_seconds: int


def revocation_settings(env: Mapping[str, str]) -> RevocationSettings:
    """REVOCATION_*: checked even while the table is unset, so a typo never waits for the switch.

    The connections function reads them with this very function, so its idea of
    how stale an authorizer's list may be is the authorizer's own.
    """
    table = env.get("REVOCATION_TABLE", "").strip()
    if table and not _TABLE.fullmatch(table):
        raise ConfigurationError(
            "REVOCATION_TABLE", "must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -) or ARN"
        )
    refresh = _whole_number(
        env,
        "REVOCATION_REFRESH_SECONDS",
        DEFAULT_REVOCATION_REFRESH_SECONDS,
        minimum=1,
        maximum=MAX_REVOCATION_REFRESH_SECONDS,
    )
    max_stale = _whole_number(
        env,
        "REVOCATION_MAX_STALE_SECONDS",
        max(DEFAULT_REVOCATION_MAX_STALE_SECONDS, refresh),
        minimum=refresh,
        maximum=MAX_REVOCATION_MAX_STALE_SECONDS,
    )
    return RevocationSettings(table, refresh, max_stale)


def _tenants(env: Mapping[str, str]) -> dict[str, Any]:
    """TENANT_*: checked even while the table is unset, as REVOCATION_* are."""
    table = env.get("TENANT_TABLE", "").strip()
    if table and not _TABLE.fullmatch(table):
        raise ConfigurationError(
            "TENANT_TABLE", "must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -) or ARN"
        )
    refresh = _whole_number(
        env,
        "TENANT_REFRESH_SECONDS",
        DEFAULT_TENANT_REFRESH_SECONDS,
        minimum=1,
        maximum=MAX_TENANT_REFRESH_SECONDS,
    )
    max_stale = _whole_number(
        env,
        "TENANT_MAX_STALE_SECONDS",
        max(DEFAULT_TENANT_MAX_STALE_SECONDS, refresh),
        minimum=refresh,
        maximum=MAX_TENANT_MAX_STALE_SECONDS,
    )
    max_key_sets = _whole_number(
        env,
        "MAX_KEY_SETS",
        DEFAULT_MAX_KEY_SETS,
        minimum=1,
        maximum=MAX_MAX_KEY_SETS,
        unit="key sets",
    )
    key_url = env.get("TENANT_JWKS_URL", "").strip()
    if key_url:
        if key_url.count(POOL_PLACEHOLDER) != 1:
            raise ConfigurationError(
                "TENANT_JWKS_URL", f"must name the pool once, as {POOL_PLACEHOLDER}"
            )
        _check_url("TENANT_JWKS_URL", key_url.replace(POOL_PLACEHOLDER, "us-east-1_pool"))
    return {
        "tenant_table": table,
        "tenant_refresh_seconds": refresh,
        "tenant_max_stale_seconds": max_stale,
        "max_key_sets": max_key_sets,
        "tenant_jwks_url": key_url,
    }


def _single_pool(env: Mapping[str, str]) -> PoolConfig:
    """USER_POOL_ID + APP_CLIENT_IDS: one pool, both issuer forms unless ISSUER pins one."""
    user_pool_id = _required(env, "USER_POOL_ID")
    region = _pool_region("USER_POOL_ID", user_pool_id)
    client_ids = [part.strip() for part in _required(env, "APP_CLIENT_IDS").split(",")]
    if not all(client_ids) or not all(_CLIENT_ID.fullmatch(c) for c in client_ids):
        raise ConfigurationError(
            "APP_CLIENT_IDS", "must be comma-separated app client ids with no empty entries"
        )
    token_use = _token_use("TOKEN_USE", env.get("TOKEN_USE", "any"))
    raw_replicas = env.get("REPLICA_REGIONS", "").strip()
    replicas = [part.strip() for part in raw_replicas.split(",")] if raw_replicas else []
    _check_replicas("REPLICA_REGIONS", "REPLICA_REGIONS", replicas, region)
    override = env.get("ISSUER", "").strip()
    if override:
        # Non-standard setups and tests: exactly this one iss, keys beside it.
        _check_url("ISSUER", override)
        if not override.endswith(f"/{user_pool_id}"):
            # A typo here would trust tokens of whatever pool the issuer names.
            raise ConfigurationError("ISSUER", f"must end with /{user_pool_id} (USER_POOL_ID)")
        if replicas:
            raise ConfigurationError(
                "ISSUER", "accepts exactly one iss, so REPLICA_REGIONS must not be set"
            )
        issuer, issuers = override, frozenset({override})
        jwks_url = env.get("JWKS_URL", "").strip() or f"{override}/.well-known/jwks.json"
    else:
        issuer = original_issuer(region, user_pool_id)
        issuers = pool_issuers(region, user_pool_id, replicas)
        jwks_url = env.get("JWKS_URL", "").strip() or default_jwks_url(region, user_pool_id)
    _check_url("JWKS_URL", jwks_url)
    return PoolConfig(
        user_pool_id=user_pool_id,
        region=region,
        app_client_ids=frozenset(client_ids),
        token_use=token_use,
        issuers=issuers,
        jwks_url=jwks_url,
        issuer=issuer,
    )


def _check_replicas(variable: str, where: str, replicas: Any, region: str) -> None:
    """Other regions of the same pool, each once."""
    if (
        not isinstance(replicas, list)
        or not all(isinstance(r, str) and _REGION.fullmatch(r) and r != region for r in replicas)
        or len(set(replicas)) != len(replicas)
    ):
        raise ConfigurationError(
            variable, f"{where} must list other regions, each once, e.g. eu-west-1"
        )


def _pools(raw: str) -> tuple[PoolConfig, ...]:
    """``[{"userPoolId", "appClientIds", "tokenUse", "replicaRegions", "jwksUrl"}, ...]``."""
    try:
        document = json.loads(raw)
    except ValueError:
        raise ConfigurationError("USER_POOLS", "is not valid JSON") from None
    if not isinstance(document, list) or not 1 <= len(document) <= MAX_POOLS:
        raise ConfigurationError("USER_POOLS", f"must be a JSON list of 1 to {MAX_POOLS} pools")
    pools = tuple(_pool(index, spec) for index, spec in enumerate(document))
    ids = [pool.user_pool_id for pool in pools]
    if len(set(ids)) != len(ids):
        raise ConfigurationError("USER_POOLS", "lists a user pool twice")
    return pools


def _pool(index: int, spec: Any) -> PoolConfig:
    where = f"pool {index}"
    if not isinstance(spec, dict) or set(spec) - _POOL_KEYS:
        raise ConfigurationError(
            "USER_POOLS", f"{where} must be an object with keys among {sorted(_POOL_KEYS)}"
        )
    user_pool_id = spec.get("userPoolId")
    if not isinstance(user_pool_id, str):
        raise ConfigurationError("USER_POOLS", f"{where} needs a userPoolId")
    region = _pool_region("USER_POOLS", user_pool_id)
    where = user_pool_id
    client_ids = spec.get("appClientIds")
    if (
        not isinstance(client_ids, list)
        or not client_ids
        or not all(isinstance(c, str) and _CLIENT_ID.fullmatch(c) for c in client_ids)
    ):
        raise ConfigurationError("USER_POOLS", f"{where}: appClientIds must list app client ids")
    token_use = spec.get("tokenUse", "any")
    if not isinstance(token_use, str):
        raise ConfigurationError("USER_POOLS", f"{where}: tokenUse must be a string")
    replicas = spec.get("replicaRegions", [])
    _check_replicas("USER_POOLS", f"{where}: replicaRegions", replicas, region)
    jwks_url = spec.get("jwksUrl", default_jwks_url(region, user_pool_id))
    if not isinstance(jwks_url, str):
        raise ConfigurationError("USER_POOLS", f"{where}: jwksUrl must be a URL")
    _check_url("USER_POOLS", jwks_url)
    return PoolConfig(
        user_pool_id=user_pool_id,
        region=region,
        app_client_ids=frozenset(client_ids),
        token_use=_token_use("USER_POOLS", token_use),
        issuers=pool_issuers(region, user_pool_id, replicas),
        jwks_url=jwks_url,
        issuer=original_issuer(region, user_pool_id),
    )


def _pool_region(variable: str, user_pool_id: str) -> str:
    region = pool_region(user_pool_id)
    if region is None:
        raise ConfigurationError(variable, "must look like <region>_<id>, e.g. us-east-1_AbC123xyz")
    return region


def _token_use(variable: str, raw: str) -> str:
    token_use = raw.strip().lower() or "any"
    if token_use not in TOKEN_USES:
        raise ConfigurationError(variable, f"token use must be one of {', '.join(TOKEN_USES)}")
    return token_use


def _context_claims(raw: str) -> tuple[str, ...]:
    names = [part.strip() for part in raw.split(",")] if raw.strip() else []
    if not all(_CLAIM_NAME.fullmatch(name) for name in names) or len(set(names)) != len(names):
        raise ConfigurationError(
            "CONTEXT_CLAIMS", "must be comma-separated claim names, each once, without spaces"
        )
    return tuple(names)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigurationError(name, "is required")
    return value


def _whole_number(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int,
    maximum: int = 7 * 86400,
    unit: str = "seconds",
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(name, f"must be a whole number of {unit}, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise ConfigurationError(name, f"must be between {minimum} and {maximum} {unit}")
    return value


def _check_url(name: str, url: str) -> None:
    """https anywhere; plain http only to this machine (the offline stack and tests)."""
    parts = urlsplit(url)
    # urlsplit takes the host after the last "@", requests (urllib3) ends the host at a
    # backslash: "http://evil.example\@localhost/" would pass as loopback and fetch from
    # evil.example. No key URL needs user info or a backslash, so neither is read at all.
    if "\\" in url or "@" in parts.netloc:
        raise ConfigurationError(name, "must not contain user info ('@') or a backslash")
    if not parts.hostname:
        raise ConfigurationError(name, f"must be an absolute https URL, got {url!r}")
    if parts.scheme == "https":
        return
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return
    raise ConfigurationError(name, "must use https (plain http is allowed only for loopback hosts)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress  # only for a plain-http URL, i.e. never on a deployed cold start

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
