"""authorizer/operations/metrics.py writes CloudWatch Embedded Metric Format lines by the spec.

The checks below restate the specification's rules for the members we use:
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from authorizer.operations import metrics
from authorizer.operations.metrics import MetricsEmitter

ROOT = Path(__file__).resolve().parents[2]

# The spec's allowed units (MetricDefinition.Unit).
EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
    "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}  # fmt: skip
NOW = 1_700_000_000.123


class Captured:
    def __init__(self) -> None:
        self.writes: list[str] = []

    def __call__(self, text: str) -> None:
        self.writes.append(text)

    def documents(self) -> list[dict[str, Any]]:
        return [parse_emf_line(text) for text in self.writes]


def parse_emf_line(text: str) -> dict[str, Any]:
    """One write is one line holding one JSON object and nothing else."""
    assert text.endswith("\n")
    assert text.count("\n") == 1
    line = text[:-1]
    assert line == line.strip()
    document = json.loads(line)
    assert isinstance(document, dict)
    return document


def validate_emf(document: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Assert the spec's structural rules; return (metric, dimensions) for each extraction."""
    meta = document["_aws"]
    assert set(meta) == {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(meta["Timestamp"], int)
    assert meta["Timestamp"] > 10**12  # milliseconds since the epoch, not seconds
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list)
    assert directives
    extracted = []
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        namespace = directive["Namespace"]
        assert isinstance(namespace, str)
        assert 1 <= len(namespace) <= 255
        assert not namespace.startswith(":")
        assert isinstance(directive["Dimensions"], list)
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list)
            assert 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                # A dimension references a root member whose value is a string.
                assert isinstance(document[name], str), name
                assert 1 <= len(document[name]) <= 1024
        assert 1 <= len(directive["Metrics"]) <= 100
        for definition in directive["Metrics"]:
            assert set(definition) <= {"Name", "Unit", "StorageResolution"}
            assert definition.get("Unit", "None") in EMF_UNITS
            value = document[definition["Name"]]
            assert isinstance(value, int | float)
            assert not isinstance(value, bool)
            assert math.isfinite(value)
            for dimension_set in directive["Dimensions"]:
                extracted.append(
                    (definition["Name"], {name: document[name] for name in dimension_set})
                )
    return extracted


def units(document: dict[str, Any]) -> dict[str, str]:
    return {
        d["Name"]: d["Unit"]
        for directive in document["_aws"]["CloudWatchMetrics"]
        for d in directive["Metrics"]
    }


def dimension_values(document: dict[str, Any]) -> set[str]:
    return {
        document[name]
        for directive in document["_aws"]["CloudWatchMetrics"]
        for dimension_set in directive["Dimensions"]
        for name in dimension_set
    }


@pytest.fixture
def out() -> Captured:
    return Captured()


@pytest.fixture
def emitter(out: Captured) -> MetricsEmitter:
    return MetricsEmitter("hello-stack-authorizer", write=out, clock=lambda: NOW)


# --- decisions -----------------------------------------------------------------


def test_an_allow_is_counted_by_decision_and_by_reason_with_latency_and_cache_hit(emitter, out):
    emitter.decision("allow", "ok", 1.23456, cache_hit=True)
    (document,) = out.documents()
    extracted = validate_emf(document)
    assert document["_aws"]["Timestamp"] == 1_700_000_000_123
    assert {d["Namespace"] for d in document["_aws"]["CloudWatchMetrics"]} == {"CognitoAuthorizer"}
    function = {"FunctionName": "hello-stack-authorizer"}
    assert sorted(extracted, key=repr) == sorted(
        [
            ("Decisions", {**function, "Decision": "allow"}),
            ("Decisions", {**function, "Reason": "ok"}),
            ("DecisionLatency", function),
            ("VerifiedTokenCacheHits", function),
        ],
        key=repr,
    )
    assert document["Decisions"] == 1
    assert document["DecisionLatency"] == 1.235
    assert document["VerifiedTokenCacheHits"] == 1
    assert units(document) == {
        "Decisions": "Count",
        "DecisionLatency": "Milliseconds",
        "VerifiedTokenCacheHits": "Count",
    }


def test_a_cache_miss_is_a_zero_so_the_average_is_the_hit_ratio(emitter, out):
    emitter.decision("allow", "ok", 4.0, cache_hit=False)
    (document,) = out.documents()
    validate_emf(document)
    assert document["VerifiedTokenCacheHits"] == 0


def test_a_deny_carries_its_reason_and_no_cache_metric(emitter, out):
    emitter.decision("deny", "expired", 0.5)
    (document,) = out.documents()
    extracted = validate_emf(document)
    assert ("Decisions", {"FunctionName": "hello-stack-authorizer", "Reason": "expired"}) in (
        extracted
    )
    assert document["Decision"] == "deny"
    assert "VerifiedTokenCacheHits" not in document
    assert "VerifiedTokenCacheHits" not in units(document)


