"""scripts/sam_deploy.py: sam deploy's overrides, plus a digest of what is deployed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from scripts import sam_deploy
from scripts.sam_deploy import (
    DIGEST_PARAMETER,
    deploy_command,
    effective_overrides,
    version_digest,
)

ROOT = Path(__file__).resolve().parents[2]
SAM = ["sam", "deploy", "--region", "eu-west-1"]
APP = "Authorizer"  # the demo's nested application
# The script reads templates with the SAM CLI's own parser (in .venv); make mutate's venv,
# which mutates no script, has no SAM CLI.
pytest.importorskip("samcli")


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    """A built HTTP API stack, as `sam build` leaves it: the nested authorizer
    application's template and function under its logical id."""
    build = tmp_path / "build"
    (build / APP / "AuthorizerFunction" / "authorizer" / "__pycache__").mkdir(parents=True)
    shutil.copy(ROOT / "template.yaml", build / "template.yaml")
    shutil.copy(ROOT / "authorizer" / "template.yaml", build / APP / "template.yaml")
    (build / APP / "AuthorizerFunction" / "authorizer" / "app.py").write_text("HANDLER = 1\n")
    return build


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(
        "version = 0.1\n"
        "[default.deploy.parameters]\n"
        'parameter_overrides = "UserPoolId=us-east-1_AbC AppClientIds=\\"abc,def\\""\n'
        "[rest.deploy.parameters]\n"
        'parameter_overrides = ["LogLevel=DEBUG", "TokenUse=access"]\n'
    )
    return path


def digest_of(command: list[str]) -> str:
    (token,) = [t for t in command if t.startswith(f"{DIGEST_PARAMETER}=")]
    return token.split("=", 1)[1]


def test_params_replace_samconfigs_overrides_as_sam_deploy_does(samconfig: Path) -> None:
    assert effective_overrides("RouteRules='{\"a\": 1}' LogLevel=INFO", samconfig, "default") == [
        'RouteRules={"a": 1}',
        "LogLevel=INFO",
    ]


def test_without_params_samconfigs_overrides_of_the_config_env_are_kept(samconfig: Path) -> None:
    assert effective_overrides("", samconfig, "default") == [
        "UserPoolId=us-east-1_AbC",
        "AppClientIds=abc,def",
    ]
    assert effective_overrides("  ", samconfig, "rest") == ["LogLevel=DEBUG", "TokenUse=access"]
    assert effective_overrides("", samconfig, "staging") == []
    assert effective_overrides("", samconfig.parent / "missing.toml", "default") == []


def test_a_digest_saved_by_an_earlier_guided_deploy_is_replaced(
    build_dir: Path, samconfig: Path
) -> None:
    stale = f"{DIGEST_PARAMETER}={'0' * 64}"
    command = deploy_command(build_dir, SAM, f"SnapStart=true {stale}", samconfig)
    assert stale not in command
    assert command == [
        *SAM,
        "--parameter-overrides",
        "SnapStart=true",
        f"{DIGEST_PARAMETER}={digest_of(command)}",
    ]
    assert len(digest_of(command)) == 64


def test_the_digest_follows_the_settings_the_template_and_the_code(
    build_dir: Path, samconfig: Path
) -> None:
    def digest(params: str = "RouteRules={} SnapStart=true") -> str:
        return digest_of(deploy_command(build_dir, SAM, params, samconfig))

    first = digest()
    assert digest() == first  # nothing changed: no new version
    assert digest("RouteRules={} SnapStart=false") != first
    assert digest("SnapStart=true RouteRules={}") != first
    # without PARAMS, samconfig.toml's overrides are what was deployed
    assert digest("") != first
    (build_dir / APP / "AuthorizerFunction" / "authorizer" / "app.py").write_text("HANDLER = 2\n")
    code_changed = digest()
    assert code_changed != first
    nested = build_dir / APP / "template.yaml"
    nested.write_text(nested.read_text().replace("MemorySize: 512", "MemorySize: 1024"))
    nested_changed = digest()
    assert nested_changed not in (first, code_changed)
    demo = build_dir / "template.yaml"
    demo.write_text(demo.read_text().replace("MemorySize: 128", "MemorySize: 256"))
    assert digest() not in (first, code_changed, nested_changed)


