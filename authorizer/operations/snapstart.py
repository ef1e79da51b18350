"""Lambda SnapStart runtime hooks for the authorizer (used when the SnapStart parameter is on).

With SnapStart, Lambda runs the init phase once when a version is published,
snapshots the microVM, and resumes every new execution environment from that
snapshot, possibly days later and many times over. Two things in our init
state care:

- The key set was fetched before the snapshot. Its freshness is tracked on a
  monotonic clock, which is not documented to count the time a snapshot sat
  in storage, so the age is re-checked on the wall clock after a restore and
  the set refreshed when it is older than the cache period. A refresh that
  fails keeps serving the held keys, as at any other time (stale-if-error).
- Everything in memory is shared by every restored environment. AWS asks that
  pseudorandom state be re-seeded after a restore. Nothing here is unique per
  environment otherwise: the verified-token cache and the header cache fill
  only from requests, and Lambda takes the snapshot before any invocation
  (the restore hook empties the verified-token cache all the same, so no
  future warm-up can put a decision into every environment); the JWKS fetch
  opens a new connection each time, so no pooled socket from before the
  snapshot is ever reused.

https://docs.aws.amazon.com/lambda/latest/dg/snapstart.html
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-runtime-hooks-python.html
https://docs.aws.amazon.com/lambda/latest/dg/snapstart-uniqueness.html

``snapshot_restore_py`` ships only in Lambda's Python runtime: hooks are
registered when it can be imported, and the functions here are plain
functions that tests call directly.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple, Protocol


class KeySet(Protocol):
    """The public part of ``authorizer.verification.jwks.JwksCache`` the hooks use."""

    @property
    def is_fresh(self) -> bool: ...

    def warm(self) -> None: ...


class Verifier(Protocol):
    """The public part of ``authorizer.verification.verify.TokenVerifier`` the hooks use."""

    @property
    def key_sets(self) -> Sequence[KeySet]: ...

    def forget_tokens(self) -> None: ...


@dataclass
class SnapshotRecord:
    """When the snapshot was taken, by the wall clock (None until it is)."""

    taken_at: float | None = None


class Restored(NamedTuple):
    snapshot_age_seconds: float | None
    refreshed_keys: bool


def before_snapshot(
    keys: KeySet, record: SnapshotRecord, *, wall_clock: Callable[[], float] = time.time
) -> None:
    """Freeze a fresh key set into the snapshot and note when it was taken.

    Refreshing here (when needed) means a restore finds a set whose age is
    about the snapshot's own age.
    """
    if not keys.is_fresh:
        keys.warm()
    record.taken_at = wall_clock()


def after_restore(
    keys: KeySet,
    record: SnapshotRecord,
    *,
    max_key_age_seconds: float,
    wall_clock: Callable[[], float] = time.time,
    reseed: Callable[[], None] = random.seed,
) -> Restored:
    """Re-seed pseudorandom state, then refresh the key set if it is stale by either clock.

    Stale means: the cache itself says so, or the snapshot is at least
    ``max_key_age_seconds`` old by the wall clock, or its age is unknown.
    With a snapshot younger than that, the set in hand is trusted for at most
    its cache period past the restore, so never longer than twice the period
    in all.
    """
    reseed()
    age = None if record.taken_at is None else max(0.0, wall_clock() - record.taken_at)
    stale = age is None or age >= max_key_age_seconds or not keys.is_fresh
    if stale:
        keys.warm()
    return Restored(snapshot_age_seconds=age, refreshed_keys=stale)


def load_runtime_hooks() -> ModuleType | None:
    """Lambda's ``snapshot_restore_py``, or None anywhere else."""
    try:
        import snapshot_restore_py  # type: ignore[import-not-found]  # only in Lambda's runtime
    except ImportError:
        return None
    module: ModuleType = snapshot_restore_py
    return module


def register_hooks(
    keys: KeySet,
    *,
    max_key_age_seconds: float,
    runtime: Any = None,
    on_restore: Callable[[Restored], None] | None = None,
    wall_clock: Callable[[], float] = time.time,
) -> SnapshotRecord | None:
    """Register both hooks with the runtime; None when there is no SnapStart runtime.

    ``runtime`` is the ``snapshot_restore_py`` module (looked up when not
    given). ``on_restore`` receives what the restore did, to log it or count it.
    The after-restore hook must finish within Lambda's 10 s restore limit: the
    key-set fetch is bounded well below it (authorizer.verification.jwks.TOTAL_FETCH_SECONDS).
    """
    module = runtime if runtime is not None else load_runtime_hooks()
    if module is None:
        return None
    record = SnapshotRecord()

    def restore() -> None:
        restored = after_restore(
            keys, record, max_key_age_seconds=max_key_age_seconds, wall_clock=wall_clock
        )
        if on_restore is not None:
            on_restore(restored)

    module.register_before_snapshot(before_snapshot, keys, record, wall_clock=wall_clock)
    module.register_after_restore(restore)
    return record


def register_verifier_hooks(
    verifier: Verifier,
    *,
    max_key_age_seconds: float,
    logger: logging.Logger,
    runtime: Any = None,
    wall_clock: Callable[[], float] = time.time,
) -> list[SnapshotRecord]:
    """Register the hooks for every pool's key set; empty when there is no SnapStart runtime.

    Each restore also empties the verified-token cache and logs what it did.
    """
    module = runtime if runtime is not None else load_runtime_hooks()
    if module is None:
        return []
    records = []
    for keys in verifier.key_sets:
        record = register_hooks(
            keys,
            max_key_age_seconds=max_key_age_seconds,
            runtime=module,
            on_restore=_on_restore(verifier, getattr(keys, "url", None), logger),
            wall_clock=wall_clock,
        )
        if record is not None:
            records.append(record)
    return records


def _on_restore(
    verifier: Verifier, jwks_url: str | None, logger: logging.Logger
) -> Callable[[Restored], None]:
    def restored(what: Restored) -> None:
        verifier.forget_tokens()
        logger.info(
            "restored from a snapshot",
            extra={
                "jwksUrl": jwks_url,
                "snapshotAgeSeconds": what.snapshot_age_seconds,
                "refreshedKeys": what.refreshed_keys,
            },
        )

    return restored
