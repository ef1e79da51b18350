"""The dashboard's numbers offline: the functions' EMF lines, read as CloudWatch Logs reads them.

Each function process writes its Embedded Metric Format documents to stdout
(authorizer/operations/metrics.py); ``local.functions`` hands every output line here.
A line is a metric document when it is one JSON object with an ``_aws``
member; its ``CloudWatchMetrics`` directives say which root members are
metrics and which are dimensions, exactly as CloudWatch extracts them, so
this module knows no metric by name until it summarises. A document that
breaks the specification is counted as rejected (CloudWatch would drop it
too), never guessed at.
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

``make run`` serves the summary on its own loopback port (never on the API's,
where it could shadow a route) and prints it when the stack stops.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from authorizer.operations.metrics import (
    REVOCATION_LIST_AGE,
    REVOCATION_LIST_ENTRIES,
    REVOCATION_REFRESH_FAILURES,
    REVOCATION_REFRESHES,
)

# Enough recent samples per series for a stable p99, bounded for a long soak.
MAX_SAMPLES: Final = 20_000

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # namespace, metric, dimensions


@dataclass
class Series:
    count: int = 0
    total: float = 0.0
    last: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    samples: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.last = value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self.samples.append(value)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


class RejectedDocument(ValueError):
    pass


def extract(document: Mapping[str, Any]) -> list[tuple[SeriesKey, float]]:
    """Every (series, value) the document's directives extract; RejectedDocument if invalid."""
    meta = document.get("_aws")
    if not isinstance(meta, dict) or not isinstance(meta.get("Timestamp"), int):
        raise RejectedDocument("_aws needs an integer Timestamp")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise RejectedDocument("_aws.CloudWatchMetrics must be a list")
    extracted = []
    for directive in directives:
        if not isinstance(directive, dict):
            raise RejectedDocument("a directive must be an object")
        namespace = directive.get("Namespace")
        dimension_sets = directive.get("Dimensions")
        definitions = directive.get("Metrics")
        if not isinstance(namespace, str) or not namespace:
            raise RejectedDocument("a directive needs a Namespace")
        if not isinstance(dimension_sets, list) or not isinstance(definitions, list):
            raise RejectedDocument("a directive needs Dimensions and Metrics lists")
        for definition in definitions:
            name = definition.get("Name") if isinstance(definition, dict) else None
            if not isinstance(name, str):
                raise RejectedDocument("a metric definition needs a Name")
            value = document.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RejectedDocument(f"metric {name!r} has no numeric value")
            if not math.isfinite(value):
                raise RejectedDocument(f"metric {name!r} is not finite")
            for names in dimension_sets or [[]]:
                if not isinstance(names, list) or not all(
                    isinstance(n, str) and isinstance(document.get(n), str) for n in names
                ):
                    raise RejectedDocument("a dimension must name a string member")
                dimensions = tuple(sorted((n, str(document[n])) for n in names))
                extracted.append(((namespace, name, dimensions), float(value)))
    return extracted


class MetricsCollector:
    """Thread-safe: every execution environment's output thread feeds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[SeriesKey, Series] = {}
        self.rejected = 0
        self.last_rejection = ""

    def feed(self, source: str, text: str) -> None:
        """One output line of function ``source``; anything but an EMF document is ignored."""
        if not text.startswith("{") or '"_aws"' not in text:
            return
        try:
            document = json.loads(text)
            if not isinstance(document, dict):
                raise RejectedDocument("not a JSON object")
            extracted = extract(document)
        except (ValueError, RejectedDocument) as err:
            with self._lock:
                self.rejected += 1
                self.last_rejection = f"{source}: {err}"
            return
        with self._lock:
            for key, value in extracted:
                self._series.setdefault(key, Series()).add(value)

    def _matching(self, metric: str, dimension: str | None = None) -> dict[str, Series]:
        """The series of ``metric`` by the value of ``dimension`` (summed over functions)."""
        found: dict[str, Series] = {}
        for (_, name, dimensions), series in self._series.items():
            names = dict(dimensions)
            if name != metric:
                continue
            if dimension is None:
                if set(names) - {"FunctionName"}:
                    continue
                label = "all"
            elif set(names) == {"FunctionName", dimension}:
                label = names[dimension]
            else:
                continue
            merged = found.setdefault(label, Series())
            merged.count += series.count
            merged.total += series.total
            merged.last = series.last
            merged.minimum = min(merged.minimum, series.minimum)
            merged.maximum = max(merged.maximum, series.maximum)
            merged.samples.extend(series.samples)
        return found

    def snapshot(self) -> dict[str, Any]:
        """What the dashboard's widgets show, as one JSON-able object."""
        with self._lock:
            by_decision = self._matching("Decisions", "Decision")
            by_reason = self._matching("Decisions", "Reason")
            latency = self._matching("DecisionLatency").get("all")
            cache = self._matching("VerifiedTokenCacheHits").get("all")
            jwks = {
                name: self._matching(name).get("all")
                for name in (
                    "JwksFetches",
                    "JwksFetchFailures",
                    "JwksStaleKeysServed",
                    "JwksKeysAvailable",
                )
            }
            revocation = {
                name: self._matching(name).get("all")
                for name in (
                    REVOCATION_REFRESHES,
                    REVOCATION_REFRESH_FAILURES,
                    REVOCATION_LIST_AGE,
                    REVOCATION_LIST_ENTRIES,
                )
            }
            rejected, last_rejection = self.rejected, self.last_rejection
        keys = jwks["JwksKeysAvailable"]
        return {
            "decisions": {label: int(s.total) for label, s in sorted(by_decision.items())},
            "reasons": {label: int(s.total) for label, s in sorted(by_reason.items())},
            "latencyMs": {
                "count": latency.count,
                "p50": latency.percentile(50),
                "p99": latency.percentile(99),
            }
            if latency and latency.count
            else None,
            "verifiedTokenCache": {"hits": int(cache.total), "verified": cache.count}
            if cache
            else None,
            "jwks": {
                "fetches": int(jwks["JwksFetches"].total) if jwks["JwksFetches"] else 0,
                "fetchFailures": int(jwks["JwksFetchFailures"].total)
                if jwks["JwksFetchFailures"]
                else 0,
                "staleKeysServed": int(jwks["JwksStaleKeysServed"].total)
                if jwks["JwksStaleKeysServed"]
                else 0,
                "keysAvailable": int(keys.last) if keys else None,
            },
            "revocation": _revocation(revocation),
            "rejectedLines": rejected,
            **({"lastRejection": last_rejection} if last_rejection else {}),
        }


