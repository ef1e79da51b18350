"""``make revoke USER=<username>``: sign a user out everywhere, for incident response.

Cognito's ``AdminUserGlobalSignOut`` ends every refresh token of the user (no
new tokens), then a ``user`` entry on the revocation list denies every token
of the user's ``sub`` issued up to now, at every authorizer that reads the
list, within its refresh interval plus API Gateway's cache TTL. The ``sub`` is
looked up with ``AdminGetUser``; nothing about any token is needed.

Against a deployed stack (the default): the stack's ``UserPoolId`` and
``RevocationTableName`` outputs, found by stack name (``STACK``, else
samconfig.toml's) and region (``REGION``, else samconfig.toml's, else the
SDK's); ``POOL_ID`` and ``TABLE`` override them. Given both, no stack is
read (nor named), and the region is ``REGION``, else the pool's own. The
caller's AWS credentials need ``cloudformation:DescribeStacks`` (unless both
are given), ``cognito-idp:AdminGetUser``, ``cognito-idp:AdminUserGlobalSignOut``
and ``dynamodb:PutItem`` on the table.

``OFFLINE=1``: the stack ``make run`` is serving (its state file), started with
``RUN_PARAMS="Revocation=true"``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from authorizer.tables.revocation import USER, revocation_item

ROOT = Path(__file__).resolve().parents[1]
TABLE_OUTPUT = "RevocationTableName"
POOL_OUTPUT = "UserPoolId"
TABLE_LOGICAL_ID = "RevocationTable"


class RevokeError(Exception):
    """What stops a revocation, said for the operator (exit status 1)."""


class Target(NamedTuple):
    user_pool_id: str
    table: str
    cognito: Any
    dynamodb: Any
    where: str


def revoke_user(target: Target, username: str, *, now: float | None = None) -> dict[str, Any]:
    """AdminUserGlobalSignOut, then the ``user`` entry; what was done."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        user = target.cognito.admin_get_user(UserPoolId=target.user_pool_id, Username=username)
        subs = [a["Value"] for a in user.get("UserAttributes", []) if a.get("Name") == "sub"]
        if not subs:
            raise RevokeError(f"user {username!r} has no sub attribute")
        target.cognito.admin_user_global_sign_out(UserPoolId=target.user_pool_id, Username=username)
        revoked_at = time.time() if now is None else now
        target.dynamodb.put_item(
            TableName=target.table, Item=revocation_item(USER, subs[0], revoked_at)
        )
    except ClientError as err:
        error = err.response.get("Error", {})
        if error.get("Code") == "UserNotFoundException":
            raise RevokeError(f"no user {username!r} in {target.user_pool_id}") from None
        raise RevokeError(
            f"{err.operation_name} failed: {error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as err:
        raise RevokeError(f"AWS could not be reached: {err}") from None
    return {"username": username, "sub": subs[0], "revokedAt": int(revoked_at)}


class OfflineStack(NamedTuple):
    """What ``make run`` wrote to its state file, and clients of its emulated AWS."""

    state: Mapping[str, Any]
    table: str | None  # the table of the logical id asked for; None: it runs without it
    cognito: Any
    dynamodb: Any
    where: str


def offline_stack(state_file: Path, table_logical_id: str) -> OfflineStack:
    """The running offline stack (``local.exceptions.StartupError`` when none is readable)."""
    from local.cognito import aws_client
    from local.stack import read_state

    state = read_state(state_file)
    endpoint = state["cognito"]["endpoint"]
    return OfflineStack(
        state,
        (state.get("tables") or {}).get(table_logical_id) or None,
        aws_client("cognito-idp", endpoint),
        aws_client("dynamodb", endpoint),
        f"the offline stack at {endpoint}",
    )


def offline_target(state_file: Path) -> Target:
    from local.exceptions import StartupError

    try:
        stack = offline_stack(state_file, TABLE_LOGICAL_ID)
    except StartupError as err:
        raise RevokeError(str(err)) from None
    if stack.table is None:
        raise RevokeError(
            "the offline stack runs without a revocation list: "
            'make run RUN_PARAMS="Revocation=true"'
        )
    return Target(
        stack.state["cognito"]["user_pool_id"],
        stack.table,
        stack.cognito,
        stack.dynamodb,
        stack.where,
    )


def aws_target(
    stack: str | None, region: str | None, pool_id: str | None, table: str | None, config_env: str
) -> Target:
    """The pool and table to revoke in: as given, or read from the stack's outputs.

    Given both, no stack is read or named, and the region is ``region``, else the
    pool's own (a pool id starts with it), else samconfig.toml's, else the SDK's.
    """
    import boto3

    defaults = samconfig_defaults(config_env)
    if pool_id and table:
        session = boto3.session.Session(
            region_name=region
            or (pool_id.split("_", 1)[0] if "_" in pool_id else defaults.get("region"))
        )
        where = f"user pool {pool_id} in {session.region_name}"
    else:
        stack = stack or defaults.get("stack_name")
        if not stack:
            raise RevokeError("no stack name: pass STACK=<stack> (or POOL_ID= and TABLE=)")
        session = boto3.session.Session(region_name=region or defaults.get("region"))
        outputs = stack_outputs(session.client("cloudformation"), stack)
        pool_id = pool_id or outputs.get(POOL_OUTPUT)
        table = table or outputs.get(TABLE_OUTPUT)
        if not table:
            raise RevokeError(
                f"stack {stack} has no {TABLE_OUTPUT} output: deploy it with Revocation=true"
            )
        if not pool_id:
            raise RevokeError(f"stack {stack} names no single user pool: pass POOL_ID=<pool id>")
        where = f"stack {stack} in {session.region_name}"
    return Target(pool_id, table, session.client("cognito-idp"), session.client("dynamodb"), where)


def stack_outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as err:
        raise RevokeError(f"cannot read stack {stack}: {err}") from None
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def samconfig_defaults(config_env: str) -> Mapping[str, str]:
    """``stack_name`` and ``region`` of samconfig.toml's environment, when it has them."""
    try:
        config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    found = config.get(config_env, {}).get("global", {}).get("parameters", {})
    return {k: str(v) for k, v in found.items() if k in ("stack_name", "region")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make revoke", description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", required=True, help="the Cognito username")
    parser.add_argument("--offline", action="store_true", help="the stack make run serves")
    parser.add_argument(
        "--state-file",
        type=Path,
        default=Path(os.environ.get("STATE_FILE", ".local-state/stack.json")),
    )
    parser.add_argument("--stack", default=None)
    parser.add_argument("--region", default=None)
    parser.add_argument("--user-pool-id", default=None)
    parser.add_argument("--table", default=None)
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment")
    args = parser.parse_args(argv)
    if not args.user.strip():
        parser.error("USER must name a user")
    try:
        target = (
            offline_target(args.state_file)
            if args.offline
            else aws_target(
                args.stack or None,
                args.region or None,
                args.user_pool_id or None,
                args.table or None,
                args.config_env,
            )
        )
        done = revoke_user(target, args.user)
    except RevokeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"revoked {done['username']} (sub {done['sub']}) in {target.where}: "
        f"Cognito signed the user out everywhere, and every token issued up to "
        f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(done['revokedAt']))} "
        f"is on the revocation list ({target.table})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
