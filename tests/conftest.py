"""Fixtures for every test; the helpers they build on are in ``tests/helpers.py``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import jwt
import pytest
import responses

from authorizer.verification.config import AuthorizerConfig
from authorizer.verification.jwks import Fetcher, fetch_jwks
from local.lambdalog import install as install_lambda_log_format
from tests.forge import JWKS_URL, forged_key, jwks_body
from tests.helpers import FakeClock, PyJWTDatetime, WiredAuthorizer, make_config, wire_authorizer
from tests.security.fuzzing import EXAMPLES, PROFILE


@pytest.fixture(autouse=True, scope="session")
def _lambda_json_log_format() -> None:
    # What Lambda's runtime does before importing a handler; tests read the lines from stdout.
    install_lambda_log_format()


@pytest.fixture
def config() -> AuthorizerConfig:
    return make_config()


@pytest.fixture(autouse=True)
def _pyjwt_reads_the_fake_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(jwt.api_jwt, "datetime", PyJWTDatetime)
    yield
    FakeClock.latest = None


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_wired(clock: FakeClock) -> Callable[..., WiredAuthorizer]:
    def factory(
        config: AuthorizerConfig | None = None, fetch: Fetcher = fetch_jwks
    ) -> WiredAuthorizer:
        return wire_authorizer(config or make_config(), clock, fetch)

    return factory


@pytest.fixture
def jwks_endpoint() -> Iterator[responses.RequestsMock]:
    """The pool's JWKS URL served by ``responses`` with the default forged key."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        yield mock


@pytest.fixture
def wired(
    make_wired: Callable[..., WiredAuthorizer], jwks_endpoint: responses.RequestsMock
) -> WiredAuthorizer:
    return make_wired()


@pytest.fixture(autouse=True)
def _quiet_product_loggers() -> Iterator[None]:
    # Loggers are process-wide; a test that changes a level must not leak it.
    levels = {name: logging.getLogger(name).level for name in ("authorizer", "greeter")}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# How many handler fuzz examples ran (tests/security/fuzzing.py sets the budgets).
# make test runs the suite in pytest-xdist workers: each hands its count to the
# controller, which prints the total; a plain pytest run counts in-process.
def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["fuzz_examples"] = dict(EXAMPLES)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent where xdist is not installed
def pytest_testnodedown(node: object, error: object) -> None:
    EXAMPLES.update(getattr(node, "workeroutput", {}).get("fuzz_examples", {}))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if EXAMPLES:
        total = sum(EXAMPLES.values())
        per_test = ", ".join(f"{name} {count}" for name, count in sorted(EXAMPLES.items()))
        terminalreporter.write_line(f"handler fuzz ({PROFILE}): {total} examples run ({per_test})")
