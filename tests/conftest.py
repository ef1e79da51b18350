from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jwt
import pytest
import responses

from authorizer.config import AuthorizerConfig, load_config
from authorizer.handler import Authorizer
from authorizer.jwks import Fetcher, JwksCache, fetch_jwks
from authorizer.verify import TokenVerifier
from shared.jsonlog import get_logger
from tests.forge import CLIENT_ID, JWKS_URL, OTHER_CLIENT_ID, POOL_ID, forged_key, jwks_body

BASE_ENV = {
    "USER_POOL_ID": POOL_ID,
    "APP_CLIENT_IDS": f"{CLIENT_ID}, {OTHER_CLIENT_ID}",
    "LOG_LEVEL": "DEBUG",
}


def make_config(**overrides: str) -> AuthorizerConfig:
    return load_config({**BASE_ENV, **overrides})


@pytest.fixture
def config() -> AuthorizerConfig:
    return make_config()


@dataclass
class FakeClock:
    """Wall-clock seconds for claims and verified tokens; the JWKS cache uses the same timeline.

    PyJWT reads the time itself for exp/nbf/iat; while a test runs, it reads
    the most recently made FakeClock instead (see ``_pyjwt_reads_the_fake_clock``).
    """

    now: float = field(default_factory=time.time)
    latest: ClassVar[FakeClock | None] = None

    def __post_init__(self) -> None:
        FakeClock.latest = self

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _FakeClockDatetime(datetime.datetime):
    """What PyJWT's ``datetime.now(tz=timezone.utc)`` returns during a test."""

    @classmethod
    def now(cls, tz: datetime.tzinfo | None = None) -> Any:
        fake = FakeClock.latest
        if fake is None:
            return datetime.datetime.now(tz)
        return datetime.datetime.fromtimestamp(fake.now, tz)


@pytest.fixture(autouse=True)
def _pyjwt_reads_the_fake_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FakeClockDatetime)
    yield
    FakeClock.latest = None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class Stack:
    """An authorizer wired like app.py, with a fake clock and a mocked or fake JWKS fetch."""

    authorizer: Authorizer
    jwks: JwksCache
    verifier: TokenVerifier
    clock: FakeClock
    fetches: list[str] = field(default_factory=list)

    def handle(self, event: Any) -> dict[str, Any]:
        return self.authorizer.handle(event)


def build_stack(config: AuthorizerConfig, clock: FakeClock, fetch: Fetcher = fetch_jwks) -> Stack:
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
    return Stack(Authorizer(verifier, logger, config.route_rules), jwks, verifier, clock, fetches)


@pytest.fixture
def make_stack(clock: FakeClock) -> Callable[..., Stack]:
    def factory(config: AuthorizerConfig | None = None, fetch: Fetcher = fetch_jwks) -> Stack:
        return build_stack(config or make_config(), clock, fetch)

    return factory


@pytest.fixture
def jwks_endpoint() -> Iterator[responses.RequestsMock]:
    """The pool's JWKS URL served by ``responses`` with the default forged key."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        yield mock


@pytest.fixture
def stack(make_stack: Callable[..., Stack], jwks_endpoint: responses.RequestsMock) -> Stack:
    return make_stack()


@pytest.fixture(autouse=True)
def _quiet_product_loggers() -> Iterator[None]:
    # Loggers are process-wide; a test that changes a level must not leak it.
    levels = {name: logging.getLogger(name).level for name in ("authorizer", "greeter")}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
