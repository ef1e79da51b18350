"""What test modules (and ``make bench``) build an authorizer from: settings, a clock, the wiring.

Plain helpers, imported by name; the pytest fixtures over them are in
``tests/conftest.py``.
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authorizer.config import AuthorizerConfig, load_config
from authorizer.handler import Authorizer
from authorizer.jwks import Fetcher, JwksCache, fetch_jwks
from authorizer.verify import TokenVerifier
from shared.jsonlog import get_logger
from tests.forge import CLIENT_ID, OTHER_CLIENT_ID, POOL_ID

BASE_ENV = {
    "USER_POOL_ID": POOL_ID,
    "APP_CLIENT_IDS": f"{CLIENT_ID}, {OTHER_CLIENT_ID}",
    "LOG_LEVEL": "DEBUG",
}


def make_config(**overrides: str) -> AuthorizerConfig:
    return load_config({**BASE_ENV, **overrides})


@dataclass
class FakeClock:
    """Wall-clock seconds for claims and verified tokens; the JWKS cache uses the same timeline.

    PyJWT reads the time itself for exp/nbf/iat; while a test runs, it reads
    the most recently made FakeClock instead (``PyJWTDatetime``, installed by
    an autouse fixture in tests/conftest.py).
    """

    now: float = field(default_factory=time.time)
    latest: ClassVar[FakeClock | None] = None

    def __post_init__(self) -> None:
        FakeClock.latest = self

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class PyJWTDatetime(datetime.datetime):
    """What PyJWT's ``datetime.now(tz=timezone.utc)`` returns in a test: the latest FakeClock."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> Any:
        fake = FakeClock.latest
        if fake is None:
            return datetime.datetime.now(tz)
        return datetime.datetime.fromtimestamp(fake.now, tz)


@dataclass
class WiredAuthorizer:
    """An authorizer wired like app.py, with a fake clock and a mocked or fake JWKS fetch."""

    authorizer: Authorizer
    jwks: JwksCache
    verifier: TokenVerifier
    clock: FakeClock
    fetches: list[str] = field(default_factory=list)

    def handle(self, event: Any) -> dict[str, Any]:
        return self.authorizer.handle(event)


def wire_authorizer(
    config: AuthorizerConfig, clock: FakeClock, fetch: Fetcher = fetch_jwks
) -> WiredAuthorizer:
    logger = get_logger("authorizer", config.log_level)
    fetches: list[str] = []

    def counting_fetch(url: str) -> bytes:
        fetches.append(url)
        return fetch(url)

    jwks = JwksCache(
        config.jwks_url,
        cache_seconds=config.jwks_cache_seconds,
        miss_cooldown_seconds=config.jwks_miss_cooldown_seconds,
        logger=logger,
        fetch=counting_fetch,
        clock=clock,
    )
    verifier = TokenVerifier(config, jwks, clock=clock)
    return WiredAuthorizer(
        Authorizer(verifier, logger, config.route_rules), jwks, verifier, clock, fetches
    )
