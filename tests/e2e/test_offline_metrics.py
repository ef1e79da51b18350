"""make run's metrics: the functions' real EMF lines, summed while it runs and printed at Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process

TEMPLATE = ROOT / "template.yaml"


def call(offline: StackProcess, token: str, body: str) -> requests.Response:
    return offline.request(
        "POST",
        "/hello",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        data=body,
    )


def metrics(offline: StackProcess) -> dict[str, Any]:
    response = requests.get(offline.state["metricsUrl"] + "/json", timeout=5)
    assert response.status_code == 200
    return dict(response.json())


def test_the_offline_stack_counts_decisions_as_the_dashboard_would(tmp_path: Path) -> None:
    offline = start_stack_process(tmp_path, TEMPLATE, parameters={"AuthorizerCacheTtlSeconds": "0"})
    try:
        metrics_url = offline.state["metricsUrl"]
        assert metrics_url != offline.url  # its own port: it cannot shadow a route
        assert offline.request("GET", "/json").status_code == 404  # not on the API's port

        token = offline.token("id")
        greeting = '{"firstName": "Brian", "lastName": "Morrison"}'
        first = call(offline, token, greeting)
        assert first.status_code == 200, first.text
        assert call(offline, token, greeting).status_code == 200  # verified-token cache hit
        assert call(offline, "not.a.token", greeting).status_code == 403
        tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert call(offline, tampered, greeting).status_code == 403
        bad = call(offline, token, '{"firstName": "Brian"}')
        assert bad.status_code == 400

        # Correlation: the decision and the greeter's line carry API Gateway's request id.
        request_id = bad.headers["apigw-requestid"]
        decision = offline.decision_of(request_id)
        assert (decision["apiRequestId"], decision["routeKey"]) == (request_id, "POST /hello")
        offline.wait_for_output(f'"apiRequestId": "{request_id}"')
        greeter_lines = [
            json.loads(line.partition("| ")[2])
            for line in offline.function_lines("GreeterFunction")
            if request_id in line
        ]
        assert [(g["message"], g["routeKey"]) for g in greeter_lines] == [
            ("bad request", "POST /hello")
        ]

        seen = metrics(offline)
        assert seen["decisions"] == {"allow": 3, "deny": 2}
        assert seen["reasons"] == {"bad_signature": 1, "malformed_token": 1, "ok": 3}
        assert seen["verifiedTokenCache"] == {"hits": 2, "verified": 3}
        assert seen["latencyMs"]["count"] == 5
        assert 0 < seen["latencyMs"]["p50"] <= seen["latencyMs"]["p99"]
        jwks = seen["jwks"]
        assert jwks["fetches"] >= 1  # each execution environment's cold start
        assert (jwks["fetchFailures"], jwks["staleKeysServed"]) == (0, 0)
        assert jwks["keysAvailable"] >= 1
        assert seen["rejectedLines"] == 0

        text = requests.get(metrics_url, timeout=5).text
        assert "decisions       allow 3, deny 2" in text
    finally:
        status = offline.stop()
    output = offline.output()
    assert status == 0, "\n".join(output)
    summary = "\n".join(output[output.index("stopping...") :])
    assert "decisions       allow 3, deny 2" in summary
    assert "by reason       bad_signature 1, malformed_token 1, ok 3" in summary
    assert "token cache     2 hits of 3 allows (67%)" in summary
    assert "JWKS            fetches " in summary
    assert output[-1] == "stopped"
