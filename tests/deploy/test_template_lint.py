"""cfn-lint and `sam validate` accept template.yaml, offline and without AWS credentials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.samtemplate import REGION, ROOT, TEMPLATE

BIN = Path(sys.executable).parent


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """A region, no credentials anywhere, no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        SAM_CLI_BETA_FEATURES="0",
        HOME=str(tmp_path),
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def test_cfn_lint_passes(offline_env):
    result = run([str(BIN / "cfn-lint"), str(TEMPLATE)], offline_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_catch_a_broken_template(offline_env, tmp_path):
    # The check above can fail: a template with a dangling Ref does.
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("!Ref AuthorizerLogGroup", "!Ref NoSuchGroup"))
    result = run([str(BIN / "cfn-lint"), str(broken)], offline_env)
    assert result.returncode != 0
    assert "NoSuchGroup" in result.stdout


@pytest.mark.parametrize("lint", [True, False], ids=["lint", "basic"])
def test_sam_validate_passes(offline_env, lint):
    args = [str(BIN / "sam"), "validate", "--template-file", str(TEMPLATE)]
    if lint:
        args.append("--lint")
    result = run(args, offline_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