def test_bytecode_is_not_part_of_the_digest(build_dir: Path) -> None:
    before = version_digest(build_dir, ["SnapStart=true"])
    pyc = (
        build_dir
        / APP
        / "AuthorizerFunction"
        / "authorizer"
        / "__pycache__"
        / "app.cpython-313.pyc"
    )
    pyc.write_bytes(b"compiled")
    assert version_digest(build_dir, ["SnapStart=true"]) == before


def test_a_template_without_the_parameter_gets_the_overrides_unchanged(
    build_dir: Path, samconfig: Path
) -> None:
    shutil.copy(ROOT / "template-rest.yaml", build_dir / "template.yaml")
    rest = [*SAM, "--config-env", "rest"]
    assert deploy_command(build_dir, rest, "", samconfig) == [
        *rest,
        "--parameter-overrides",
        "LogLevel=DEBUG",
        "TokenUse=access",
    ]
    assert deploy_command(build_dir, SAM, "", samconfig.parent / "none.toml") == SAM


@pytest.mark.parametrize(
    "argv", [[], ["build"], ["build", "sam", "deploy"], ["/no/build/dir", "--", "sam", "deploy"]]
)
def test_bad_arguments_or_no_build_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert sam_deploy.main(argv) == 2
    assert capsys.readouterr().err.strip()


ROUND_TRIP = [
    "SnapStart=true",
    'RouteRules={"GET /hello": {"groups": ["admins"]}, "POST /x": {"claims": {"team": ["a b"]}}}',
    'UserPools=[{"userPoolId": "us-east-1_A", "appClientIds": ["a"]}]',
    "ContextClaims=",
    "CorsAllowedOrigins=https://app.example.com",
    "Quoted='kept'",
    r"Backslash=a\b",
]


def test_every_value_reaches_sam_as_given():
    """Parsed by the SAM CLI's own --parameter-overrides type, each value comes back whole."""
    from samcli.cli.types import CfnParameterOverridesType

    passed = [sam_deploy.for_sam(token) for token in ROUND_TRIP]
    parsed = CfnParameterOverridesType().convert(tuple(passed), None, None)
    assert parsed == dict(token.split("=", 1) for token in ROUND_TRIP)
    # a plain value is passed as it is
    assert passed[0] == "SnapStart=true"


@pytest.mark.parametrize("value", ['a\\"b', "a\\ b", "a\\'b", "ab\\"])
def test_a_value_sam_cannot_take_is_refused_by_name(
    value: str,
    build_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match=r"^RouteRules: "):
        sam_deploy.for_sam(f"RouteRules={value}")
    # in PARAMS as a shell would quote it, so shlex gives the value back unchanged
    quoted = f'"{value}"' if "'" in value else f"'{value}'"
    monkeypatch.setenv("PARAMS", f"RouteRules={quoted}")
    assert sam_deploy.main([str(build_dir), "--", "sam", "deploy"]) == 2
    assert "RouteRules" in capsys.readouterr().err


def test_the_application_deployed_alone_gets_the_digest_too(tmp_path: Path) -> None:
    """`make deploy-authorizer`: the application's own template, its function at the top."""
    build = tmp_path / "alone"
    (build / "AuthorizerFunction" / "authorizer").mkdir(parents=True)
    shutil.copy(ROOT / "authorizer" / "template.yaml", build / "template.yaml")
    (build / "AuthorizerFunction" / "authorizer" / "app.py").write_text("HANDLER = 1\n")
    command = deploy_command(build, SAM, "SnapStart=true", tmp_path / "none.toml")
    assert command == [
        *SAM,
        "--parameter-overrides",
        "SnapStart=true",
        f"{DIGEST_PARAMETER}={version_digest(build, ['SnapStart=true'])}",
    ]


def test_a_build_without_one_authorizer_is_refused(build_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(build_dir / APP / "AuthorizerFunction", build_dir / "AuthorizerFunction")
    with pytest.raises(ValueError, match="expected one built AuthorizerFunction"):
        version_digest(build_dir, [])
