"""What test modules (and ``make bench``) build an authorizer from: settings, a clock, the wiring.

Plain helpers, imported by name; the pytest fixtures over them are in
``tests/conftest.py``.
"""

from __future__ import annotations

import datetime
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authorizer.api.handler import Authorizer, build_authorizer
from authorizer.tables.revocation import revocation_item
from authorizer.tables.tenants import tenant_item
from authorizer.verification.config import AuthorizerConfig, load_config
from authorizer.verification.jwks import Fetcher, JwksCache, fetch_jwks
from authorizer.verification.verify import TokenVerifier
from tests.forge import CLIENT_ID, OTHER_CLIENT_ID, POOL_ID

BASE_ENV = {
    "USER_POOL_ID": POOL_ID,
    "APP_CLIENT_IDS": f"{CLIENT_ID}, {OTHER_CLIENT_ID}",
    "LOG_LEVEL": "DEBUG",
}
# What Lambda gives each function (authorizer/template.yaml's Timeout; pinned there by
# tests/deploy/test_template_promises.py): a request that takes longer is killed.
AUTHORIZER_TIMEOUT_SECONDS = 5
SIGN_OUT_TIMEOUT_SECONDS = 25
# A baked key set that is never there: wired authorizers get their keys from ``fetch``.
NO_BAKED_KEYS = os.path.join(os.path.dirname(__file__), "events", "no-baked-jwks.json")


def make_config(**overrides: str) -> AuthorizerConfig:
    return load_config({**BASE_ENV, **overrides})


def log_records(out: str) -> list[dict[str, Any]]:
    """The log records among a function's stdout lines, without its EMF metric documents.

    The wired authorizer writes both, as in Lambda: records through logging,
    metrics as JSON objects with an ``_aws`` member (authorizer/operations/metrics.py).
    """
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" not in line]


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
    """An authorizer wired by app.py's own ``build_authorizer``, with a fake clock and fetch."""

    authorizer: Authorizer
    jwks: JwksCache
    verifier: TokenVerifier
    clock: FakeClock
    fetches: list[str] = field(default_factory=list)

    def handle(self, event: Any) -> dict[str, Any]:
        return self.authorizer.handle(event)


@dataclass
class FakeRevocationTable:
    """The revocation table as the authorizer's Query sees it (``sk > cursor``, in order).

    Items are made by the writers' own ``revocation_item``; ``failing`` makes
    every Query raise it; ``queries`` records each Query's cursor.
    """

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: Exception | None = None
    queries: list[str] = field(default_factory=list)

    def put(
        self, kind: str, value: str, revoked_at: float, expires_at: float | None = None
    ) -> dict[str, Any]:
        item = revocation_item(kind, value, revoked_at, expires_at)
        self.items[item["sk"]["S"]] = item
        return item

    def __call__(self, after: str) -> list[dict[str, Any]]:
        self.queries.append(after)
        if self.failing is not None:
            raise self.failing
        return [self.items[key] for key in sorted(self.items) if key > after]


@dataclass
class FakeTenantTable:
    """The tenant registry as the authorizer's Query sees it (``sk > cursor``, in order).

    Items are made by the operators' own ``tenant_item``; ``failing`` makes
    every Query raise it; ``queries`` records each Query's cursor.
    """

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    failing: Exception | None = None
    queries: list[str] = field(default_factory=list)

    def put(self, tenant_id: str, changed_at: float, **state: Any) -> dict[str, Any]:
        state.setdefault("status", "active")
        item = tenant_item(tenant_id, changed_at=changed_at, **state)
        self.items[item["sk"]["S"]] = item
        return item

    def put_raw(self, item: dict[str, Any]) -> None:
        self.items[item["sk"]["S"]] = item

    def __call__(self, after: str) -> list[dict[str, Any]]:
        self.queries.append(after)
        if self.failing is not None:
            raise self.failing
        return [self.items[key] for key in sorted(self.items) if key > after]


def create_change_log_table(dynamodb: Any, name: str) -> None:
    """A table kept in memory (the revocation list, the tenant registry), keyed as the templates
    declare it: ``pk`` and the change-time ``sk``, both strings."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def wire_authorizer(
    config: AuthorizerConfig,
    clock: FakeClock,
    fetch: Fetcher = fetch_jwks,
    *,
    warm: bool = False,
    revocation_query: Callable[[str], Iterable[dict[str, Any]]] | None = None,
) -> WiredAuthorizer:
    """``build_authorizer`` as the Lambda entry point calls it, timed by ``clock``.

    ``warm=False`` (the default here) leaves the first fetch (and the first
    read of the revocation list) to the first request, so a test decides what
    the endpoint answers before that.
    """
    fetches: list[str] = []

    def counting_fetch(url: str) -> bytes:
        fetches.append(url)
        return fetch(url)

    authorizer = build_authorizer(
        config,
        warm=warm,
        baked=NO_BAKED_KEYS,
        fetch=counting_fetch,
        clock=clock,
        revocation_query=revocation_query,
    )
    verifier = authorizer.verifier
    return WiredAuthorizer(authorizer, verifier.key_sets[0], verifier, clock, fetches)


def cognito_refreshes(endpoint: str, client_id: str, refresh_token: str) -> bool:
    """Whether the (local) Cognito at ``endpoint`` still refreshes ``refresh_token``.

    False only for the answer a revoked refresh token gets; anything else fails.
    """
    from botocore.exceptions import ClientError

    from local.cognito import cognito_client

    try:
        cognito_client(endpoint).initiate_auth(
            ClientId=client_id,
            AuthFlow="REFRESH_TOKEN_AUTH",
            AuthParameters={"REFRESH_TOKEN": refresh_token},
        )
    except ClientError as err:
        refused = err.response["Error"]
    else:
        return True
    assert (refused["Code"], refused["Message"]) == (
        "NotAuthorizedException",
        "Refresh Token has been revoked",
    )
    return False


def template_source(path: os.PathLike[str] | str) -> dict[str, Any]:
    """A template as written, its intrinsic functions (``!Ref``, ``!Sub``, ...) read as None.

    For the unit tests that read a resource's literal properties (a table's keys):
    unlike local/cfn.py's reader it needs no samtranslator, which the mutation
    tester's venv does not have.
    """
    import yaml

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    with open(path, encoding="utf-8") as file:
        document: dict[str, Any] = yaml.load(file, Loader=Loader)  # noqa: S506
    return document
