"""A pool per tenant: the registry's tenants, their key sets and their tokens, with forged keys.

The authorizer is wired by ``build_authorizer`` as the Lambda entry point wires
it, with the registry read from a fake table (the operators' own item format)
and every key fetch recorded: a token of a stranger must cause none.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from authorizer.api.handler import Authorizer, build_authorizer
from authorizer.exceptions import JwksFetchError, TenantRegistryUnavailable
from authorizer.operations import metrics
from authorizer.tables.registry import TenantLedger, TenantRegistry, dynamodb_query
from authorizer.tables.tenants import READ_ATTRIBUTES, tenant_item, tenant_sort_key
from authorizer.verification.config import (
    default_jwks_url,
    original_issuer,
    updated_issuer,
)
from authorizer.verification.keysets import KeySets
from authorizer.verification.tenancy import Tenancy
from tests.forge import ForgedKey, authorizer_event, claims, forged_key, jwks_body, sign
from tests.helpers import NO_BAKED_KEYS, FakeClock, FakeTenantTable, log_records, make_config

REFRESH = 10
MAX_STALE = 120


@dataclass(frozen=True)
class Pool:
    tenant_id: str
    user_pool_id: str
    client_id: str
    key: ForgedKey

    @property
    def region(self) -> str:
        return self.user_pool_id.split("_")[0]

    @property
    def issuer(self) -> str:
        return original_issuer(self.region, self.user_pool_id)

    @property
    def jwks_url(self) -> str:
        return default_jwks_url(self.region, self.user_pool_id)

    def token(self, clock: FakeClock, **overrides: Any) -> str:
        body = claims(now=clock.now, **{"iss": self.issuer, "aud": self.client_id, **overrides})
        return sign(body, self.key)

    def register(self, table: FakeTenantTable, at: float, **state: Any) -> None:
        state.setdefault("user_pool_id", self.user_pool_id)
        state.setdefault("app_client_ids", [self.client_id])
        table.put(self.tenant_id, at, **state)


ACME = Pool("acme", "eu-west-1_AcmePool1", "acmeclient", forged_key("acme-key"))
GLOBEX = Pool("globex", "us-east-1_GlobexPool", "globexclient", forged_key("globex-key"))
INITECH = Pool("initech", "us-west-2_InitechPool", "initechclient", forged_key("initech-key"))
STRANGER = Pool("stranger", "us-east-1_NotRegistered", "strangerclient", forged_key("x-key"))
POOLS = (ACME, GLOBEX, INITECH, STRANGER)


@dataclass
class KeyHosts:
    """Every pool's key set by URL; each fetch recorded, and a host can be made to fail."""

    fetches: list[str] = field(default_factory=list)
    down: set[str] = field(default_factory=set)
    delay: float = 0.0

    def __call__(self, url: str) -> bytes:
        self.fetches.append(url)
        if self.delay:
            time.sleep(self.delay)
        if url in self.down:
            raise JwksFetchError(f"HTTP 503 from {url}")
        for pool in POOLS:
            if url == pool.jwks_url:
                return jwks_body(pool.key)
        raise JwksFetchError(f"HTTP 404 from {url}")

    def of(self, pool: Pool) -> int:
        return self.fetches.count(pool.jwks_url)


@dataclass
class Wired:
    authorizer: Authorizer
    table: FakeTenantTable
    hosts: KeyHosts
    clock: FakeClock

    def decide(self, token: str) -> dict[str, Any]:
        return self.authorizer.handle(authorizer_event(token))

    @property
    def tenancy(self) -> Tenancy:
        tenancy = self.authorizer.verifier.tenancy
        assert tenancy is not None
        return tenancy


def wire(clock: FakeClock, table: FakeTenantTable, **env: str) -> Wired:
    hosts = KeyHosts()
    settings = {
        "TENANT_TABLE": "tenants",
        "TENANT_REFRESH_SECONDS": str(REFRESH),
        "TENANT_MAX_STALE_SECONDS": str(MAX_STALE),
        **env,
    }
    config = make_config(**settings) if "USER_POOL_ID" in env else _tenants_only(settings)
    authorizer = build_authorizer(
        config, baked=NO_BAKED_KEYS, fetch=hosts, clock=clock, tenant_query=table
    )
    return Wired(authorizer, table, hosts, clock)


