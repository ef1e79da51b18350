"""cfn-lint and `sam validate` accept template.yaml and the authorizer application it nests,
offline and without AWS credentials."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.samtemplate import APP_TEMPLATE, ROOT, TEMPLATE, offline_aws_env

BIN = Path(sys.executable).parent


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    return offline_aws_env(tmp_path)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.mark.parametrize("template", [TEMPLATE, APP_TEMPLATE], ids=["demo", "application"])
def test_cfn_lint_passes(offline_env, template):
    result = run([str(BIN / "cfn-lint"), str(template)], offline_env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_would_catch_a_broken_template(offline_env, tmp_path):
    # The check above can fail: a template with a dangling Ref does.
    broken = tmp_path / "template.yaml"
    broken.write_text(
        APP_TEMPLATE.read_text().replace("!Ref AuthorizerLogGroup", "!Ref NoSuchGroup")
    )
    result = run([str(BIN / "cfn-lint"), str(broken)], offline_env)
    assert result.returncode != 0
    assert "NoSuchGroup" in result.stdout


@pytest.mark.parametrize("template", [TEMPLATE, APP_TEMPLATE], ids=["demo", "application"])
@pytest.mark.parametrize("lint", [True, False], ids=["lint", "basic"])
def test_sam_validate_passes(offline_env, lint, template):
    args = [str(BIN / "sam"), "validate", "--template-file", str(template)]
    if lint:
        args.append("--lint")
    result = run(args, offline_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr
