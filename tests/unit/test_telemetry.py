"""What a deployed decision writes: one log record joined to API Gateway's request, one EMF line.

The authorizer is built as authorizer/app.py builds it (``build_authorizer``);
the lines are read back from stdout as CloudWatch Logs would receive them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import responses

from authorizer.api.handler import Authorizer, build_authorizer
from authorizer.operations import metrics
from authorizer.operations.metrics import MetricsEmitter
from authorizer.verification.jwks import JwksCache
from greeter.app import lambda_handler as greeter
from local.lambdalog import set_request_id
from tests.forge import (
    JWKS_URL,
    authorizer_event,
    b64url_json,
    claims,
    forged_key,
    jwks_body,
    load_event,
    sign,
)
from tests.helpers import FakeClock, make_config
from tests.unit.test_metrics import Captured, dimension_values, parse_emf_line, validate_emf

API_REQUEST_ID = "TmxYqg8VIAMEVBA="  # tests/events/authorizer_request.json
LAMBDA_REQUEST_ID = "8f5f2a4e-0c2b-4f7e-9a51-3d0c7e1b2a64"


class Output:
    """stdout split the way CloudWatch sees it: log records and EMF documents."""

    def __init__(self, text: str) -> None:
        self.records: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        for line in text.splitlines(keepends=True):
            document = parse_emf_line(line)
            if "_aws" in document:
                validate_emf(document)
                self.metrics.append(document)
            else:
                self.records.append(document)

    def decisions(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["message"] == "authorization decision"]

    def decision_metrics(self) -> list[dict[str, Any]]:
        return [m for m in self.metrics if "Decisions" in m]

    def fetch_metrics(self) -> list[dict[str, Any]]:
        return [m for m in self.metrics if "JwksFetches" in m]


@pytest.fixture
def built(capsys: pytest.CaptureFixture[str]) -> Iterator[Authorizer]:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        authorizer = build_authorizer(make_config(LOG_LEVEL="INFO"), baked="/nonexistent")
        yield authorizer


def read(capsys: pytest.CaptureFixture[str]) -> Output:
    return Output(capsys.readouterr().out)


def test_the_cold_start_fetch_is_counted_with_the_keys_it_brought(capsys):
    with responses.RequestsMock() as mock:
        mock.get(
            JWKS_URL,
            body=jwks_body(forged_key("a"), forged_key("b")),
            content_type="application/json",
        )
        build_authorizer(make_config(), baked="/nonexistent")
    [fetch] = read(capsys).fetch_metrics()
    assert (fetch["JwksFetches"], fetch["JwksFetchFailures"], fetch["JwksKeysAvailable"]) == (
        1,
        0,
        2,
    )


def test_an_allow_writes_one_record_and_one_metric_line(built, capsys):
    capsys.readouterr()
    token = sign(claims())
    set_request_id(LAMBDA_REQUEST_ID)  # as Lambda's runtime does for each invocation
    try:
        built.handle(authorizer_event(token))
        built.handle(authorizer_event(token))
    finally:
        set_request_id("")
    out = read(capsys)
    first, second = out.decisions()
    for record in (first, second):
        # Both ids side by side: Lambda's own (the runtime's) and API Gateway's (ours).
        assert record["requestId"] == LAMBDA_REQUEST_ID
        assert record["apiRequestId"] == API_REQUEST_ID
        assert record["routeKey"] == "POST /hello"
    assert (first["verifiedTokenCache"], second["verifiedTokenCache"]) == (False, True)
    miss, hit = out.decision_metrics()
    assert len(out.metrics) == 2
    for document in (miss, hit):
        assert (document["Decision"], document["Reason"], document["Decisions"]) == (
            "allow",
            "ok",
            1,
        )
        assert document["FunctionName"] == "authorizer"
    assert (miss["VerifiedTokenCacheHits"], hit["VerifiedTokenCacheHits"]) == (0, 1)
    assert miss["DecisionLatency"] == first["latencyMs"]


def test_a_deny_counts_its_reason_and_no_cache_hit(built, capsys):
    capsys.readouterr()
    expired = sign(claims(iat=1_000_000_000, exp=1_000_003_600))
    built.handle(authorizer_event(expired))
    out = read(capsys)
    [record] = out.decisions()
    [document] = out.metrics
    assert (record["decision"], record["reason"]) == ("deny", "expired")
    assert (document["Decision"], document["Reason"]) == ("deny", "expired")
    assert "VerifiedTokenCacheHits" not in document
    assert record["apiRequestId"] == API_REQUEST_ID


def test_a_decision_on_an_event_without_ids_still_logs_and_counts(built, capsys):
    capsys.readouterr()
    assert built.handle({"identitySource": ["Bearer x"]}) == {"isAuthorized": False}
    out = read(capsys)
    [record] = out.decisions()
    assert "apiRequestId" not in record
    assert "routeKey" not in record
    [document] = out.metrics
    assert (document["Decision"], document["Reason"]) == ("deny", "malformed_token")


def test_an_error_is_counted_and_the_failed_fetch_with_it(capsys):
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, status=503, body="{}", content_type="application/json")
        authorizer = build_authorizer(make_config(), baked="/nonexistent")
        capsys.readouterr()
        with pytest.raises(Exception, match="HTTP 503"):
            authorizer.handle(authorizer_event(sign(claims())))
    out = read(capsys)
    [record] = out.decisions()
    assert (record["level"], record["decision"], record["apiRequestId"]) == (
        "ERROR",
        "error",
        API_REQUEST_ID,
    )
    [document] = out.decision_metrics()
    assert (document["Decision"], document["Reason"]) == ("error", "jwks_fetch_failed")
    # The cold-start fetch failed; the request's refetch waits out the cooldown.
    assert out.fetch_metrics() == []


def test_no_token_derived_value_reaches_a_metric_line(built, capsys):
    capsys.readouterr()
    header, _, signature = sign(claims(sub="victim-sub")).split(".")
    forged = f"{header}.{b64url_json(claims(sub='victim-sub'))}.{signature}x"
    odd_kid = sign(claims(sub="victim-sub"), kid="made-up-kid-" + "k" * 40)
    for token in (sign(claims()), forged, odd_kid, "not.a.token"):
        built.handle(authorizer_event(token))
    out = read(capsys)
    assert len(out.decision_metrics()) == 4
    written = json.dumps(out.metrics)
    for value in ("victim-sub", "0b7e5a3c", "made-up-kid", "key-1", "not.a.token", signature[:16]):
        assert value not in written
    allowed = {"authorizer", "other"} | metrics.DECISION_VALUES | metrics.REASON_CODES
    for document in out.metrics:
        assert dimension_values(document) <= allowed


def test_log_level_warning_keeps_the_metrics(capsys):
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        authorizer = build_authorizer(make_config(LOG_LEVEL="WARNING"), baked="/nonexistent")
    capsys.readouterr()
    authorizer.handle(authorizer_event(sign(claims())))
    out = read(capsys)
    assert out.decisions() == []
    assert len(out.decision_metrics()) == 1


# --- JWKS events --------------------------------------------------------------------


def test_a_failed_refresh_is_counted_and_each_stale_key_served(clock: FakeClock):
    written = Captured()
    emitter = MetricsEmitter("fn", write=written)
    serving = {"ok": True}

    def fetch(url: str) -> bytes:
        if not serving["ok"]:
            raise_unavailable()
        return jwks_body(forged_key())

    jwks = JwksCache(
        JWKS_URL,
        cache_seconds=60,
        miss_cooldown_seconds=10,
        logger=logging.getLogger("authorizer"),
        fetch=fetch,
        clock=clock,
        metrics=emitter,
    )
    jwks.warm()
    jwks.get_key("key-1")  # fresh: nothing to count
    serving["ok"] = False
    clock.advance(61)
    jwks.get_key("key-1")  # the refresh fails; the held key is served stale
    jwks.get_key("key-1")  # inside the cooldown: no fetch, still stale
    documents = written.documents()
    for document in documents:
        validate_emf(document)
    fetches = [d for d in documents if "JwksFetches" in d]
    assert [(d["JwksFetchFailures"], d["JwksKeysAvailable"]) for d in fetches] == [(0, 1), (1, 1)]
    assert [d["JwksStaleKeysServed"] for d in documents if "JwksStaleKeysServed" in d] == [1, 1]


def raise_unavailable() -> None:
    from authorizer.exceptions import JwksFetchError

    raise JwksFetchError("connection refused")


# --- the greeter ----------------------------------------------------------------------


def test_greeter_lines_carry_the_api_request_id_and_route(capsys):
    event = load_event("greeter_post.json")
    event["body"] = json.dumps({"firstName": "Ada"})
    capsys.readouterr()
    assert greeter(event, None)["statusCode"] == 400
    unprotected = load_event("greeter_post.json")
    del unprotected["requestContext"]["authorizer"]
    assert greeter(unprotected, None)["statusCode"] == 500
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["level"] for r in records] == ["INFO", "ERROR"]
    expected = event["requestContext"]["requestId"]
    assert expected
    for record in records:
        assert (record["apiRequestId"], record["routeKey"]) == (expected, event["routeKey"])
