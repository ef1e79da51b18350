"""local/metrics.py reads EMF lines as CloudWatch does: good lines count, bad ones are rejected."""

from __future__ import annotations

import json

from authorizer.operations.metrics import REVOCATION_METRIC_NAMES, MetricsEmitter
from local.metrics import MetricsCollector, summary_lines


def fed(*lines: str) -> MetricsCollector:
    collector = MetricsCollector()
    for line in lines:
        collector.feed("AuthorizerFunction", line.rstrip("\n"))
    return collector


def emitted() -> list[str]:
    lines: list[str] = []
    emitter = MetricsEmitter("fn", write=lines.append)
    emitter.jwks_fetch(ok=True, keys_available=2)
    emitter.decision("allow", "ok", 1.0, cache_hit=False)
    emitter.decision("allow", "ok", 3.0, cache_hit=True)
    emitter.decision("deny", "expired", 2.0)
    emitter.jwks_fetch(ok=False, keys_available=2)
    emitter.stale_keys_served()
    return lines


def test_the_emitters_lines_add_up_to_the_dashboards_numbers():
    snapshot = fed(*emitted()).snapshot()
    assert snapshot["decisions"] == {"allow": 2, "deny": 1}
    assert snapshot["reasons"] == {"expired": 1, "ok": 2}
    assert snapshot["latencyMs"] == {"count": 3, "p50": 2.0, "p99": 3.0}
    assert snapshot["verifiedTokenCache"] == {"hits": 1, "verified": 2}
    assert snapshot["jwks"] == {
        "fetches": 2,
        "fetchFailures": 1,
        "staleKeysServed": 1,
        "keysAvailable": 2,
    }
    assert snapshot["rejectedLines"] == 0
    assert "  by reason       expired 1, ok 2" in summary_lines(snapshot)


def test_log_records_and_text_are_not_metrics():
    record = json.dumps({"level": "INFO", "message": "authorization decision", "reason": "ok"})
    snapshot = fed(record, "plain text", "").snapshot()
    assert snapshot["decisions"] == {}
    assert snapshot["rejectedLines"] == 0


def test_a_document_that_breaks_the_spec_is_rejected_not_guessed():
    good = json.loads(emitted()[1])
    no_value = {**good}
    del no_value["Decisions"]
    text_value = {**good, "DecisionLatency": "1.0"}
    seconds = {**good, "_aws": {**good["_aws"], "Timestamp": "soon"}}
    numeric_dimension = {**good, "Reason": 7}
    lines = [json.dumps(d) for d in (no_value, text_value, seconds, numeric_dimension)]
    collector = fed(*lines, '{"_aws": ')
    snapshot = collector.snapshot()
    assert snapshot["rejectedLines"] == 5
    assert snapshot["decisions"] == {}


def test_the_revocation_row_shows_every_metric_written_for_the_list():
    lines: list[str] = []
    emitter = MetricsEmitter("fn", write=lines.append)
    emitter.revocation_refresh(ok=True, age_seconds=0.25, entries=3)
    emitter.revocation_refresh(ok=False, age_seconds=12.5, entries=3)
    emitter.revocation_refresh(ok=True, age_seconds=0.125, entries=2)
    # Every name the emitter writes for the list is one the row reads.
    written = {
        metric["Name"]
        for line in lines
        for directive in json.loads(line)["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert written == REVOCATION_METRIC_NAMES
    snapshot = fed(*lines).snapshot()
    assert snapshot["revocation"] == {
        "refreshes": 3,
        "refreshFailures": 1,
        "listAgeSeconds": {"max": 12.5, "last": 0.125},
        "entries": {"max": 3, "last": 2},
    }
    assert (
        "  revocation      refreshes 3, failures 1, list age max 12.5 s (last 0.125 s), "
        "entries max 3 (last 2)"
    ) in summary_lines(snapshot)


def test_a_list_never_read_shows_its_age_as_the_day_the_metric_reports():
    lines: list[str] = []
    MetricsEmitter("fn", write=lines.append).revocation_refresh(
        ok=False, age_seconds=float("inf"), entries=0
    )
    snapshot = fed(*lines).snapshot()
    assert snapshot["revocation"]["listAgeSeconds"] == {"max": 86400.0, "last": 86400.0}
    assert snapshot["revocation"]["refreshFailures"] == 1


def test_without_revocation_there_is_no_revocation_row():
    snapshot = fed(*emitted()).snapshot()
    assert snapshot["revocation"] is None
    assert not any("revocation" in line for line in summary_lines(snapshot))