def _revocation(series: Mapping[str, Series | None]) -> dict[str, Any] | None:
    """The dashboard's revocation row (one EMF line per refresh); None with revocation off."""
    refreshes = series[REVOCATION_REFRESHES]
    if refreshes is None:
        return None
    failures = series[REVOCATION_REFRESH_FAILURES]
    age = series[REVOCATION_LIST_AGE]
    entries = series[REVOCATION_LIST_ENTRIES]
    return {
        "refreshes": int(refreshes.total),
        "refreshFailures": int(failures.total) if failures else 0,
        # As the dashboard draws them: the age's and the size's maximum; and the latest.
        "listAgeSeconds": {"max": age.maximum, "last": age.last} if age else None,
        "entries": {"max": int(entries.maximum), "last": int(entries.last)} if entries else None,
    }


def summary_lines(snapshot: Mapping[str, Any]) -> list[str]:
    """The snapshot as a few lines of text (make run prints them when it stops)."""

    def counts(values: Mapping[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in values.items()) or "none"

    lines = [
        "metrics from the functions' EMF lines (what the CloudWatch dashboard would show):",
        f"  decisions       {counts(snapshot['decisions'])}",
        f"  by reason       {counts(snapshot['reasons'])}",
    ]
    latency = snapshot["latencyMs"]
    if latency:
        lines.append(
            f"  latency         p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms "
            f"({latency['count']} decisions)"
        )
    cache = snapshot["verifiedTokenCache"]
    if cache:
        ratio = cache["hits"] / cache["verified"] if cache["verified"] else 0.0
        lines.append(
            f"  token cache     {cache['hits']} hits of {cache['verified']} allows ({ratio:.0%})"
        )
    jwks = snapshot["jwks"]
    available = "-" if jwks["keysAvailable"] is None else jwks["keysAvailable"]
    lines.append(
        f"  JWKS            fetches {jwks['fetches']}, failures {jwks['fetchFailures']}, "
        f"stale keys served {jwks['staleKeysServed']}, "
        f"keys in the last fetched set {available}"
    )
    revocation = snapshot.get("revocation")
    if revocation:
        age, entries = revocation["listAgeSeconds"], revocation["entries"]
        lines.append(
            f"  revocation      refreshes {revocation['refreshes']}, "
            f"failures {revocation['refreshFailures']}"
            + (f", list age max {age['max']:g} s (last {age['last']:g} s)" if age else "")
            + (f", entries max {entries['max']} (last {entries['last']})" if entries else "")
        )
    if snapshot["rejectedLines"]:
        lines.append(
            f"  rejected EMF lines {snapshot['rejectedLines']} "
            f"(last: {snapshot.get('lastRejection', '')})"
        )
    return lines


def render(snapshot: Mapping[str, Any]) -> str:
    return "\n".join(summary_lines(snapshot)) + "\n"


def wsgi_app(collector: MetricsCollector) -> Any:
    """``GET /``: the summary as text; ``GET /json``: the same numbers as JSON."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if environ.get("REQUEST_METHOD") != "GET" or path not in ("/", "/json"):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"GET / (text) or GET /json\n"]
        snapshot = collector.snapshot()
        if path == "/json":
            body, media = json.dumps(snapshot, indent=2) + "\n", "application/json"
        else:
            body, media = render(snapshot), "text/plain; charset=utf-8"
        start_response("200 OK", [("Content-Type", media)])
        return [body.encode()]

    return app
