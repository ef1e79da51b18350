"""Registered tenants' key sets: made on a tenant's first token, the least recently used dropped.

With thousands of tenants an instance cannot hold every pool's keys, nor
fetch them at a cold start. A tenant's ``JwksCache`` is made when its first
token needs it (its keys fetched then, once however many requests wait for
them: the cache's own lock), kept with the same cache period, cooldown and
stale-if-error rules as a static pool's, and dropped beyond ``max_sets``, the
least recently used first. A dropped set is fetched again by its tenant's
next token. One tenant's set never serves another's tokens, so one tenant's
key outage touches no other tenant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from cachetools import LRUCache

from authorizer.verification.jwks import JwksCache

MakeKeySet = Callable[[str], JwksCache]


class Evicted(Protocol):
    """Counts one key set dropped to make room; ``held`` is how many remain."""

    def __call__(self, *, held: int) -> None: ...


class _Held(LRUCache[str, JwksCache]):
    """cachetools' LRU with a hook on what it evicts to make room."""

    def __init__(self, maxsize: int, evicted: Evicted | None) -> None:
        super().__init__(maxsize=maxsize)
        self._evicted = evicted

    def popitem(self) -> tuple[str, JwksCache]:
        item = super().popitem()
        if self._evicted is not None:
            self._evicted(held=len(self))
        return item


class KeySets:
    """Key sets by JWKS URL, at most ``max_sets`` of them."""

    def __init__(self, make: MakeKeySet, *, max_sets: int, evicted: Evicted | None = None) -> None:
        self._make = make
        self.max_sets = max_sets
        self._lock = threading.Lock()
        self._held = _Held(max_sets, evicted)

    def __len__(self) -> int:
        return len(self._held)

    def get(self, url: str) -> JwksCache:
        """The key set for ``url``, made (not yet fetched) when none is held."""
        with self._lock:  # one set per URL, however many threads ask at once
            held = self._held.get(url)
            if held is None:
                held = self._held[url] = self._make(url)
            return held

    def peek(self, url: str) -> JwksCache | None:
        """The key set for ``url`` if one is held (now the most recently used); never makes one.

        Without the lock: only a request's thread uses the sets, one request at a time.
        """
        return self._held.get(url)
