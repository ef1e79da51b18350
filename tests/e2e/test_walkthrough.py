"""The README's walkthrough against the real template.yaml, start to Ctrl-C."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.stackproc import ROOT, start_stack_process

TEMPLATE = ROOT / "template.yaml"


def test_readme_walkthrough_on_the_real_template(tmp_path: Path) -> None:
    offline = start_stack_process(tmp_path, TEMPLATE)
    try:
        # The state file is written after the banner, but our reader thread may lag behind.
        banner = offline.wait_for_output("Offline stack is up", "demo user", "POST /hello")
        assert "demo user" in banner
        assert "POST /hello" in banner

        refused = offline.request(
            "POST", "/hello", json={"firstName": "Brian", "lastName": "Morrison"}
        )
        assert refused.status_code == 401
        assert refused.json() == {"message": "Unauthorized"}

        token = offline.token("id")
        greeted = offline.request(
            "POST",
            "/hello",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            data='{"firstName": "Brian", "lastName": "Morrison"}',
        )
        assert greeted.status_code == 200, greeted.text
        assert greeted.json()["message"] == "Hello Brian Morrison"
        decision = offline.decision_of(greeted.headers["apigw-requestid"])
        assert (decision["decision"], decision["routeKey"]) == ("allow", "POST /hello")
        assert decision["apiRequestId"] == greeted.headers["apigw-requestid"]
    finally:
        status = offline.stop()
    assert status == 0, "\n".join(offline.output())
    assert offline.output()[-1] == "stopped"
    assert not offline.state_file.exists()
