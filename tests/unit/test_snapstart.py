"""SnapStart hooks, called directly: the key set is re-checked on the wall clock after a
restore, refreshed when stale, and every restored environment gets its own random state."""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import random
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import responses

from authorizer.exceptions import JwksFetchError
from authorizer.operations.snapstart import (
    Restored,
    SnapshotRecord,
    after_restore,
    before_snapshot,
    load_runtime_hooks,
    register_hooks,
    register_verifier_hooks,
)
from authorizer.verification.config import load_config
from authorizer.verification.jwks import JwksCache
from authorizer.verification.verify import TokenVerifier
from shared.jsonlog import get_logger
from tests.forge import (
    CLIENT_ID,
    JWKS_URL,
    authorizer_event,
    claims,
    forged_key,
    jwks_body,
    sign,
)
from tests.helpers import BASE_ENV

CACHE_SECONDS = 3600.0
SNAPSHOT_AT = 1_700_000_000.0


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class KeyServer:
    """Counts fetches; serves the current kids or fails."""

    def __init__(self, *kids: str) -> None:
        self.kids = kids
        self.fetches = 0
        self.failing = False

    def __call__(self, url: str) -> bytes:
        assert url == JWKS_URL
        self.fetches += 1
        if self.failing:
            raise JwksFetchError("connection refused")
        return jwks_body(*(forged_key(kid) for kid in self.kids))


@pytest.fixture
def server() -> KeyServer:
    return KeyServer("key-1")


@pytest.fixture
def monotonic() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def keys(server: KeyServer, monotonic: Clock) -> JwksCache:
    cache = JwksCache(
        JWKS_URL,
        cache_seconds=CACHE_SECONDS,
        miss_cooldown_seconds=10,
        logger=logging.getLogger("test.snapstart"),
        fetch=server,
        clock=monotonic,
    )
    cache.warm()  # the init phase
    return cache


def kids(cache: JwksCache) -> set[str]:
    return {kid for kid in ("key-1", "key-2") if _has(cache, kid)}


def _has(cache: JwksCache, kid: str) -> bool:
    public = forged_key(kid).private_key.public_key().public_numbers()
    return any(key.key.public_numbers() == public for key in cache.held_keys())


def restore(keys: JwksCache, record: SnapshotRecord, wall_now: float, **kw: Any) -> Restored:
    return after_restore(
        keys,
        record,
        max_key_age_seconds=CACHE_SECONDS,
        wall_clock=Clock(wall_now),
        reseed=kw.pop("reseed", lambda: None),
    )


# --- before the snapshot ------------------------------------------------------------


def test_before_snapshot_notes_the_time_and_keeps_fresh_keys(keys, server):
    record = SnapshotRecord()
    before_snapshot(keys, record, wall_clock=Clock(SNAPSHOT_AT))
    assert record.taken_at == SNAPSHOT_AT
    assert server.fetches == 1  # the init phase's fetch only


def test_before_snapshot_refreshes_a_stale_set_so_the_snapshot_holds_a_fresh_one(
    keys, server, monotonic
):
    monotonic.now += CACHE_SECONDS + 1
    server.kids = ("key-2",)
    before_snapshot(keys, SnapshotRecord(), wall_clock=Clock(SNAPSHOT_AT))
    assert server.fetches == 2
    assert kids(keys) == {"key-2"}
    assert keys.is_fresh


# --- after a restore --------------------------------------------------------------------


def test_a_prompt_restore_keeps_the_fresh_set_without_a_fetch(keys, server):
    record = SnapshotRecord(taken_at=SNAPSHOT_AT)
    restored = restore(keys, record, SNAPSHOT_AT + 60)
    assert restored == Restored(snapshot_age_seconds=60.0, refreshed_keys=False)
    assert server.fetches == 1


def test_a_snapshot_exactly_one_cache_period_old_is_refreshed(keys, server):
    record = SnapshotRecord(taken_at=SNAPSHOT_AT)
    just_under = restore(keys, record, SNAPSHOT_AT + CACHE_SECONDS - 1)
    assert (just_under.refreshed_keys, server.fetches) == (False, 1)
    at_the_period = restore(keys, record, SNAPSHOT_AT + CACHE_SECONDS)
    assert (at_the_period.refreshed_keys, server.fetches) == (True, 2)


def test_a_restore_long_after_the_snapshot_refreshes_although_the_monotonic_clock_stood_still(
    keys, server, monotonic
):
    # The snapshot sat in storage for two days; the cache's own clock saw none of it.
    server.kids = ("key-2",)
    record = SnapshotRecord(taken_at=SNAPSHOT_AT)
    assert keys.is_fresh
    restored = restore(keys, record, SNAPSHOT_AT + 2 * 86400)
    assert restored == Restored(snapshot_age_seconds=2 * 86400.0, refreshed_keys=True)
    assert server.fetches == 2
    assert kids(keys) == {"key-2"}