@pytest.mark.parametrize("reason", ["jwks_fetch_failed", "jwks_invalid", "internal"])
def test_an_error_decision_keeps_its_reason(emitter, out, reason):
    emitter.decision("error", reason, 4001.0)
    (document,) = out.documents()
    validate_emf(document)
    assert (document["Decision"], document["Reason"]) == ("error", reason)


def test_every_reason_the_product_raises_is_a_known_code():
    from shared import exceptions

    raised = {
        cls.reason
        for cls in vars(exceptions).values()
        if isinstance(cls, type) and issubclass(cls, exceptions.ProductError)
    }
    assert raised <= metrics.REASON_CODES
    assert {"ok", "internal", "expired", "bad_signature"} <= metrics.REASON_CODES


def test_the_reason_codes_do_not_depend_on_what_was_imported_first():
    """Imported first and alone, the metrics still know every token and key-set reason."""
    probe = (
        "import json, authorizer.operations.metrics as m, authorizer.exceptions as e\n"
        "import shared.exceptions as s\n"
        "raised = {c.reason for mod in (e, s) for c in vars(mod).values()\n"
        "          if isinstance(c, type) and issubclass(c, s.ProductError)}\n"
        "print(json.dumps([sorted(raised - m.REASON_CODES), len(raised)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    missing, count = json.loads(result.stdout)
    assert missing == []
    assert count > 20


@pytest.mark.parametrize("latency", [-1.0, float("nan"), float("inf")])
def test_a_nonsense_latency_is_written_as_zero_not_an_invalid_number(emitter, out, latency):
    emitter.decision("deny", "expired", latency)
    (document,) = out.documents()
    validate_emf(document)
    assert document["DecisionLatency"] == 0.0


# --- no token-derived dimension ----------------------------------------------


def test_token_derived_values_never_become_dimensions(emitter, out):
    sub = str(uuid.uuid4())
    kid = "abcdEFGH1234/+="
    emitter.decision(sub, kid, 1.0)
    emitter.decision("deny", sub, 1.0)
    emitter.decision("allow", "eyJhbGciOiJSUzI1NiJ9.e30.sig", 1.0, cache_hit=True)
    written = "".join(out.writes)
    assert sub not in written
    assert kid not in written
    assert "eyJ" not in written
    for document in out.documents():
        validate_emf(document)
        assert dimension_values(document) <= {"hello-stack-authorizer", "deny", "allow", "other"}


@given(decision=st.text(max_size=40), reason=st.text(max_size=80))
def test_dimension_values_come_only_from_fixed_sets(decision, reason):
    out = Captured()
    MetricsEmitter("fn", write=out).decision(decision, reason, 1.0)
    (document,) = out.documents()
    validate_emf(document)
    allowed = {"fn", "other"} | metrics.DECISION_VALUES | metrics.REASON_CODES
    assert dimension_values(document) <= allowed


# --- JWKS events -----------------------------------------------------------------


def test_a_successful_fetch(emitter, out):
    emitter.jwks_fetch(ok=True, keys_available=2)
    (document,) = out.documents()
    extracted = validate_emf(document)
    function = {"FunctionName": "hello-stack-authorizer"}
    assert sorted(name for name, dims in extracted if dims == function) == [
        "JwksFetchFailures",
        "JwksFetches",
        "JwksKeysAvailable",
    ]
    assert (document["JwksFetches"], document["JwksFetchFailures"]) == (1, 0)
    assert document["JwksKeysAvailable"] == 2


def test_a_failed_fetch_with_no_keys_held(emitter, out):
    emitter.jwks_fetch(ok=False, keys_available=0)
    (document,) = out.documents()
    validate_emf(document)
    assert (document["JwksFetches"], document["JwksFetchFailures"]) == (1, 1)
    assert document["JwksKeysAvailable"] == 0


def test_stale_keys_served(emitter, out):
    emitter.stale_keys_served()
    emitter.stale_keys_served(3)
    first, second = out.documents()
    assert validate_emf(first) == [
        ("JwksStaleKeysServed", {"FunctionName": "hello-stack-authorizer"})
    ]
    assert (first["JwksStaleKeysServed"], second["JwksStaleKeysServed"]) == (1, 3)
    assert units(first) == {"JwksStaleKeysServed": "Count"}


# --- where the lines go ------------------------------------------------------------


def test_metric_names_constant_lists_every_name_written(emitter, out):
    emitter.decision("allow", "ok", 1.0, cache_hit=True)
    emitter.jwks_fetch(ok=True, keys_available=1)
    emitter.stale_keys_served()
    written = {name for document in out.documents() for name in units(document)}
    assert written == metrics.METRIC_NAMES


def test_lines_go_to_stdout_and_never_through_logging(capsys, caplog):
    # Under Lambda's JSON log format a logging record would be wrapped in the
    # runtime's own JSON object, burying _aws inside "message".
    caplog.set_level(logging.DEBUG)
    emitter = MetricsEmitter("fn", clock=lambda: NOW)
    emitter.decision("deny", "expired", 2.0)
    emitter.jwks_fetch(ok=False, keys_available=1)
    assert caplog.records == []
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = captured.out.splitlines(keepends=True)
    assert len(lines) == 2
    for line in lines:
        validate_emf(parse_emf_line(line))


def test_the_function_name_comes_from_lambdas_environment(monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "prod-authorizer")
    assert MetricsEmitter().function_name == "prod-authorizer"
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME")
    assert MetricsEmitter().function_name == "authorizer"


def test_document_builders_match_what_is_written(emitter, out):
    # The lead may merge a document into a log record instead of writing its own line.
    document = emitter.decision_document("deny", "bad_signature", 3.0)
    emitter.emit(document)
    assert out.documents() == [document]


@given(
    decision=st.sampled_from([*sorted(metrics.DECISION_VALUES), "nonsense"]),
    reason=st.sampled_from([*sorted(metrics.REASON_CODES), "eyJhbGciOiJSUzI1NiJ9"]),
    latency=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 10**9),
    cache_hit=st.sampled_from([None, True, False]),
)
def test_the_decision_line_is_exactly_the_documented_document(decision, reason, latency, cache_hit):
    # The hot path splices pre-encoded parts; it must write what the builder describes.
    out = Captured()
    emitter = MetricsEmitter("fn", write=out, clock=lambda: NOW)
    emitter.decision(decision, reason, latency, cache_hit)
    (document,) = out.documents()
    validate_emf(document)
    assert document == emitter.decision_document(decision, reason, latency, cache_hit)
    assert list(document) == list(emitter.decision_document(decision, reason, latency, cache_hit))


