"""`make deploy` and `make deploy-authorizer` check the settings before anything is built.

Run for real, with no AWS account: a refused setting stops make at its first
recipe line, so `sam build` never runs and nothing reaches AWS (the endpoint
points at a closed loopback port, should anything try). The message is the
cold start's own, or the template rule's.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from authorizer.verification.config import load_config
from shared.exceptions import ConfigurationError
from tests.deploy.samtemplate import offline_aws_env, run_tool
from tests.helpers import BASE_ENV

POOLS = '[{"userPoolId": "us-east-1_A1", "appClientIds": ["a"]}]'
# Port 9 (discard) on loopback: nothing listens, so any AWS call fails at once.
NOWHERE = "http://127.0.0.1:9"


def make(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **offline_aws_env(tmp_path),
        "AWS_ENDPOINT_URL": NOWHERE,
        "AWS_ACCESS_KEY_ID": "offline",
        "AWS_SECRET_ACCESS_KEY": "offline",
    }
    # VENV: this interpreter's own, wherever the repository is (a scratch copy has none).
    command = ["make", "--no-print-directory", f"VENV={sys.prefix}", *args]
    result = run_tool(command, env, timeout=120)
    return result.returncode, result.stdout, result.stderr


def assert_stopped_before_the_build(code: int, stdout: str) -> None:
    assert code != 0
    # make echoes each recipe line before it runs it: the build's never came.
    assert "sam build" not in stdout
    assert "sam deploy" not in stdout


def test_an_invalid_route_rules_json_stops_make_deploy_with_the_cold_starts_message(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigurationError) as cold_start:
        load_config({**BASE_ENV, "ROUTE_RULES": "{bad json"})
    code, stdout, stderr = make(tmp_path, "deploy", "PARAMS=RouteRules='{bad json'")
    assert_stopped_before_the_build(code, stdout)
    assert "/bin/python -m local check --config-env default" in stdout
    assert stderr.splitlines()[:3] == [
        "error: AuthorizerFunction would not start with these settings"
        " (its cold start refuses them):",
        f"  {cold_start.value}",
        "Nothing was built or deployed.",
    ]


def test_token_use_beside_user_pools_stops_make_deploy_authorizer_naming_it(
    tmp_path: Path,
) -> None:
    code, stdout, stderr = make(
        tmp_path, "deploy-authorizer", f"PARAMS=UserPools='{POOLS}' TokenUse=access"
    )
    assert_stopped_before_the_build(code, stdout)
    assert "UserPools replaces TokenUse; remove TokenUse (give tokenUse per pool)." in stderr


def test_the_rest_variant_is_checked_with_its_own_template(tmp_path: Path) -> None:
    code, stdout, stderr = make(
        tmp_path, "deploy", "API=rest", 'PARAMS=RouteRules=\'{"GET /nope": {"groups": ["a"]}}\''
    )
    assert_stopped_before_the_build(code, stdout)
    assert "ROUTE_RULES: names routes that API_ROUTES does not list: GET /nope" in stderr


def test_settings_that_pass_go_on_to_the_build(tmp_path: Path) -> None:
    """Dry run (make -n): the check first, then the build and the deploy."""
    code, stdout, _ = make(tmp_path, "-n", "deploy")
    assert code == 0
    lines = stdout.splitlines()
    check = next(i for i, line in enumerate(lines) if "python -m local check" in line)
    build = next(i for i, line in enumerate(lines) if "sam build" in line)
    assert check < build