def test_a_restore_refreshes_when_the_cache_itself_says_stale(keys, server, monotonic):
    monotonic.now += CACHE_SECONDS
    restored = restore(keys, SnapshotRecord(taken_at=SNAPSHOT_AT), SNAPSHOT_AT + 5)
    assert restored.refreshed_keys is True
    assert server.fetches == 2
    assert keys.is_fresh


def test_a_restore_with_no_recorded_snapshot_time_refreshes(keys, server):
    restored = restore(keys, SnapshotRecord(), SNAPSHOT_AT)
    assert restored == Restored(snapshot_age_seconds=None, refreshed_keys=True)
    assert server.fetches == 2


def test_a_failed_refresh_after_restore_keeps_serving_the_held_keys(keys, server):
    server.failing = True
    restored = restore(keys, SnapshotRecord(taken_at=SNAPSHOT_AT), SNAPSHOT_AT + 86400)
    assert restored.refreshed_keys is True
    assert server.fetches == 2
    # stale-if-error: the key the snapshot holds still verifies tokens
    assert keys.get_key("key-1") is not None


def test_a_clock_that_went_backwards_counts_as_no_age(keys, server):
    restored = restore(keys, SnapshotRecord(taken_at=SNAPSHOT_AT), SNAPSHOT_AT - 30)
    assert restored == Restored(snapshot_age_seconds=0.0, refreshed_keys=False)


def test_restored_environments_do_not_share_random_state(keys):
    # Every environment resumes from the same memory, so the same PRNG state.
    random.seed(1234)
    snapshot_state = random.getstate()
    draws = []
    for _ in range(2):
        random.setstate(snapshot_state)
        after_restore(
            keys,
            SnapshotRecord(taken_at=SNAPSHOT_AT),
            max_key_age_seconds=CACHE_SECONDS,
            wall_clock=Clock(SNAPSHOT_AT + 1),
        )
        draws.append(random.getrandbits(128))
    assert draws[0] != draws[1]


# --- registration -------------------------------------------------------------------------


class FakeRuntime:
    """Records registrations the way snapshot_restore_py does: (func, args, kwargs)."""

    def __init__(self) -> None:
        self.before: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []
        self.after: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    def register_before_snapshot(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.before.append((func, args, kwargs))
        return func

    def register_after_restore(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.after.append((func, args, kwargs))
        return func


def test_registered_hooks_run_as_the_runtime_would_run_them(keys, server):
    runtime = FakeRuntime()
    seen: list[Restored] = []
    wall = Clock(SNAPSHOT_AT)
    record = register_hooks(
        keys,
        max_key_age_seconds=CACHE_SECONDS,
        runtime=runtime,
        on_restore=seen.append,
        wall_clock=wall,
    )
    assert record is not None
    assert (len(runtime.before), len(runtime.after)) == (1, 1)
    func, args, kwargs = runtime.before[0]
    func(*args, **kwargs)  # Lambda snapshots; the version sits unused for a day
    wall.now += 86400
    server.kids = ("key-2",)
    for func, args, kwargs in runtime.after:
        func(*args, **kwargs)
    assert record.taken_at == SNAPSHOT_AT
    assert seen == [Restored(snapshot_age_seconds=86400.0, refreshed_keys=True)]
    assert server.fetches == 2
    assert kids(keys) == {"key-2"}


def test_without_lambdas_runtime_nothing_is_registered(keys):
    # snapshot_restore_py ships only in Lambda's Python runtime, not in this venv.
    assert load_runtime_hooks() is None
    assert register_hooks(keys, max_key_age_seconds=CACHE_SECONDS) is None


def importable_runtime(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeRuntime, ModuleType]:
    """A ``snapshot_restore_py`` module that records what is registered with it."""
    runtime = FakeRuntime()
    module = ModuleType("snapshot_restore_py")
    module.register_before_snapshot = runtime.register_before_snapshot  # type: ignore[attr-defined]
    module.register_after_restore = runtime.register_after_restore  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    return runtime, module


def test_the_runtime_module_is_used_when_it_can_be_imported(keys, monkeypatch):
    runtime, module = importable_runtime(monkeypatch)
    assert load_runtime_hooks() is module
    assert register_hooks(keys, max_key_age_seconds=CACHE_SECONDS) is not None
    assert (len(runtime.before), len(runtime.after)) == (1, 1)


# --- the authorizer's own registration (authorizer/app.py) ---------------------------------


def run_snapshot_and_restore(runtime: FakeRuntime, wall: Clock, days_later: float) -> None:
    for func, args, kwargs in runtime.before:
        func(*args, **kwargs)
    wall.now += days_later * 86400
    for func, args, kwargs in runtime.after:
        func(*args, **kwargs)


def test_every_pools_key_set_is_refreshed_and_remembered_tokens_are_forgotten(
    server, monotonic, capsys
):
    other = KeyServer("key-2")
    other_url = JWKS_URL.replace("TestPool1", "TestPool2")

    def serve(url: str) -> bytes:
        return server(url) if url == JWKS_URL else other(JWKS_URL)

    pools = [
        {"userPoolId": pool_id, "appClientIds": [CLIENT_ID]}
        for pool_id in ("us-east-1_TestPool1", "us-east-1_TestPool2")
    ]
    config = load_config({"USER_POOLS": json.dumps(pools)})
    key_sets = [
        JwksCache(
            pool.jwks_url,
            cache_seconds=CACHE_SECONDS,
            miss_cooldown_seconds=10,
            logger=logging.getLogger("authorizer"),
            fetch=serve,
            clock=monotonic,
        )
        for pool in config.pools
    ]
    assert [k.url for k in key_sets] == [JWKS_URL, other_url]
    for key_set in key_sets:
        key_set.warm()
    verifier = TokenVerifier(config, key_sets)
    token = sign(claims())
    assert verifier.verify(token)[1] is False
    assert verifier.verify(token)[1] is True  # remembered

    runtime, wall = FakeRuntime(), Clock(SNAPSHOT_AT)
    records = register_verifier_hooks(
        verifier,
        max_key_age_seconds=CACHE_SECONDS,
        logger=get_logger("authorizer", "INFO"),
        runtime=runtime,
        wall_clock=wall,
    )
    assert len(records) == 2
    capsys.readouterr()
    run_snapshot_and_restore(runtime, wall, days_later=1)
    assert [record.taken_at for record in records] == [SNAPSHOT_AT, SNAPSHOT_AT]

    assert (server.fetches, other.fetches) == (2, 2)  # both sets refreshed after the restore
    assert verifier.verify(token)[1] is False  # verified afresh, not from shared memory
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    restores = [line for line in lines if line.get("message") == "restored from a snapshot"]
    assert [r["jwksUrl"] for r in restores] == [JWKS_URL, other_url]
    assert all(r["snapshotAgeSeconds"] == 86400.0 and r["refreshedKeys"] for r in restores)


@contextlib.contextmanager
def cold_start(
    monkeypatch: pytest.MonkeyPatch, init: str | None
) -> Iterator[tuple[ModuleType, responses.RequestsMock]]:
    """``authorizer.app`` imported afresh in a Lambda init of type ``init``, with JWKS served.

    monkeypatch puts back whatever ``authorizer.app`` was before, at teardown.
    """
    for name, value in BASE_ENV.items():
        monkeypatch.setenv(name, value)
    if init is None:
        monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    else:
        monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", init)
    monkeypatch.delitem(sys.modules, "authorizer.app", raising=False)
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        yield importlib.import_module("authorizer.app"), mock


def test_the_lambda_entry_point_registers_the_hooks_when_the_runtime_has_them(monkeypatch, capsys):
    runtime, _ = importable_runtime(monkeypatch)
    with cold_start(monkeypatch, "snap-start") as (app, mock):
        assert (len(runtime.before), len(runtime.after)) == (1, 1)
        assert len(mock.calls) == 1
        token = sign(claims())
        app.lambda_handler(authorizer_event(token), None)
        capsys.readouterr()
        for func, args, kwargs in runtime.before + runtime.after:
            func(*args, **kwargs)
    [restore] = [
        line
        for line in map(json.loads, capsys.readouterr().out.splitlines())
        if line.get("message") == "restored from a snapshot"
    ]
    assert restore["jwksUrl"] == JWKS_URL
    assert app.AUTHORIZER.verifier.verify(token)[1] is False  # the restore forgot it


def test_the_lambda_entry_point_registers_nothing_without_the_runtime(monkeypatch):
    with cold_start(monkeypatch, "snap-start") as (app, _):
        pass
    assert app.SNAPSHOTS == []


@pytest.mark.parametrize("init", ["on-demand", "provisioned-concurrency", None])
def test_an_init_without_snapstart_imports_no_hooks(monkeypatch, init):
    runtime, _ = importable_runtime(monkeypatch)
    monkeypatch.delitem(sys.modules, "authorizer.operations.snapstart", raising=False)
    monkeypatch.delitem(sys.modules, "authorizer.api.rest", raising=False)
    with cold_start(monkeypatch, init) as (app, _):
        pass
    assert app.SNAPSHOTS == []
    assert (runtime.before, runtime.after) == ([], [])
    # The default HTTP API's cold start compiles neither the hooks nor the REST module.
    assert "authorizer.operations.snapstart" not in sys.modules
    assert "authorizer.api.rest" not in sys.modules