def _tenants_only(settings: dict[str, str]) -> Any:
    from authorizer.verification.config import load_config

    return load_config({"LOG_LEVEL": "DEBUG", **settings})


def reason_of(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [r["reason"] for r in log_records(capsys.readouterr().out) if "reason" in r]


@pytest.fixture
def table(clock: FakeClock) -> FakeTenantTable:
    table = FakeTenantTable()
    ACME.register(table, clock.now - 60, attributes={"plan": "gold"})
    GLOBEX.register(table, clock.now - 50)
    return table


@pytest.fixture
def wired(clock: FakeClock, table: FakeTenantTable) -> Wired:
    return wire(clock, table)


def test_a_registered_tenants_token_is_allowed_and_names_its_tenant(wired: Wired) -> None:
    answer = wired.decide(ACME.token(wired.clock))
    assert answer["isAuthorized"] is True
    context = answer["context"]
    assert context["tenantId"] == "acme"
    assert context["tenant:plan"] == "gold"
    assert context["clientId"] == "acmeclient"
    other = wired.decide(GLOBEX.token(wired.clock))["context"]
    assert other["tenantId"] == "globex"
    assert not any(key.startswith("tenant:") for key in other)


def test_a_tenants_keys_are_fetched_on_its_first_token_not_at_the_cold_start(
    wired: Wired,
) -> None:
    assert wired.hosts.fetches == []  # the registry was read; no tenant's keys fetched
    assert len(wired.table.queries) == 1
    for _ in range(3):
        assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is True
    assert wired.hosts.fetches == [ACME.jwks_url]


def test_a_stranger_is_denied_without_any_network_call(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    queries = len(wired.table.queries)
    for _ in range(5):
        assert wired.decide(STRANGER.token(wired.clock))["isAuthorized"] is False
    assert reason_of(capsys) == ["wrong_issuer"] * 5
    assert wired.hosts.fetches == []
    assert len(wired.table.queries) == queries  # nor a read of the registry
    # Even when the stranger names a registered tenant's kid.
    forged = sign(claims(now=wired.clock.now, iss=STRANGER.issuer), STRANGER.key, kid="acme-key")
    assert wired.decide(forged)["isAuthorized"] is False
    assert wired.hosts.fetches == []


def test_a_tenant_added_while_running_is_served_within_the_bound(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = INITECH.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is False
    INITECH.register(wired.table, wired.clock.now)
    wired.clock.advance(REFRESH)
    assert wired.decide(INITECH.token(wired.clock))["isAuthorized"] is True


def test_a_suspended_tenant_is_denied_with_its_own_reason_within_the_bound(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is True  # remembered from now on
    ACME.register(wired.table, wired.clock.now, status="suspended")
    wired.clock.advance(REFRESH)
    capsys.readouterr()
    assert wired.decide(token)["isAuthorized"] is False
    assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is False
    assert reason_of(capsys) == ["tenant_suspended", "tenant_suspended"]
    assert wired.decide(GLOBEX.token(wired.clock))["isAuthorized"] is True
    # Active again: served again.
    ACME.register(wired.table, wired.clock.now)
    wired.clock.advance(REFRESH)
    assert wired.decide(token)["isAuthorized"] is True


def test_a_client_removed_from_a_tenant_is_refused_even_for_a_remembered_token(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is True
    ACME.register(wired.table, wired.clock.now, app_client_ids=["anotherclient"])
    wired.clock.advance(REFRESH)
    capsys.readouterr()
    assert wired.decide(token)["isAuthorized"] is False
    assert reason_of(capsys) == ["wrong_audience"]


def test_a_changed_attribute_reaches_the_backend_within_the_bound(wired: Wired) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["context"]["tenant:plan"] == "gold"
    ACME.register(wired.table, wired.clock.now, attributes={"plan": "platinum"})
    wired.clock.advance(REFRESH)
    assert wired.decide(token)["context"]["tenant:plan"] == "platinum"


def test_a_deleted_tenant_is_a_stranger_and_an_older_item_read_again_never_revives_it(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is True
    wired.table.put("acme", wired.clock.now, status="deleted")
    wired.clock.advance(REFRESH)
    capsys.readouterr()
    assert wired.decide(token)["isAuthorized"] is False
    assert reason_of(capsys) == ["wrong_issuer"]
    # A late writer's item stamped before the deletion sorts after the cursor's
    # overlap; it is read, and loses to the newer deletion.
    ACME.register(wired.table, wired.clock.now - REFRESH - 1)
    wired.clock.advance(REFRESH)
    assert wired.decide(token)["isAuthorized"] is False


def test_a_late_item_within_the_overlap_is_read(wired: Wired) -> None:
    wired.clock.advance(REFRESH)
    wired.decide(GLOBEX.token(wired.clock))  # a refresh: the cursor moves on
    # Written now by a writer whose clock lags 30 s: stamped before the last read began.
    INITECH.register(wired.table, wired.clock.now - 30)
    wired.clock.advance(REFRESH)
    assert wired.decide(INITECH.token(wired.clock))["isAuthorized"] is True


def test_both_issuer_forms_and_replica_regions_per_tenant(
    clock: FakeClock, table: FakeTenantTable
) -> None:
    INITECH.register(table, clock.now - 10, replica_regions=["us-east-2"])
    wired = wire(clock, table)
    for iss in (
        original_issuer("us-west-2", INITECH.user_pool_id),
        updated_issuer("us-west-2", INITECH.user_pool_id),
        original_issuer("us-east-2", INITECH.user_pool_id),
    ):
        token = INITECH.token(clock, iss=iss)
        assert wired.decide(token)["isAuthorized"] is True, iss
    for iss in (
        original_issuer("eu-west-1", INITECH.user_pool_id),  # not a replica
        updated_issuer("us-east-2", INITECH.user_pool_id),  # the updated form names the primary
        original_issuer("us-west-2", ACME.user_pool_id),  # another tenant's pool
    ):
        assert wired.decide(INITECH.token(clock, iss=iss))["isAuthorized"] is False, iss
    # ACME has no replicas: its pool's updated form is its only other issuer.
    assert wired.decide(ACME.token(clock, iss=updated_issuer("eu-west-1", ACME.user_pool_id)))[
        "isAuthorized"
    ]


def test_each_tenants_token_use_holds(clock: FakeClock, table: FakeTenantTable) -> None:
    INITECH.register(table, clock.now - 10, token_use="access")
    wired = wire(clock, table)
    assert wired.decide(INITECH.token(clock))["isAuthorized"] is False  # an id token
    access = sign(
        claims("access", now=clock.now, iss=INITECH.issuer, client_id=INITECH.client_id),
        INITECH.key,
    )
    assert wired.decide(access)["isAuthorized"] is True
    assert wired.decide(ACME.token(clock))["isAuthorized"] is True  # acme takes any


def test_concurrent_first_tokens_of_one_tenant_make_one_fetch(wired: Wired) -> None:
    wired.hosts.delay = 0.2
    key_sets = wired.tenancy.key_sets
    got: list[Any] = []

    def first_token() -> None:
        got.append(key_sets.get(ACME.jwks_url).get_key("acme-key"))

    threads = [threading.Thread(target=first_token) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(got) == 8
    assert len({id(key) for key in got}) == 1
    assert wired.hosts.fetches == [ACME.jwks_url]


def test_key_sets_beyond_the_limit_are_evicted_least_recently_used_and_fetched_again(
    clock: FakeClock, table: FakeTenantTable, capsys: pytest.CaptureFixture[str]
) -> None:
    INITECH.register(table, clock.now - 10)
    wired = wire(clock, table, MAX_KEY_SETS="2")
    for pool in (ACME, GLOBEX, ACME, INITECH):  # GLOBEX is the least recently used
        assert wired.decide(pool.token(clock))["isAuthorized"] is True
    assert len(wired.tenancy.key_sets) == 2
    assert wired.tenancy.key_sets.peek(GLOBEX.jwks_url) is None
    evictions = [
        line
        for line in capsys.readouterr().out.splitlines()
        if f'"{metrics.KEY_SET_EVICTIONS}"' in line and '"_aws"' in line
    ]
    assert len(evictions) == 1
    assert f'"{metrics.KEY_SETS_HELD}":1' in evictions[0]
    assert wired.decide(GLOBEX.token(clock))["isAuthorized"] is True
    assert (wired.hosts.of(ACME), wired.hosts.of(GLOBEX), wired.hosts.of(INITECH)) == (1, 2, 1)


def test_a_remembered_token_whose_key_set_was_evicted_is_verified_afresh(
    clock: FakeClock, table: FakeTenantTable
) -> None:
    wired = wire(clock, table, MAX_KEY_SETS="1")
    token = ACME.token(clock)
    assert wired.decide(token)["isAuthorized"] is True
    assert wired.decide(GLOBEX.token(clock))["isAuthorized"] is True  # evicts acme's
    assert wired.decide(token)["isAuthorized"] is True
    assert wired.hosts.of(ACME) == 2


def test_one_tenants_key_outage_touches_no_other_tenant(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    wired.hosts.down.add(ACME.jwks_url)
    with pytest.raises(JwksFetchError):  # API Gateway answers 500: no cached deny
        wired.decide(ACME.token(wired.clock))
    assert wired.decide(GLOBEX.token(wired.clock))["isAuthorized"] is True
    wired.hosts.down.clear()
    wired.clock.advance(10)  # the cooldown after a failed fetch
    assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is True


def test_an_unreadable_registry_is_used_until_its_bound_then_fails_closed(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is True
    wired.table.failing = ConnectionError("DynamoDB is down")
    wired.clock.advance(MAX_STALE - 1)
    assert wired.decide(token)["isAuthorized"] is True  # stale, within the bound
    assert wired.decide(GLOBEX.token(wired.clock))["isAuthorized"] is True
    wired.clock.advance(1)
    capsys.readouterr()
    with pytest.raises(TenantRegistryUnavailable):
        wired.decide(token)
    with pytest.raises(TenantRegistryUnavailable):
        wired.decide(GLOBEX.token(wired.clock))
    records = log_records(capsys.readouterr().out)
    assert [r["reason"] for r in records if r.get("decision") == "error"] == [
        "tenant_registry_unavailable"
    ] * 2
    wired.table.failing = None
    wired.clock.advance(1)  # the retry interval after a failed read
    assert wired.decide(token)["isAuthorized"] is True


def test_a_registry_never_read_fails_closed_and_recovers(
    clock: FakeClock, table: FakeTenantTable
) -> None:
    table.failing = TimeoutError("no answer")
    wired = wire(clock, table)
    with pytest.raises(TenantRegistryUnavailable):
        wired.decide(ACME.token(clock))
    table.failing = None
    clock.advance(1)
    assert wired.decide(ACME.token(clock))["isAuthorized"] is True


def test_static_pools_beside_the_registry_do_not_depend_on_it(
    clock: FakeClock, table: FakeTenantTable, jwks_endpoint: Any
) -> None:
    from authorizer.api.handler import build_authorizer as build
    from authorizer.verification.jwks import fetch_jwks

    hosts = KeyHosts()

    def fetch(url: str) -> bytes:
        return fetch_jwks(url) if url not in {p.jwks_url for p in POOLS} else hosts(url)

    config = make_config(TENANT_TABLE="tenants")
    authorizer = build(config, baked=NO_BAKED_KEYS, fetch=fetch, clock=clock, tenant_query=table)
    static = sign(claims(now=clock.now))
    assert authorizer.handle(authorizer_event(static))["isAuthorized"] is True
    assert authorizer.handle(authorizer_event(ACME.token(clock)))["isAuthorized"] is True
    table.failing = ConnectionError("down")
    clock.advance(MAX_STALE + 1)
    assert authorizer.handle(authorizer_event(static))["isAuthorized"] is True
    with pytest.raises(TenantRegistryUnavailable):
        authorizer.handle(authorizer_event(ACME.token(clock)))


def test_a_pool_two_live_tenants_claim_belongs_to_neither_until_one_changes(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is True
    wired.table.put(
        "acme-copy",
        wired.clock.now,
        status="active",
        user_pool_id=ACME.user_pool_id,
        app_client_ids=[ACME.client_id],
    )
    wired.clock.advance(REFRESH)
    capsys.readouterr()
    assert wired.decide(token)["isAuthorized"] is False
    out = capsys.readouterr().out
    warned = [r for r in log_records(out) if "two live tenants" in r.get("message", "")]
    assert [w["tenantIds"] for w in warned] == [["acme", "acme-copy"]]
    wired.table.put("acme-copy", wired.clock.now, status="deleted")
    wired.clock.advance(REFRESH)
    assert wired.decide(token)["context"]["tenantId"] == "acme"


def test_every_instance_agrees_on_a_contested_pool_whatever_it_read_first(
    clock: FakeClock,
) -> None:
    # One instance sees the first owner, then the contender and the owner's deletion in
    # one refresh; another reads it all at once. Both end with the contender owning it.
    table = FakeTenantTable()
    ACME.register(table, clock.now - 100)
    early = wire(clock, table)
    table.put(
        "contender",
        clock.now - 5,
        user_pool_id=ACME.user_pool_id,
        app_client_ids=[ACME.client_id],
    )
    table.put("acme", clock.now - 4, status="deleted")
    late = wire(clock, table)
    clock.advance(REFRESH)
    for instance in (early, late):
        assert instance.decide(ACME.token(clock))["context"]["tenantId"] == "contender"


def test_an_unreadable_item_is_skipped_counted_and_the_rest_applied(
    clock: FakeClock, table: FakeTenantTable, capsys: pytest.CaptureFixture[str]
) -> None:
    table.put_raw(
        {"pk": {"S": "tenants"}, "sk": {"S": f"{int(clock.now * 1000):015d}#bad"}, "status": {}}
    )
    INITECH.register(table, clock.now + 0.001)
    wired = wire(clock, table)
    warned = [r for r in log_records(capsys.readouterr().out) if r.get("invalidItems")]
    assert [(w["message"], w["invalidItems"]) for w in warned] == [
        ("tenant registry has items it cannot read; ignored", 1)
    ]
    assert wired.decide(INITECH.token(clock))["isAuthorized"] is True


def test_the_registry_metrics_are_the_tables_one_set(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    wired.clock.advance(REFRESH)
    capsys.readouterr()
    wired.decide(ACME.token(wired.clock))
    lines = [line for line in capsys.readouterr().out.splitlines() if "TenantRegistryAge" in line]
    assert len(lines) == 1
    assert '"TenantRegistryRefreshes":1' in lines[0]
    assert '"TenantRegistryRefreshFailures":0' in lines[0]
    assert '"TenantRegistryEntries":2' in lines[0]


def test_the_registry_is_never_imported_when_it_is_off() -> None:
    import subprocess
    import sys

    script = (
        "import sys; from authorizer import app; "
        "print(sorted(m for m in sys.modules if m.startswith('authorizer.tables') "
        "or m.endswith(('keysets', 'tenancy'))))"
    )
    env = {
        "USER_POOL_ID": "us-east-1_TestPool1",
        "APP_CLIENT_IDS": "testclient123",
        "JWKS_URL": "http://127.0.0.1:9/jwks.json",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_key_sets_count_each_eviction() -> None:
    made: list[str] = []
    evicted: list[int] = []

    def make(url: str) -> Any:
        made.append(url)
        return object()

    def on_evict(*, held: int) -> None:
        evicted.append(held)

    sets = KeySets(make, max_sets=2, evicted=on_evict)
    first = sets.get("a")
    assert sets.get("a") is first
    sets.get("b")
    sets.get("a")  # b is now the least recently used
    sets.get("c")
    assert evicted == [1]
    assert sets.peek("b") is None
    assert sets.peek("a") is first
    assert made == ["a", "b", "c"]


# --- settings -----------------------------------------------------------------------------


def test_the_registry_alone_needs_no_configured_pool() -> None:
    from authorizer.verification.config import load_config
    from shared.exceptions import ConfigurationError

    config = load_config({"TENANT_TABLE": "tenants"})
    assert config.pools == ()
    assert (config.tenant_refresh_seconds, config.tenant_max_stale_seconds) == (10, 120)
    assert config.max_key_sets == 1000
    assert config.tenant_key_url("eu-west-1", "eu-west-1_Abc") == default_jwks_url(
        "eu-west-1", "eu-west-1_Abc"
    )
    with pytest.raises(ConfigurationError, match=r"^USER_POOL_ID: is required"):
        load_config({})  # without the registry a pool is still required


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TENANT_TABLE": "ab"}, "^TENANT_TABLE: must be a DynamoDB table name"),
        ({"TENANT_REFRESH_SECONDS": "0"}, "^TENANT_REFRESH_SECONDS: must be between 1 and 300"),
        ({"TENANT_REFRESH_SECONDS": "301"}, "^TENANT_REFRESH_SECONDS: must be between 1 and 300"),
        (
            {"TENANT_REFRESH_SECONDS": "30", "TENANT_MAX_STALE_SECONDS": "29"},
            "^TENANT_MAX_STALE_SECONDS: must be between 30 and 3600",
        ),
        ({"TENANT_MAX_STALE_SECONDS": "3601"}, "^TENANT_MAX_STALE_SECONDS: must be between"),
        ({"MAX_KEY_SETS": "0"}, "^MAX_KEY_SETS: must be between 1 and 100000 key sets"),
        ({"MAX_KEY_SETS": "100001"}, "^MAX_KEY_SETS: must be between 1 and 100000 key sets"),
        (
            {"TENANT_JWKS_URL": "http://127.0.0.1:9229/jwks.json"},
            r"^TENANT_JWKS_URL: must name the pool once, as \{userPoolId\}",
        ),
        (
            {"TENANT_JWKS_URL": "http://127.0.0.1/{userPoolId}/{userPoolId}"},
            r"^TENANT_JWKS_URL: must name the pool once",
        ),
        (
            {"TENANT_JWKS_URL": "http://keys.example/{userPoolId}/jwks.json"},
            "^TENANT_JWKS_URL: must use https",
        ),
        (  # checked as it would be for a sample pool, which the message shows
            {"TENANT_JWKS_URL": "/keys/{userPoolId}/jwks.json"},
            "^TENANT_JWKS_URL: must be an absolute https URL, "
            r"got '/keys/us-east-1_pool/jwks.json'$",
        ),
    ],
)
def test_each_registry_setting_is_refused_by_name(env: dict[str, str], message: str) -> None:
    from authorizer.verification.config import load_config
    from shared.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        load_config({"TENANT_TABLE": "tenants", **env})


def test_the_ranges_ends_are_accepted_and_the_key_url_names_each_pool() -> None:
    from authorizer.verification.config import load_config

    config = load_config(
        {
            "TENANT_TABLE": "arn:aws:dynamodb:eu-west-1:123456789012:table/tenants",
            "TENANT_REFRESH_SECONDS": "300",
            "TENANT_MAX_STALE_SECONDS": "300",
            "MAX_KEY_SETS": "100000",
            "TENANT_JWKS_URL": "http://127.0.0.1:9229/{userPoolId}/.well-known/jwks.json",
        }
    )
    assert (config.tenant_refresh_seconds, config.tenant_max_stale_seconds) == (300, 300)
    assert config.max_key_sets == 100_000
    assert (
        config.tenant_key_url("eu-west-1", "eu-west-1_Abc")
        == "http://127.0.0.1:9229/eu-west-1_Abc/.well-known/jwks.json"
    )
    low = load_config(
        {"TENANT_TABLE": "tenants", "TENANT_REFRESH_SECONDS": "1", "MAX_KEY_SETS": "1"}
    )
    assert (low.tenant_refresh_seconds, low.tenant_max_stale_seconds, low.max_key_sets) == (
        1,
        120,
        1,
    )


def test_a_cold_start_reading_several_items_of_a_tenant_keeps_its_newest(
    clock: FakeClock, table: FakeTenantTable, capsys: pytest.CaptureFixture[str]
) -> None:
    INITECH.register(table, clock.now - 30)
    INITECH.register(table, clock.now - 20, status="suspended")
    wired = wire(clock, table)
    capsys.readouterr()
    assert wired.decide(INITECH.token(clock))["isAuthorized"] is False
    assert reason_of(capsys) == ["tenant_suspended"]


def test_the_decision_line_names_the_tenant_once_known(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    wired.decide(ACME.token(wired.clock))
    wired.decide(STRANGER.token(wired.clock))
    ACME.register(wired.table, wired.clock.now, status="suspended")
    wired.clock.advance(REFRESH)
    wired.decide(ACME.token(wired.clock))
    records = [r for r in log_records(capsys.readouterr().out) if "decision" in r]
    assert [(r["reason"], r.get("tenantId")) for r in records] == [
        ("ok", "acme"),
        ("wrong_issuer", None),
        ("tenant_suspended", "acme"),
    ]


def test_a_rest_apis_policy_carries_the_tenant_too(wired: Wired) -> None:
    from authorizer.api.rest import RestAuthorizer, load_api_settings
    from tests.forge import load_event

    settings = load_api_settings({"API_TYPE": "rest", "API_ROUTES": "GET /hello,POST /hello"}, {})
    rest = RestAuthorizer(wired.authorizer, {}, settings.routes)
    event = load_event("rest_token.json")
    event["authorizationToken"] = f"Bearer {ACME.token(wired.clock)}"
    answer = rest.handle(event)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert (answer["context"]["tenantId"], answer["context"]["tenant:plan"]) == ("acme", "gold")
    ACME.register(wired.table, wired.clock.now, status="suspended")
    wired.clock.advance(REFRESH)
    event["authorizationToken"] = f"Bearer {ACME.token(wired.clock)}"
    denied = rest.handle(event)
    assert {s["Effect"] for s in denied["policyDocument"]["Statement"]} == {"Deny"}


def test_a_tenants_next_token_takes_the_fast_path_while_its_key_set_is_fresh(
    wired: Wired, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A token with a header seen before, of a tenant whose key set is held and fresh:
    # no parse and no lookup by iss. Anything less than that goes the canonical way.
    verifier = wired.authorizer.verifier
    canonical = verifier._key_for
    canonical_calls: list[str] = []

    def counted(token: str) -> Any:
        canonical_calls.append(token)
        return canonical(token)

    monkeypatch.setattr(verifier, "_key_for", counted)
    assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is True
    assert len(canonical_calls) == 1
    allowed = wired.decide(ACME.token(wired.clock, sub="another-user"))
    assert (allowed["isAuthorized"], allowed["context"]["tenantId"]) == (True, "acme")
    assert len(canonical_calls) == 1
    wired.clock.advance(3601)  # past the key set's cache period: the fast path lets go
    assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is True
    assert (len(canonical_calls), wired.hosts.of(ACME)) == (2, 2)
    ACME.register(wired.table, wired.clock.now, status="suspended")
    wired.clock.advance(REFRESH)
    capsys.readouterr()
    assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is False
    assert reason_of(capsys) == ["tenant_suspended"]
    assert len(canonical_calls) == 3


def test_a_refresh_that_reads_the_same_items_again_keeps_remembered_tokens(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    # Items written in the last minute are read again by every refresh (the overlap); the
    # tenant they make is the one already held, so what it verified stays remembered.
    table = FakeTenantTable()
    INITECH.register(table, clock.now - 1)
    wired = wire(clock, table)
    token = INITECH.token(clock)
    for _ in range(2):
        wired.decide(token)
        clock.advance(REFRESH)
    wired.decide(token)
    assert len(table.queries) == 3
    records = [r for r in log_records(capsys.readouterr().out) if "decision" in r]
    assert [r["verifiedTokenCache"] for r in records] == [False, True, True]


def test_a_refresh_runs_beside_the_requests_not_in_them(clock: FakeClock) -> None:
    table = FakeTenantTable()
    ACME.register(table, clock.now - 60)
    threads: list[threading.Thread] = []

    def query(after: str) -> list[dict[str, Any]]:
        threads.append(threading.current_thread())
        return table(after)

    hosts = KeyHosts()
    settings = {"TENANT_TABLE": "tenants", "TENANT_REFRESH_SECONDS": str(REFRESH)}
    authorizer = build_authorizer(
        _tenants_only(settings), baked=NO_BAKED_KEYS, fetch=hosts, clock=clock, tenant_query=query
    )
    wired = Wired(authorizer, table, hosts, clock)
    assert wired.decide(ACME.token(clock))["isAuthorized"] is True  # the first read, inline
    clock.advance(REFRESH / 2)  # due, and not yet needed: read in the background
    assert wired.decide(ACME.token(clock))["isAuthorized"] is True
    clock.advance(REFRESH / 2)
    wired.decide(ACME.token(clock))  # collects the background read
    main = threading.current_thread()
    assert threads[0] is main
    assert len(threads) >= 2
    assert all(thread is not main for thread in threads[1:])


def test_a_registry_built_for_one_thread_refreshes_on_the_request_itself(clock: FakeClock) -> None:
    # background=False (the benches, the tenant tool) reads the table inline when a
    # refresh is due, so a change is seen by the very request that found it due.
    table = FakeTenantTable()
    threads: list[threading.Thread] = []

    def query(after: str) -> list[dict[str, Any]]:
        threads.append(threading.current_thread())
        return table(after)

    registry = TenantRegistry(
        query,
        key_url=lambda region, pool: f"https://keys.example/{pool}",
        refresh_seconds=REFRESH,
        max_stale_seconds=REFRESH * 12,
        logger=logging.getLogger("test"),
        clock=clock,
        background=False,
    )
    assert registry.load()
    ACME.register(table, clock.now)
    clock.advance(REFRESH / 2)  # due, and not yet needed
    assert registry.tenant_of_pool(ACME.user_pool_id) is not None
    assert threads == [threading.current_thread()] * 2


def test_a_third_live_tenant_on_a_contested_pool_changes_nothing_until_two_leave(
    wired: Wired, capsys: pytest.CaptureFixture[str]
) -> None:
    token = ACME.token(wired.clock)
    assert wired.decide(token)["isAuthorized"] is True
    for copy in ("acme-copy", "acme-third"):
        wired.table.put(
            copy,
            wired.clock.now,
            user_pool_id=ACME.user_pool_id,
            app_client_ids=[ACME.client_id],
        )
        wired.clock.advance(REFRESH)
        assert wired.decide(ACME.token(wired.clock))["isAuthorized"] is False
    warned = [
        (r["level"], r["message"], r["userPoolId"], r["tenantIds"])
        for r in log_records(capsys.readouterr().out)
        if "tenantIds" in r
    ]
    message = (
        "tenant registry names a user pool for two live tenants; "
        "its tokens are denied until one of them changes"
    )
    # Each new claim warned once, with the claimants as they stand.
    assert warned == [
        ("WARNING", message, ACME.user_pool_id, ["acme", "acme-copy"]),
        ("WARNING", message, ACME.user_pool_id, ["acme", "acme-copy", "acme-third"]),
    ]
    for leaving in ("acme", "acme-third"):
        wired.table.put(leaving, wired.clock.now, status="deleted")
    wired.clock.advance(REFRESH)
    assert wired.decide(ACME.token(wired.clock))["context"]["tenantId"] == "acme-copy"


def test_a_single_claim_warns_of_nothing(
    clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    table = FakeTenantTable()
    ACME.register(table, clock.now - 60)
    wired = wire(clock, table)
    assert wired.decide(ACME.token(clock))["isAuthorized"] is True
    assert [r for r in log_records(capsys.readouterr().out) if "tenantIds" in r] == []


def test_the_ledger_keeps_each_tenants_newest_item_whatever_order_it_is_given() -> None:
    # A Query answers in sort-key order; the ledger does not rely on it.
    def state(at: float, status: str) -> dict[str, Any]:
        return tenant_item(
            "acme",
            changed_at=at,
            status=status,
            user_pool_id=ACME.user_pool_id,
            app_client_ids=[ACME.client_id],
        )

    ledger = TenantLedger(default_jwks_url, logging.getLogger("test"))
    batch = ledger.batch()
    for item in (state(20, "suspended"), state(10, "active")):
        assert ledger.add(batch, item, started=30) is True
    ledger.apply(batch, [], now=30)
    assert ledger.tenants["acme"].status == "suspended"
    older = ledger.batch()
    ledger.add(older, state(15, "active"), started=40)
    ledger.apply(older, [], now=40)
    assert ledger.tenants["acme"].status == "suspended"
    assert ledger.newest == {"acme": tenant_sort_key("acme", 20)}


def test_the_registry_reads_its_own_partition_and_only_what_an_item_says() -> None:
    item = tenant_item("acme", changed_at=10, status="deleted")
    requests: list[dict[str, Any]] = []

    class Client:
        def query(self, **request: Any) -> dict[str, Any]:
            requests.append(request)
            return {"Items": [item], "Count": 1}

    assert list(dynamodb_query("tenant-table", Client())("000000000000000")) == [item]
    [request] = requests
    assert request["TableName"] == "tenant-table"
    assert request["ExpressionAttributeValues"] == {
        ":pk": {"S": "tenants"},
        ":cursor": {"S": "000000000000000"},
    }
    assert set(request["ExpressionAttributeNames"].values()) == {"pk", *READ_ATTRIBUTES}
