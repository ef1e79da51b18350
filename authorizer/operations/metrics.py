"""CloudWatch metrics as Embedded Metric Format (EMF) lines on stdout.

An EMF document is one JSON object whose ``_aws`` member tells CloudWatch Logs
which of its root members to extract as metrics; Lambda ships stdout to the
function's log group, where the extraction happens. No agent, no API call,
no extra IAM permission, no library on the cold-start path.
Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
Lambda: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html

Under Lambda's JSON log format the document must be a line of its own on
stdout, never a ``logging`` record: the runtime's formatter would put our JSON
inside its own "message" string, and CloudWatch would see no ``_aws`` at the
root (the event must be one JSON object with nothing around it). What a
function writes to stdout itself is passed through as it is; Lambda files a
JSON line without a "level" member as INFO, so an ApplicationLogLevel of WARN
or ERROR drops metric lines too.
https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html

Dimensions are low-cardinality only: the function's name, the decision
(allow/deny/error) and the decision's reason code. Each distinct combination
is a custom metric that CloudWatch bills by the month, and a dimension value
taken from a token (a sub, a kid, a client id) would mint one per caller: any
value outside the known sets is reported as ``other``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from typing import Any, Final, NamedTuple

# Imported for its classes: REASON_CODES below is every reason they define, so
# they must exist before it is computed, whichever module is imported first.
import authorizer.exceptions  # noqa: F401
from shared.exceptions import ProductError

NAMESPACE: Final = "CognitoAuthorizer"

# Dimension names.
FUNCTION_DIMENSION: Final = "FunctionName"
DECISION_DIMENSION: Final = "Decision"
REASON_DIMENSION: Final = "Reason"

# Metric names: the dashboard and alarms in template.yaml use exactly these
# (tests/deploy/test_operations_template.py compares them).
DECISIONS: Final = "Decisions"
DECISION_LATENCY: Final = "DecisionLatency"
VERIFIED_TOKEN_CACHE_HITS: Final = "VerifiedTokenCacheHits"
JWKS_FETCHES: Final = "JwksFetches"
JWKS_FETCH_FAILURES: Final = "JwksFetchFailures"
JWKS_STALE_KEYS_SERVED: Final = "JwksStaleKeysServed"
JWKS_KEYS_AVAILABLE: Final = "JwksKeysAvailable"


class TableMetrics(NamedTuple):
    """The one set of metrics of a table kept in memory, one line per refresh of it."""

    refreshes: str
    failures: str
    age: str
    entries: str


# Written only with revocation on (REVOCATION_TABLE), one line per refresh of the
# list: its age after the refresh, whether the refresh failed, its entries. A
# revoked token's deny is counted by Decisions with Reason=revoked, as every deny.
REVOCATION_REFRESHES: Final = "RevocationRefreshes"
REVOCATION_REFRESH_FAILURES: Final = "RevocationRefreshFailures"
REVOCATION_LIST_AGE: Final = "RevocationListAge"
REVOCATION_LIST_ENTRIES: Final = "RevocationListEntries"
REVOCATION_TABLE: Final = TableMetrics(
    REVOCATION_REFRESHES, REVOCATION_REFRESH_FAILURES, REVOCATION_LIST_AGE, REVOCATION_LIST_ENTRIES
)
REVOCATION_METRIC_NAMES: Final = frozenset(REVOCATION_TABLE)

# Written only with the tenant registry on (TENANT_TABLE): the same set for the
# registry, and the key sets the tenants' tokens made this instance fetch and evict.
TENANT_REGISTRY_TABLE: Final = TableMetrics(
    "TenantRegistryRefreshes",
    "TenantRegistryRefreshFailures",
    "TenantRegistryAge",
    "TenantRegistryEntries",
)
KEY_SET_EVICTIONS: Final = "KeySetEvictions"
KEY_SETS_HELD: Final = "KeySetsHeld"
TENANT_METRIC_NAMES: Final = frozenset({*TENANT_REGISTRY_TABLE, KEY_SET_EVICTIONS, KEY_SETS_HELD})

# Written by every deploy.
METRIC_NAMES: Final = frozenset(
    {
        DECISIONS,
        DECISION_LATENCY,
        VERIFIED_TOKEN_CACHE_HITS,
        JWKS_FETCHES,
        JWKS_FETCH_FAILURES,
        JWKS_STALE_KEYS_SERVED,
        JWKS_KEYS_AVAILABLE,
    }
)

DECISION_VALUES: Final = frozenset({"allow", "deny", "error"})
ALLOW_REASON: Final = "ok"
# The handler's reason for an unexpected exception (a bug): no ProductError has it.
INTERNAL_REASON: Final = "internal"
OTHER: Final = "other"
# The offline stack and tests have no AWS_LAMBDA_FUNCTION_NAME.
DEFAULT_FUNCTION_NAME: Final = "authorizer"

Writer = Callable[[str], object]


def _reason_codes() -> frozenset[str]:
    codes = {ALLOW_REASON, INTERNAL_REASON}
    pending: list[type[ProductError]] = [ProductError]
    while pending:
        cls = pending.pop()
        codes.add(cls.reason)
        pending.extend(cls.__subclasses__())
    return frozenset(codes)


# Every reason the product can give: a fixed set, known at import.
REASON_CODES: Final = _reason_codes()


def _stdout_write(line: str) -> object:
    # sys.stdout looked up per call: the Lambda runtime and test captures replace it.
    return sys.stdout.write(line)


def _seconds(value: float) -> float:
    if not value > 0:  # also NaN
        return 0.0
    # A list never read is infinitely old: reported as a day, past any alarm's threshold.
    return round(value, 3) if math.isfinite(value) else 86400.0


def _milliseconds(value: float) -> float:
    # A metric value must be a finite JSON number; a clock oddity must not raise here.
    return round(value, 3) if math.isfinite(value) and value > 0 else 0.0


def _directive(dimensions: list[list[str]], metrics: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics],
    }


class MetricsEmitter:
    """Writes one EMF line per event; one instance per Lambda execution environment."""

    def __init__(
        self,
        function_name: str | None = None,
        *,
        write: Writer = _stdout_write,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.function_name = (
            function_name or os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or DEFAULT_FUNCTION_NAME
        )
        self._write = write
        self._clock = clock
        # The directives never change: built once, not per request.
        self._decision_directives = [
            _directive(
                [[FUNCTION_DIMENSION, DECISION_DIMENSION], [FUNCTION_DIMENSION, REASON_DIMENSION]],
                [(DECISIONS, "Count")],
            ),
            _directive([[FUNCTION_DIMENSION]], [(DECISION_LATENCY, "Milliseconds")]),
        ]
        self._cache_directive = _directive(
            [[FUNCTION_DIMENSION]], [(VERIFIED_TOKEN_CACHE_HITS, "Count")]
        )
        self._fetch_directive = _directive(
            [[FUNCTION_DIMENSION]],
            [
                (JWKS_FETCHES, "Count"),
                (JWKS_FETCH_FAILURES, "Count"),
                (JWKS_KEYS_AVAILABLE, "Count"),
            ],
        )
        self._stale_directive = _directive(
            [[FUNCTION_DIMENSION]], [(JWKS_STALE_KEYS_SERVED, "Count")]
        )
        self._table_directives = {
            table: _directive(
                [[FUNCTION_DIMENSION]],
                [
                    (table.refreshes, "Count"),
                    (table.failures, "Count"),
                    (table.age, "Seconds"),
                    (table.entries, "Count"),
                ],
            )
            for table in (REVOCATION_TABLE, TENANT_REGISTRY_TABLE)
        }
        self._eviction_directive = _directive(
            [[FUNCTION_DIMENSION]], [(KEY_SET_EVICTIONS, "Count"), (KEY_SETS_HELD, "Count")]
        )
        self._encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
        # One decision line a request: spliced from parts encoded once, so a
        # decision costs a string format rather than encoding three directives.
        with_cache = [*self._decision_directives, self._cache_directive]
        self._decision_heads = (
            self._encode(self._decision_directives),
            self._encode(with_cache),
        )
        # Each (decision, reason) pair's dimensions, encoded the first time it is
        # seen: a few hundred pairs exist, a cold start should not encode them all.
        self._decision_dimensions: dict[tuple[str, str], str] = {}

    def decision_document(
        self, decision: str, reason: str, latency_ms: float, cache_hit: bool | None = None
    ) -> dict[str, Any]:
        """The EMF document for one decision.

        ``cache_hit`` is whether the verified-token cache answered; None when
        unknown (a deny or an error), and then no cache metric is written, so
        the metric's average is the hit ratio of verified tokens.
        """
        directives = list(self._decision_directives)
        document: dict[str, Any] = {
            FUNCTION_DIMENSION: self.function_name,
            DECISION_DIMENSION: decision if decision in DECISION_VALUES else OTHER,
            REASON_DIMENSION: reason if reason in REASON_CODES else OTHER,
            DECISIONS: 1,
            DECISION_LATENCY: _milliseconds(latency_ms),
        }
        if cache_hit is not None:
            directives.append(self._cache_directive)
            document[VERIFIED_TOKEN_CACHE_HITS] = 1 if cache_hit else 0
        return self._wrap(directives, document)

    def jwks_fetch_document(self, *, ok: bool, keys_available: int) -> dict[str, Any]:
        """One key-set fetch: its outcome and how many keys are held after it."""
        return self._wrap(
            [self._fetch_directive],
            {
                FUNCTION_DIMENSION: self.function_name,
                JWKS_FETCHES: 1,
                JWKS_FETCH_FAILURES: 0 if ok else 1,
                JWKS_KEYS_AVAILABLE: max(0, int(keys_available)),
            },
        )

    def stale_keys_served_document(self, count: int = 1) -> dict[str, Any]:
        """Keys served past their cache period because a refresh failed."""
        return self._wrap(
            [self._stale_directive],
            {FUNCTION_DIMENSION: self.function_name, JWKS_STALE_KEYS_SERVED: max(0, int(count))},
        )

    def table_refresh_document(
        self, table: TableMetrics, *, ok: bool, age_seconds: float, entries: int
    ) -> dict[str, Any]:
        """One refresh of a table kept in memory: its outcome, its age after it, its size."""
        return self._wrap(
            [self._table_directives[table]],
            {
                FUNCTION_DIMENSION: self.function_name,
                table.refreshes: 1,
                table.failures: 0 if ok else 1,
                table.age: _seconds(age_seconds),
                table.entries: max(0, int(entries)),
            },
        )

    def revocation_refresh_document(
        self, *, ok: bool, age_seconds: float, entries: int
    ) -> dict[str, Any]:
        """One refresh of the revocation list: its outcome, the list's age after it, its size."""
        return self.table_refresh_document(
            REVOCATION_TABLE, ok=ok, age_seconds=age_seconds, entries=entries
        )

    def key_set_evicted_document(self, *, held: int) -> dict[str, Any]:
        """A tenant's key set dropped to make room for another's; ``held`` after it."""
        return self._wrap(
            [self._eviction_directive],
            {
                FUNCTION_DIMENSION: self.function_name,
                KEY_SET_EVICTIONS: 1,
                KEY_SETS_HELD: max(0, int(held)),
            },
        )

    def decision(
        self, decision: str, reason: str, latency_ms: float, cache_hit: bool | None = None
    ) -> None:
        """Write the line ``decision_document`` describes (tests hold the two equal)."""
        pair = (
            decision if decision in DECISION_VALUES else OTHER,
            reason if reason in REASON_CODES else OTHER,
        )
        dimensions = self._decision_dimensions.get(pair)
        if dimensions is None:
            members = {
                FUNCTION_DIMENSION: self.function_name,
                DECISION_DIMENSION: pair[0],
                REASON_DIMENSION: pair[1],
            }
            dimensions = self._decision_dimensions[pair] = self._encode(members)[1:-1]
        # repr of a finite float is its JSON number, as json.dumps writes it.
        latency = repr(_milliseconds(latency_ms))
        cache = "" if cache_hit is None else f',"{VERIFIED_TOKEN_CACHE_HITS}":{int(cache_hit)}'
        self._write(
            f'{{"_aws":{{"Timestamp":{int(self._clock() * 1000)},'
            f'"CloudWatchMetrics":{self._decision_heads[cache_hit is not None]}}},'
            f'{dimensions},"{DECISIONS}":1,"{DECISION_LATENCY}":{latency}{cache}}}\n'
        )

    def jwks_fetch(self, *, ok: bool, keys_available: int) -> None:
        self.emit(self.jwks_fetch_document(ok=ok, keys_available=keys_available))

    def stale_keys_served(self, count: int = 1) -> None:
        self.emit(self.stale_keys_served_document(count))

    def revocation_refresh(self, *, ok: bool, age_seconds: float, entries: int) -> None:
        self.emit(self.revocation_refresh_document(ok=ok, age_seconds=age_seconds, entries=entries))

    def tenant_registry_refresh(self, *, ok: bool, age_seconds: float, entries: int) -> None:
        self.emit(
            self.table_refresh_document(
                TENANT_REGISTRY_TABLE, ok=ok, age_seconds=age_seconds, entries=entries
            )
        )

    def key_set_evicted(self, *, held: int) -> None:
        self.emit(self.key_set_evicted_document(held=held))

    def emit(self, document: dict[str, Any]) -> None:
        """One write of one line: lines from one process never interleave."""
        self._write(self._encode(document) + "\n")

    def _wrap(self, directives: list[dict[str, Any]], members: dict[str, Any]) -> dict[str, Any]:
        return {
            "_aws": {"Timestamp": int(self._clock() * 1000), "CloudWatchMetrics": directives},
            **members,
        }