# --- the revocation list -----------------------------------------------------------


def test_revocation_refresh(emitter, out):
    emitter.revocation_refresh(ok=True, age_seconds=0.25, entries=12)
    emitter.revocation_refresh(ok=False, age_seconds=31.0, entries=12)
    emitter.revocation_refresh(ok=False, age_seconds=float("inf"), entries=0)
    first, second, never = out.documents()
    dims = {"FunctionName": "hello-stack-authorizer"}
    assert validate_emf(first) == [
        (name, dims)
        for name in (
            "RevocationRefreshes",
            "RevocationRefreshFailures",
            "RevocationListAge",
            "RevocationListEntries",
        )
    ]
    assert units(first) == {
        "RevocationRefreshes": "Count",
        "RevocationRefreshFailures": "Count",
        "RevocationListAge": "Seconds",
        "RevocationListEntries": "Count",
    }
    assert [first[m] for m in sorted(units(first))] == [0.25, 12, 0, 1]
    assert [second[m] for m in sorted(units(first))] == [31.0, 12, 1, 1]
    # A list never read is reported as a day old: finite JSON, past any alarm.
    assert never["RevocationListAge"] == 86400.0
    assert {name for name in units(first)} == metrics.REVOCATION_METRIC_NAMES
    assert not metrics.REVOCATION_METRIC_NAMES & metrics.METRIC_NAMES


@pytest.mark.parametrize(
    ("age", "reported"),
    [
        (12.34567, 12.346),  # milliseconds, rounded
        (0.0, 0.0),
        (-5.0, 0.0),  # a clock stepped back: never a negative age
        (float("nan"), 0.0),
        (float("inf"), 86400.0),
    ],
)
def test_revocation_list_age_is_a_finite_number_of_seconds(
    emitter: Any, age: float, reported: float
) -> None:
    document = emitter.revocation_refresh_document(ok=True, age_seconds=age, entries=0)
    assert document["RevocationListAge"] == reported
    assert document["RevocationListEntries"] == 0
    assert (
        emitter.revocation_refresh_document(ok=True, age_seconds=1, entries=-3)[
            "RevocationListEntries"
        ]
        == 0
    )


def test_a_key_set_eviction_is_one_count_and_what_is_held_after_it(emitter: Any) -> None:
    for held, reported in ((5, 5), (0, 0), (-1, 0)):
        document = emitter.key_set_evicted_document(held=held)
        assert validate_emf(document) == [
            ("KeySetEvictions", {"FunctionName": "hello-stack-authorizer"}),
            ("KeySetsHeld", {"FunctionName": "hello-stack-authorizer"}),
        ]
        assert (document["KeySetEvictions"], document["KeySetsHeld"]) == (1, reported)
