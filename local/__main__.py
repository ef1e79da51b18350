"""``python -m local run|token``: what ``make run`` and ``make token`` call."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from local.exceptions import StartupError
from local.stack import DEFAULT_STATE_FILE, OfflineOptions, read_state
from local.tenants import MAX_LOCAL_TENANTS


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is 0..65535 (0 picks a free one)")
    return port


def _overrides(values: list[str]) -> dict[str, str]:
    overrides: dict[str, str] = {}
    for item in values:
        # Shell-style quoting, as sam deploy takes it: RouteRules='{"GET /x": ...}'.
        for pair in shlex.split(item):
            name, sep, value = pair.partition("=")
            if not sep:
                raise argparse.ArgumentTypeError(f"expected Name=Value, got {pair!r}")
            overrides[name] = value
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    state_help = "where `run` writes and `token` reads the local stack's details"
    default_state = Path(os.environ.get("STATE_FILE", str(DEFAULT_STATE_FILE)))

    run = commands.add_parser("run", help="serve the offline stack until Ctrl-C")
    run.add_argument(
        "--template", type=Path, default=Path(os.environ.get("TEMPLATE", "template.yaml"))
    )
    run.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    run.add_argument("--api-port", type=_port, default=int(os.environ.get("API_PORT", "3000")))
    run.add_argument(
        "--cognito-port", type=_port, default=int(os.environ.get("COGNITO_PORT", "9229"))
    )
    run.add_argument(
        "--metrics-port",
        type=_port,
        default=int(os.environ.get("METRICS_PORT", "3001")),
        help="where the functions' metrics are served (GET /, GET /json)",
    )
    run.add_argument(
        "--connections-port",
        type=_port,
        default=int(os.environ.get("CONNECTIONS_PORT", "3002")),
        help="a WebSocket API's connections management API (@connections)",
    )
    run.add_argument("--state-file", type=Path, default=default_state, help=state_help)
    run.add_argument(
        "--pools",
        type=int,
        choices=range(1, 4),
        default=int(os.environ.get("POOLS", "1") or "1"),
        help="trusted local user pools (2 or 3 also makes one untrusted pool)",
    )
    run.add_argument(
        "--tenants",
        type=int,
        choices=range(0, MAX_LOCAL_TENANTS + 1),
        default=int(os.environ.get("TENANTS", "0") or "0"),
        help="tenants in the tenant registry, each a local pool (also makes one untrusted pool)",
    )
    run.add_argument(
        "--parameter-overrides",
        action="append",
        default=[],
        help="template parameters, 'Name=Value Name2=Value2' as sam deploy takes them",
    )

    check = commands.add_parser(
        "check",
        help="what a deploy's rules or a function's cold start would refuse, before sam build",
    )
    check.add_argument(
        "--config-env",
        default="default",
        help="samconfig.toml's environment: its template_file and, without PARAMS, its overrides",
    )
    check.add_argument("--template", type=Path, help="instead of the config env's template")

    token = commands.add_parser("token", help="print a fresh token for the demo user (last line)")
    token.add_argument(
        "--token-use",
        choices=("id", "access"),
        default=os.environ.get("TOKEN_USE", "id").strip().lower() or "id",
    )
    token.add_argument(
        "--pool",
        default=os.environ.get("POOL", "1").strip() or "1",
        help="which local pool's demo user: 1, 2, 3 or untrusted",
    )
    token.add_argument(
        "--tenant",
        default=os.environ.get("TENANT", "").strip(),
        help="a tenant's demo user instead (make run TENANTS=<n>): acme, globex, ...",
    )
    token.add_argument("--state-file", type=Path, default=default_state, help=state_help)

    args = parser.parse_args(argv)
    if args.command == "run":
        from local.stack import serve_until_interrupted

        if args.host not in ("127.0.0.1", "localhost", "::1"):
            parser.error("the offline stack binds loopback only")
        try:
            overrides = _overrides(args.parameter_overrides)
        except argparse.ArgumentTypeError as err:
            parser.error(str(err))
        options = OfflineOptions(
            template=args.template,
            host=args.host,
            api_port=args.api_port,
            cognito_port=args.cognito_port,
            metrics_port=args.metrics_port,
            connections_port=args.connections_port,
            state_file=args.state_file,
            parameter_overrides=overrides,
            pools=args.pools,
            tenants=args.tenants,
        )
        return serve_until_interrupted(options)
    if args.command == "check":
        return _check(args.config_env, args.template, os.environ.get("PARAMS", ""))
    return _token(args.state_file, args.token_use, args.pool, args.tenant)


def _check(config_env: str, template: Path | None, params: str) -> int:
    """make deploy's check: PARAMS, else samconfig.toml's overrides, as sam deploy takes them."""
    from local.exceptions import TemplateError
    from local.preflight import check_deploy
    from local.stack import shown_path
    from scripts.sam_deploy import SAMCONFIG, effective_overrides, samconfig_template

    path = template or SAMCONFIG.parent / samconfig_template(SAMCONFIG, config_env)
    try:
        overrides = _overrides([shlex.join(effective_overrides(params, SAMCONFIG, config_env))])
        check_deploy(path, overrides)
    except (argparse.ArgumentTypeError, TemplateError) as err:
        print(f"error: {err}", file=sys.stderr)
        print("Nothing was built or deployed.", file=sys.stderr)
        return 1
    given = ", ".join(overrides) or "the defaults"
    print(f"settings checked ({shown_path(path)}; {given}): nothing a rule or a cold start refuses")
    return 0


def _token(state_file: Path, token_use: str, which: str = "1", tenant: str = "") -> int:
    from local.cognito import LocalPool, login

    if token_use not in ("id", "access"):
        print(f"error: TOKEN_USE must be id or access, got {token_use!r}", file=sys.stderr)
        return 2
    try:
        state = read_state(state_file)
        pools = state.get("pools") or [state["cognito"]]
        # A tenant's entry is its pool's, with its id and plan beside it.
        tenants = {
            entry["tenantId"]: {k: v for k, v in entry.items() if k not in ("tenantId", "plan")}
            for entry in state.get("tenants") or []
        }
        if tenant:
            chosen = tenants.get(tenant)
            if chosen is None:
                names = ", ".join(tenants) or "none: make run TENANTS=3"
                print(
                    f"error: TENANT={tenant} is not a tenant of this stack ({names})",
                    file=sys.stderr,
                )
                return 2
        elif which == "untrusted":
            chosen = state.get("untrusted")
        elif which.isdigit() and 1 <= int(which) <= len(pools):
            chosen = pools[int(which) - 1]
        else:
            chosen = None
        if chosen is None:
            print(
                f"error: POOL={which} is not a local pool of this stack "
                f"(1..{len(pools)}{', untrusted' if state.get('untrusted') else ''})",
                file=sys.stderr,
            )
            return 2
        pool = LocalPool(**chosen)
    except (StartupError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        token = login(pool, token_use)
    except Exception as err:  # noqa: BLE001 - refused, timed out, pool gone: say what to do
        print(
            f"error: cannot log in at {pool.endpoint} ({type(err).__name__}); "
            "is `make run` still running?",
            file=sys.stderr,
        )
        return 1
    print(f"{token_use} token for {pool.username} (pool {pool.user_pool_id}, valid 1 h):")
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
