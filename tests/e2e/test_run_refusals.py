"""`make run` refuses what a deploy would refuse, before any function starts.

Settings that used to start and then fail open (TokenUse beside UserPools:
an ID token let through when access tokens were asked for) or fail on every
request stop the offline stack at once, with the template rule's message or
the cold start's own.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from authorizer.verification.config import load_config
from shared.exceptions import ConfigurationError
from tests.e2e.stackproc import ROOT, run_command
from tests.helpers import BASE_ENV


def run(tmp_path: Path, parameters: str, pools: int = 1, template: str = "template.yaml") -> str:
    """`make run` with these RUN_PARAMS: its output, once it has exited (it must, refused)."""
    command = run_command(ROOT / template, tmp_path / "state.json", None, pools)
    result = subprocess.run(
        [*command, "--parameter-overrides", parameters],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (tmp_path / "state.json").exists()
    output = result.stdout + result.stderr
    # No function was started: none wrote a line.
    assert [line for line in output.splitlines() if " | " in line] == []
    return output


def test_token_use_beside_several_pools_stops_with_the_rules_message(tmp_path: Path) -> None:
    """make run POOLS=2 RUN_PARAMS="TokenUse=access" """
    output = run(tmp_path, "TokenUse=access", pools=2)
    assert output.splitlines() == [
        "error: the template's rules refuse these parameters:",
        "  UserPoolsReplaceTheOnePoolSettings: UserPools replaces TokenUse; remove TokenUse"
        " (give tokenUse per pool).",
        "  Authorizer/UserPoolsReplaceTheOnePoolSettings: UserPools replaces TokenUse;"
        " remove TokenUse (give tokenUse per pool).",
    ]


def test_a_broken_setting_stops_with_the_cold_starts_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as cold_start:
        load_config({**BASE_ENV, "ROUTE_RULES": "{bad"})
    output = run(tmp_path, "RouteRules='{bad'")
    assert output.splitlines() == [
        "error: AuthorizerFunction would not start with these settings"
        " (its cold start refuses them):",
        f"  {cold_start.value}",
    ]


def test_an_example_with_revocation_but_no_sign_out_function_is_refused(tmp_path: Path) -> None:
    """The example's own rule: its /signout route needs the function it goes to."""
    output = run(
        tmp_path, "Revocation=true SignOutFunctionArn=''", template="examples/http-api.yaml"
    )
    assert "RevocationNeedsTheSignOutFunction: Revocation needs SignOutFunctionArn" in output
