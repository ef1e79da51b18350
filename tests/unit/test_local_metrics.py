"""local/metrics.py reads EMF lines as CloudWatch does: good lines count, bad ones are rejected."""

from __future__ import annotations

import json

from authorizer.operations.metrics import MetricsEmitter
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
