"""ROUTE_RULES on the real template: a cached allow never crosses from one route to another."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.stackproc import ROOT, start_stack_process

# The demo user is in "greeters", not "admins".
RULES = {"POST /hello": {"groups": ["admins"]}}


def test_an_allow_on_one_route_does_not_open_another(tmp_path: Path) -> None:
    offline = start_stack_process(
        tmp_path,
        ROOT / "template.yaml",
        parameters={"RouteRules": json.dumps(RULES), "AuthorizerCacheTtlSeconds": "300"},
    )
    try:
        auth = {"Authorization": f"Bearer {offline.token('id')}"}
        greeted = offline.request("GET", "/hello", headers=auth)
        assert greeted.status_code == 200, greeted.text
        # Same token, within the TTL: the cache is keyed per route too, so the
        # authorizer decides again, and the group rule denies.
        refused = offline.request(
            "POST", "/hello", headers=auth, json={"firstName": "B", "lastName": "M"}
        )
        assert refused.status_code == 403
        decision = offline.decision_of(refused.headers["apigw-requestid"])
        assert (decision["decision"], decision["reason"]) == ("deny", "missing_group")
        again = offline.request("GET", "/hello", headers=auth)
        assert again.status_code == 200
        assert "(cached)" in offline.access_line(again.headers["apigw-requestid"]).group(0)
    finally:
        offline.stop()
