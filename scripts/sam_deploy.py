"""`make deploy` runs `sam deploy` through this, so the SnapStart alias serves what was deployed.

With SnapStart on, API Gateway invokes the authorizer's "live" alias, which
points at a published version. SAM publishes a new version only when its
hash of the function changes, and that hash sees the template's ``!Ref``s,
not the parameter values behind them: a deploy that changes only RouteRules,
AppClientIds or SnapStart itself would leave the alias on the old version
(aws/serverless-application-model#1640). Given ``AutoPublishCodeSha256``,
SAM names the version by that value instead, so this passes
``AuthorizerVersionDigest``, a SHA-256 of the built authorizer, the built
templates and the parameter overrides: a change to any of them publishes a
version, a deploy that changes nothing publishes none. The demo passes the
digest on to the authorizer application it nests (whose function `sam build`
puts under the application's logical id); `make deploy-authorizer` gives it to
the application directly.

`sam deploy` takes ``--parameter-overrides`` on its command line *instead
of* samconfig.toml's (aws/aws-sam-cli#2380), so the overrides passed on are
``PARAMS`` when given, else samconfig.toml's for the config environment,
each with the digest added. A template without the parameter (the REST
variant, which has no SnapStart) gets the overrides unchanged.

    PARAMS="..." sam_deploy.py BUILD_DIR -- sam deploy [sam's arguments]
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

DIGEST_PARAMETER = "AuthorizerVersionDigest"
AUTHORIZER = "AuthorizerFunction"
SAMCONFIG = Path(__file__).resolve().parents[1] / "samconfig.toml"


def samconfig_overrides(path: Path, config_env: str) -> list[str]:
    """The deploy (else build) ``parameter_overrides`` of ``config_env``, as tokens."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return []
    for command in ("deploy", "build"):
        found = config.get(config_env, {}).get(command, {}).get("parameters", {})
        overrides = found.get("parameter_overrides")
        if isinstance(overrides, list):
            return [str(item) for item in overrides]
        if isinstance(overrides, str):
            return shlex.split(overrides)
    return []


def samconfig_template(path: Path, config_env: str) -> str:
    """The template sam build builds for ``config_env``: its template_file, else template.yaml."""
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "template.yaml"
    found = config.get(config_env, {}).get("build", {}).get("parameters", {})
    return str(found.get("template_file", "template.yaml"))


def effective_overrides(params: str, samconfig: Path, config_env: str) -> list[str]:
    """What `sam deploy` would use: PARAMS when given, else samconfig.toml's; no old digest."""
    tokens = shlex.split(params) if params.strip() else samconfig_overrides(samconfig, config_env)
    return [token for token in tokens if not token.startswith(f"{DIGEST_PARAMETER}=")]


def authorizer_artifact(build_dir: Path) -> Path:
    """The built authorizer: the template's own function, or its nested application's
    (`sam build` puts a nested stack's functions under the stack's logical id)."""
    found = sorted(build_dir.glob(AUTHORIZER)) + sorted(build_dir.glob(f"*/{AUTHORIZER}"))
    if len(found) != 1:
        raise ValueError(f"expected one built {AUTHORIZER} in {build_dir}, found {len(found)}")
    return found[0]


def version_digest(build_dir: Path, overrides: Sequence[str]) -> str:
    """SHA-256 of the overrides, the built templates (a nested one's too) and the
    authorizer's artifact.

    Bytecode is left out: it is compiled from the sources, which are in.
    """
    digest = hashlib.sha256()
    for token in overrides:
        digest.update(token.encode() + b"\0")
    templates = [build_dir / "template.yaml", *sorted(build_dir.glob("*/template.yaml"))]
    for template in templates:
        name = template.relative_to(build_dir).as_posix()
        digest.update(b"\0template\0" + name.encode() + b"\0" + template.read_bytes())
    artifact = authorizer_artifact(build_dir)
    for path in sorted(artifact.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            name = path.relative_to(artifact).as_posix()
            digest.update(b"\0file\0" + name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def declares_digest(template: Path) -> bool:
    from samtranslator.yaml_helper import yaml_parse  # the SAM CLI's own, in .venv

    parameters = yaml_parse(template.read_text()).get("Parameters") or {}
    return DIGEST_PARAMETER in parameters


def config_env_of(sam_args: Sequence[str]) -> str:
    for index, arg in enumerate(sam_args):
        if arg == "--config-env" and index + 1 < len(sam_args):
            return sam_args[index + 1]
        if arg.startswith("--config-env="):
            return arg.split("=", 1)[1]
    return "default"


def for_sam(token: str) -> str:
    """``Name=value`` as sam's parser reads it back exactly.

    Unquoted, sam keeps a value only up to its first space or quote, so any
    other value is double-quoted with its quotes escaped: sam unescapes ``\\"``,
    ``\\'`` and ``\\ `` and nothing else, so a backslash before one of those
    cannot be passed at all (samcli/cli/types.py, CfnParameterOverridesType).
    """
    name, separator, value = token.partition("=")
    if not separator or re.fullmatch(r"[^\s\"'\\]+", value):
        return token
    if re.search(r"\\([\s\"']|$)", value):
        raise ValueError(
            f"{name}: sam deploy cannot take a backslash before a space, a quote or the end"
        )
    return name + '="' + value.replace('"', '\\"') + '"'


def deploy_command(
    build_dir: Path, sam_args: Sequence[str], params: str, samconfig: Path
) -> list[str]:
    """``sam_args`` with the overrides (and the digest, when the template takes it) appended."""
    overrides = effective_overrides(params, samconfig, config_env_of(sam_args))
    if declares_digest(build_dir / "template.yaml"):
        overrides.append(f"{DIGEST_PARAMETER}={version_digest(build_dir, overrides)}")
    if not overrides:
        return list(sam_args)
    return [*sam_args, "--parameter-overrides", *(for_sam(token) for token in overrides)]


def main(argv: Sequence[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: sam_deploy.py BUILD_DIR -- sam deploy [arguments]", file=sys.stderr)
        return 2
    build_dir = Path(argv[0])
    if not (build_dir / "template.yaml").is_file():
        print(f"error: no built template in {build_dir}; run `make build` first", file=sys.stderr)
        return 2
    try:
        command = deploy_command(build_dir, argv[2:], os.environ.get("PARAMS", ""), SAMCONFIG)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # sam deploy, as make deploy spells it: our own command line, no shell
    os.execvp(command[0], command)  # noqa: S606  # nosec B606


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
