"""`make bench`: what one authorization costs, as ratios measured in one run.

Every row is timed on the same machine in the same run, on the same tokens,
so the ratios (not the microseconds) are what to compare across machines.
Timings take the best of several repeats to cut this noisy machine's jitter.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import jwt  # noqa: E402 - the floor and the straightforward baseline are PyJWT
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey  # noqa: E402
from cryptography.hazmat.primitives.hashes import SHA256  # noqa: E402
from jwt.utils import base64url_decode  # noqa: E402

from authorizer.api.handler import Authorizer, build_authorizer  # noqa: E402
from authorizer.verification.config import load_config  # noqa: E402
from authorizer.verification.verify import check_claims  # noqa: E402
from bench import coldstart  # noqa: E402
from bench.revocation import decision_costs, dynamodb_stub, refresh_rows  # noqa: E402
from bench.tenants import report as tenant_report  # noqa: E402
from bench.websocket import decision_costs as websocket_costs  # noqa: E402
from bench.websocket import hang_up_latency  # noqa: E402
from local.lambdalog import install as install_lambda_log_format  # noqa: E402
from scripts.compile_bytecode import compile_tree  # noqa: E402
from tests.forge import (  # noqa: E402
    CLIENT_ID,
    ISSUER,
    JWKS_URL,
    ForgedKey,
    authorizer_event,
    claims,
    forged_key,
    jwks_body,
    sign,
)
from tests.helpers import make_config  # noqa: E402

ENV = {"USER_POOL_ID": "us-east-1_TestPool1", "APP_CLIENT_IDS": CLIENT_ID, "LOG_LEVEL": "INFO"}


def per_call(run: Callable[[], object], calls: int, repeat: int) -> float:
    """Best-of-``repeat`` seconds per call of a loop that makes ``calls`` calls."""
    return min(timeit.repeat(run, number=1, repeat=repeat)) / calls


def interleaved(runs: dict[str, Callable[[], object]], calls: int, repeat: int) -> dict[str, float]:
    """``per_call`` for rows to be compared: their repeats take turns, so drift hits all alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, run in runs.items():
            best[name] = min(best[name], timeit.timeit(run, number=1))
    return {name: seconds / calls for name, seconds in best.items()}


@contextlib.contextmanager
def stdout_to_devnull() -> Iterator[None]:
    """Decision lines go where Lambda's would: a file descriptor, not a terminal."""
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def baked_file(key: ForgedKey) -> str:
    """What `make build` bakes into the artifact, just baked."""
    document = json.loads(jwks_body(key))
    return json.dumps({"jwksUrl": JWKS_URL, "bakedAtEpoch": time.time(), "jwks": document})


SECOND_POOL = "eu-west-1_Second2"
SECOND_JWKS = f"https://cognito-idp.eu-west-1.amazonaws.com/{SECOND_POOL}/.well-known/jwks.json"


def two_pools(key: ForgedKey) -> tuple[dict[str, str], str]:
    """USER_POOLS trusting the bench's pool and a second one, and both key sets baked."""
    pools = [
        {"userPoolId": ENV["USER_POOL_ID"], "appClientIds": [CLIENT_ID]},
        {"userPoolId": SECOND_POOL, "appClientIds": ["secondclient"]},
    ]
    key_sets = [
        {"jwksUrl": JWKS_URL, "jwks": json.loads(jwks_body(key))},
        {"jwksUrl": SECOND_JWKS, "jwks": json.loads(jwks_body(forged_key("second-pool-key")))},
    ]
    baked = json.dumps({"bakedAtEpoch": time.time(), "keySets": key_sets})
    return {"USER_POOLS": json.dumps(pools), "LOG_LEVEL": "INFO"}, baked


def straightforward(keys: dict[str, RSAPublicKey]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The straightforward authorizer: get_unverified_header + jwt.decode with a cached key."""

    def handle(event: dict[str, Any]) -> dict[str, Any]:
        token = event["identitySource"][0].split()[-1]
        try:
            header = jwt.get_unverified_header(token)
            payload = jwt.decode(
                token,
                keys[header["kid"]],
                algorithms=["RS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "token_use"], "verify_aud": False},
            )
        except (jwt.InvalidTokenError, KeyError):
            return {"isAuthorized": False}
        client = payload.get("aud" if payload["token_use"] == "id" else "client_id")
        if client != CLIENT_ID:
            return {"isAuthorized": False}
        return {
            "isAuthorized": True,
            "context": {
                "sub": payload["sub"],
                "username": payload.get("cognito:username", ""),
                "groups": " ".join(payload.get("cognito:groups", [])),
            },
        }

    return handle


def micro(tokens: int, repeat: int) -> dict[str, float]:
    key = forged_key()
    public = key.private_key.public_key()
    minted = [sign(claims("id")) for _ in range(tokens)]
    events = [authorizer_event(t) for t in minted]
    split = [t.split(".") for t in minted]
    raw = [(base64url_decode(s), f"{h}.{p}".encode()) for h, p, s in split]
    padding, sha256 = PKCS1v15(), SHA256()
    config = make_config(LOG_LEVEL="INFO")

    def rsa_only() -> None:
        for signature, message in raw:
            public.verify(signature, message, padding, sha256)

    def library_floor() -> None:
        # PyJWT's own decode with the key already known and the checks we ask of it.
        for token in minted:
            jwt.decode(
                token,
                public,
                algorithms=["RS256"],
                issuer=ISSUER,
                leeway=config.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
            )

    # Deployed, Lambda's runtime formats each record; the look-alike does the same work.
    install_lambda_log_format()
    with tempfile.TemporaryDirectory() as tmp:
        baked = Path(tmp) / "baked_jwks.json"
        baked.write_text(baked_file(key))
        with stdout_to_devnull():
            ours = build_authorizer(config, baked=baked)
            quiet = build_authorizer(make_config(LOG_LEVEL="WARNING"), baked=baked)
        pools_env, pools_baked = two_pools(key)
        baked.write_text(pools_baked)
        with stdout_to_devnull():
            second = build_authorizer(load_config(pools_env), baked=baked)
    # Neither a log record nor a metric line: what the decision itself costs.
    bare = Authorizer(quiet.verifier, quiet.logger, config.route_rules, metrics=None)
    baseline = straightforward({key.kid: public})

    def fresh(authorizer: Any, level: str) -> Callable[[], None]:
        def run() -> None:
            # One process-wide "authorizer" logger serves all three: each run sets its level.
            authorizer.logger.setLevel(level)
            authorizer.verifier.forget_tokens()
            for event in events:
                authorizer.handle(event)

        return run

    def telemetry(authorizer: Any, level: str) -> Callable[[], None]:
        # The decision's log record and EMF line alone, as handle() writes them for an allow.
        def run() -> None:
            authorizer.logger.setLevel(level)
            started = time.perf_counter()
            for _ in range(tokens):
                authorizer.decided(
                    logging.INFO,
                    "allow",
                    "ok",
                    "POST /hello",
                    "TmxYqg8VIAMEVBA=",
                    started,
                    cache_hit=False,
                    kid=key.kid,
                    sub="0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
                    tokenUse="id",
                    clientId=CLIENT_ID,
                    verifiedTokenCache=False,
                )

        return run

    def repeated() -> None:
        event = events[0]
        ours.logger.setLevel("INFO")
        for _ in range(tokens):
            ours.handle(event)

    def repeated_verify() -> None:
        token = minted[0]
        for _ in range(tokens):
            ours.verifier.verify(token)

    payloads = [jwt.decode(t, options={"verify_signature": False}) for t in minted]

    def claims_only() -> None:
        for payload in payloads:
            check_claims(payload, config)

    def base() -> None:
        for event in events:
            baseline(event)

    with stdout_to_devnull():
        assert all(ours.handle(e)["isAuthorized"] for e in events[:5])
        assert all(second.handle(e)["isAuthorized"] for e in events[:5])
        assert all(baseline(e)["isAuthorized"] for e in events[:5])
        return {
            "rsa": per_call(rsa_only, tokens, repeat),
            **interleaved(
                {
                    "floor": library_floor,
                    "fresh": fresh(ours, "INFO"),
                    "fresh_quiet": fresh(quiet, "WARNING"),
                    "fresh_bare": fresh(bare, "WARNING"),
                    "fresh_two_pools": fresh(second, "INFO"),
                },
                tokens,
                repeat,
            ),
            **interleaved(
                {
                    "log_and_emf": telemetry(ours, "INFO"),
                    "emf_only": telemetry(quiet, "WARNING"),
                    "no_telemetry": telemetry(bare, "WARNING"),
                },
                tokens,
                repeat,
            ),
            "repeat": per_call(repeated, tokens, repeat),
            "repeat_verify": per_call(repeated_verify, tokens, repeat),
            "baseline": per_call(base, tokens, repeat),
            "claims": per_call(claims_only, tokens, repeat),
        }


def websocket_micro(tokens: int, repeat: int) -> dict[str, float]:
    """A $connect decision and an HTTP API decision on the same fresh tokens, interleaved."""
    key = forged_key()
    install_lambda_log_format()
    with tempfile.TemporaryDirectory() as tmp:
        baked = Path(tmp) / "baked_jwks.json"
        baked.write_text(baked_file(key))
        with stdout_to_devnull():
            return websocket_costs(tokens, repeat, baked, interleaved)


def revocation_micro(tokens: int, repeat: int, entries: int) -> dict[str, float]:
    """Whole-handler decisions with revocation off and on (a list of ``entries``)."""
    events = [authorizer_event(sign(claims("id"))) for _ in range(tokens)]
    install_lambda_log_format()
    with tempfile.TemporaryDirectory() as tmp, stdout_to_devnull():
        baked = Path(tmp) / "baked_jwks.json"
        baked.write_text(baked_file(forged_key()))

        def build(overrides: dict[str, str], query: Any) -> Authorizer:
            config = make_config(LOG_LEVEL="INFO", **overrides)
            return build_authorizer(config, baked=baked, revocation_query=query)

        return decision_costs(build, events, entries, repeat)


# The authorizer's runtime dependencies, copied beside our code as in the artifact.
RUNTIME_PACKAGES = ("jwt", "cryptography", "cachetools")


def artifact_copy(tmp: Path) -> Path:
    """Code, dependencies and baked keys laid out as in the Lambda artifact.

    Like the artifact `make build` makes, the copy holds checked-hash bytecode
    for every module, ours and the dependencies', written by the build's own
    step, so `import jwt` and our module both load compiled code, as a cold
    start does. A cold start then needs no network.
    """
    no_bytecode = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("authorizer", "shared"):
        shutil.copytree(ROOT / package, tmp / package, ignore=no_bytecode)
    for package in RUNTIME_PACKAGES:
        source = Path(__import__(package).__file__ or "").parent
        shutil.copytree(source, tmp / package, ignore=no_bytecode)
    (tmp / "authorizer" / "baked_jwks.json").write_text(baked_file(forged_key()))
    if not compile_tree(tmp):
        raise SystemExit(f"the cold-start rows need CPython 3.13, not {sys.version}")
    return tmp


def run_python(
    code: str,
    tmp: Path,
    stdin: str = "",
    *args: str,
    env: dict[str, str] | None = None,
    first_on_path: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter on the artifact copy; its last line is JSON."""
    env = {
        **os.environ,
        **ENV,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join(map(str, (*first_on_path, tmp))),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        input=stdin,
        env=env,
        cwd=tmp,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


# Lambda's Python runtime (awslambdaric/bootstrap.py) has imported these before it
# imports the handler's module, so neither row pays for them.
COLD = """
import importlib, json, logging, os, sys, time, traceback
t0, c0 = time.perf_counter(), time.process_time()
import {module}
out = {{"import": time.perf_counter() - t0}}
if "{module}" == "authorizer.app":
    event = json.loads(sys.stdin.read())
    t1 = time.perf_counter()
    out["ok"] = authorizer.app.lambda_handler(event, None)["isAuthorized"]
    out["first_call"] = time.perf_counter() - t1
    # CPU time of the whole cold start (every thread): what a busy machine inflates least.
    out["cpu"] = time.process_time() - c0
    out["requests_imported"] = "requests" in sys.modules
    out["jwt_imported"] = "jwt" in sys.modules
    out["from_copy"] = all(
        sys.modules[name].__file__.startswith(os.getcwd()) for name in {packages}
    )
print(json.dumps(out))
"""


# The list a revocation-on cold start reads in the cold-start rows.
REVOCATION_COLD_ENTRIES = 1000
# Import and first decision with revocation on, against the same with it off (baked keys).
REVOCATION_COLD_START_ROW = "cold start to first decision, revocation on / off"
REVOCATION_COLD_START_TARGET = 1.5
# Packages the venv has and Lambda's Python runtime has not (it holds boto3 and its
# dependencies), which botocore imports when it can: awscrt (about 45 ms here) and
# pyOpenSSL (urllib3's optional TLS backend).
NOT_IN_LAMBDA_RUNTIME = ("awscrt", "OpenSSL")


def lambda_runtime(directory: Path) -> Path:
    """A directory that, first on the path, hides what Lambda's runtime lacks.

    A package of each name that cannot be imported hides the venv's.
    """
    for package in NOT_IN_LAMBDA_RUNTIME:
        (directory / package).mkdir(parents=True)
        (directory / package / "__init__.py").write_text('raise ImportError("not in Lambda")\n')
    return directory


def cold(runs: int) -> dict[str, Any]:
    """Fresh interpreters importing the artifact-like copy."""
    event = json.dumps(authorizer_event(sign(claims("id"))))
    with tempfile.TemporaryDirectory() as name:
        tmp = artifact_copy(Path(name))
        packages = repr(RUNTIME_PACKAGES)
        for module in ("jwt", "authorizer.app"):  # warm the OS file cache first
            run_python(COLD.format(module=module, packages=packages), tmp, event)
        # Alternated, so a slower or faster spell of this machine weighs on all rows.
        jwt_runs, our_runs, revoking_runs = [], [], []
        # The SDK comes from the runtime (here the venv), as in Lambda: not from the copy.
        runtime = lambda_runtime(Path(name) / "lambda-runtime")
        with dynamodb_stub(REVOCATION_COLD_ENTRIES) as revoking:
            app = COLD.format(module="authorizer.app", packages=packages)

            def on(code: str, args: tuple[str, ...] = (), stdin: str = "") -> dict[str, Any]:
                return run_python(code, tmp, stdin, *args, env=revoking, first_on_path=(runtime,))

            def revocation_on() -> dict[str, Any]:
                return on(app, stdin=event)

            sdk_rows = coldstart.runs(on)
            sdk_runs: dict[str, list[dict[str, Any]]] = {row: [] for row in sdk_rows}
            revocation_on()  # the file cache, for the SDK too
            for warm_up in sdk_rows.values():
                warm_up()
            for _ in range(runs):
                jwt_runs.append(run_python(COLD.format(module="jwt", packages=packages), tmp))
                our_runs.append(run_python(app, tmp, event))
                revoking_runs.append(revocation_on())
                for row, measure in sdk_rows.items():
                    sdk_runs[row].append(measure())
    assert all(r["ok"] and r["from_copy"] for r in our_runs + revoking_runs)
    assert all(
        r["entries"] == REVOCATION_COLD_ENTRIES
        for row, measured in sdk_runs.items()
        if row.startswith("phases:")
        for r in measured
    )
    return {
        **coldstart.medians(sdk_runs),
        "import_jwt": statistics.median(r["import"] for r in jwt_runs),
        "import_ours": statistics.median(r["import"] for r in our_runs),
        "first_call": statistics.median(r["first_call"] for r in our_runs),
        "import_revoking": statistics.median(r["import"] for r in revoking_runs),
        "first_call_revoking": statistics.median(r["first_call"] for r in revoking_runs),
        "cpu_ours": statistics.median(r["cpu"] for r in our_runs),
        "cpu_revoking": statistics.median(r["cpu"] for r in revoking_runs),
        "requests_imported": any(r["requests_imported"] for r in our_runs),
        "jwt_imported": any(r["jwt_imported"] for r in our_runs),
    }


RSS = """
import contextlib, io, json, os, sys
from authorizer.app import lambda_handler
def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024
event = {"identitySource": [""], "routeKey": "GET /hello"}
start = rss()
allowed = 0
with open(sys.argv[1]) as tokens, open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    for line in tokens:  # streamed: the tokens themselves never pile up in this process
        event["identitySource"][0] = "Bearer " + line.strip()
        allowed += lambda_handler(event, None)["isAuthorized"]
print(json.dumps({"start": start, "end": rss(), "allowed": allowed}))
"""


def memory(tokens: int) -> dict[str, float]:
    """RSS of a fresh authorizer process before and after ``tokens`` distinct valid tokens."""
    with tempfile.TemporaryDirectory() as name:
        tmp = artifact_copy(Path(name))
        token_file = tmp / "tokens.txt"
        with token_file.open("w") as out:
            for _ in range(tokens):
                out.write(sign(claims("id")) + "\n")
        measured = run_python(RSS, tmp, "", str(token_file))
    assert measured["allowed"] == tokens
    return measured


def local_stack(requests: int) -> dict[str, Any]:
    """The offline stack (`make run`) under mixed load from a second process, cache off."""
    from tests.soak.run import KIB, soak

    result = soak(
        requests=requests,
        seconds=60,
        concurrency=8,
        distinct_valid=max(100, requests // 4),
        warmup=200,
        max_growth_kib=16 * KIB,
    )
    if not result.ok:
        raise SystemExit(f"the local stack run failed: {result.problems}")
    return dict(result.report)


def verdict(value: float | None, target: float | None, of: str = "") -> str:
    """A target beside its figure, marked met or MISSED (one run on a noisy machine)."""
    if value is None or target is None:
        return ""
    mark = "met" if value <= target else "MISSED"
    return f"<= {target}x{' ' + of if of else ''}: {mark}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per timing loop")
    parser.add_argument("--repeat", type=int, default=7, help="repeats; the best one counts")
    parser.add_argument(
        "--cold-runs", type=int, default=15, help="fresh interpreters per import row"
    )
    parser.add_argument(
        "--rss-tokens", type=int, default=10_000, help="distinct tokens for the RSS row"
    )
    parser.add_argument(
        "--stack-requests", type=int, default=3000, help="requests through make run's stack"
    )
    parser.add_argument(
        "--revocation-sizes",
        default="1000,100000,1000000",
        help="revocation list sizes for the list rows (comma-separated)",
    )
    parser.add_argument(
        "--tenant-sizes",
        default="10,1000,10000,100000",
        help="registered tenants for the tenant registry rows (comma-separated)",
    )
    parser.add_argument(
        "--key-sets", type=int, default=1000, help="tenants' key sets held for the memory row"
    )
    parser.add_argument(
        "--hang-up-samples",
        type=int,
        default=10,
        help="revocations timed until their WebSocket connection closes (offline)",
    )
    parser.add_argument(
        "--revocation-entries",
        type=int,
        default=10_000,
        help="revocations in the list for the decision rows",
    )
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"command: make bench ({args.tokens} tokens x best of {args.repeat})\n")
    m = micro(args.tokens, args.repeat)
    v = revocation_micro(args.tokens, args.repeat, args.revocation_entries)
    lists = refresh_rows([int(n) for n in args.revocation_sizes.split(",")], ROOT)
    tenant_rows = tenant_report(
        [int(n) for n in args.tenant_sizes.split(",")],
        ROOT,
        min(args.tokens, 500),
        args.repeat,
        args.key_sets,
    )
    w = websocket_micro(args.tokens, args.repeat)
    hang_up = hang_up_latency(args.hang_up_samples)
    c = cold(args.cold_runs)
    r = memory(args.rss_tokens)
    s = local_stack(args.stack_requests)
    floor = m["floor"]

    def row(
        what: str, seconds: float, ratio: float | None, target: float | None = None, of: str = ""
    ) -> None:
        ratio_text = f"{ratio:6.2f}x" if ratio is not None else "       "
        print(
            f"| {what:<50} | {seconds * 1e6:9.1f} µs | {ratio_text} | {verdict(ratio, target, of)}"
        )

    print(f"| {'what':<50} | {'cost':>12} | {'ratio':>7} | target")
    print(f"|{'-' * 52}|{'-' * 14}|{'-' * 9}|-------")
    row("PyJWT jwt.decode, key known (the library floor)", floor, 1.0)
    row(
        "ours, fresh token, whole handler, INFO log + EMF",
        m["fresh"],
        m["fresh"] / floor,
        1.2,
    )
    row("ours, fresh token, whole handler, EMF, no log", m["fresh_quiet"], m["fresh_quiet"] / floor)
    row(
        "ours, fresh token, whole handler, no log, no EMF", m["fresh_bare"], m["fresh_bare"] / floor
    )
    log_cost = m["log_and_emf"] - m["emf_only"]
    emf_cost = m["emf_only"] - m["no_telemetry"]
    row("  per decision: log record (Lambda JSON format)", log_cost, log_cost / floor)
    row("  per decision: EMF metric line", emf_cost, emf_cost / floor)
    row(
        "  ours fresh, a second pool trusted / one pool",
        m["fresh_two_pools"],
        m["fresh_two_pools"] / m["fresh"],
        1.1,
        "of one pool",
    )
    row(
        "straightforward: get_unverified_header + decode",
        m["baseline"],
        m["baseline"] / floor,
    )
    row(
        "  ours fresh / straightforward",
        m["fresh"],
        m["fresh"] / m["baseline"],
        0.75,
    )
    row("  where ours goes: Cognito claim rules", m["claims"], m["claims"] / floor)
    row("raw RSA-2048 PKCS#1 v1.5 check", m["rsa"], m["rsa"] / floor)
    row(
        "ours, repeated token, TokenVerifier.verify / RSA",
        m["repeat_verify"],
        m["repeat_verify"] / m["rsa"],
        0.25,
        "of the RSA check",
    )
    row("ours, repeated token, handler, INFO log + EMF", m["repeat"], m["repeat"] / floor)
    row(
        f"revocation on ({args.revocation_entries} entries), fresh token",
        v["fresh_on"],
        v["fresh_on"] / v["fresh_off"],
        1.05,
        "of off",
    )
    row("  revocation off, fresh token (same run)", v["fresh_off"], None)
    row(
        "revocation on, repeated token",
        v["repeat_on"],
        v["repeat_on"] / v["repeat_off"],
        1.05,
        "of off",
    )
    row("  revocation off, repeated token (same run)", v["repeat_off"], None)
    row(
        "WebSocket $connect decision, fresh token",
        w["connect"],
        w["connect"] / w["http"],
        1.1,
        "of HTTP API",
    )
    row("  HTTP API decision, fresh token (same run)", w["http"], None)
    print(
        f"revocation to closed WebSocket connection (make run, {hang_up['samples']:.0f} "
        f"revocations): median {hang_up['median'] * 1000:.0f} ms, "
        f"max {hang_up['max'] * 1000:.0f} ms (bound: RevocationRefreshSeconds, 10 s by default)"
    )
    print()
    print(f"| {f'cold start (median of {args.cold_runs} fresh interpreters)':<50} | {'':>12} |")
    row("bare `import jwt`", c["import_jwt"], None)
    row(
        "`import authorizer.app` (baked keys)",
        c["import_ours"],
        c["import_ours"] / c["import_jwt"],
        1.15,
        "of import jwt",
    )
    row("first call after import", c["first_call"], c["first_call"] / floor)
    row(
        "`import authorizer.app`, revocation on",
        c["import_revoking"],
        c["import_revoking"] / c["import_jwt"],
    )
    row("first call after import, revocation on", c["first_call_revoking"], None)
    cold_off = c["import_ours"] + c["first_call"]
    cold_on = c["import_revoking"] + c["first_call_revoking"]
    row(
        REVOCATION_COLD_START_ROW,
        cold_on,
        cold_on / cold_off,
        REVOCATION_COLD_START_TARGET,
        "of off",
    )
    print(
        f"  the same in CPU time (less swayed by a busy machine): "
        f"{c['cpu_revoking'] * 1e3:.1f} ms / {c['cpu_ours'] * 1e3:.1f} ms = "
        f"{c['cpu_revoking'] / c['cpu_ours']:.2f}x"
    )
    print(
        f"  revocation on: botocore imported (no awscrt, no pyOpenSSL, as in Lambda), its client "
        f"made, one Query of a {REVOCATION_COLD_ENTRIES:,}-entry list over HTTP to a local stub"
    )
    print()
    print(
        f"| {'revocation on: where its cold start goes':<50} | {'cost':>9} | {'of off':>7} "
        f"| {'CPU time':>9} | {'of off':>7} |"
    )
    print(f"|{'-' * 52}|{'-' * 11}|{'-' * 9}|{'-' * 11}|{'-' * 9}|")

    def share(what: str, *steps: str) -> None:
        seconds = sum(c[step] for step in steps)
        cpu = sum(c["{}:cpu_{}".format(*step.rsplit(":", 1))] for step in steps)
        print(
            f"| {what:<50} | {seconds * 1e3:6.1f} ms | {seconds / cold_off:6.2f}x "
            f"| {cpu * 1e3:6.1f} ms | {cpu / c['cpu_ours']:6.2f}x |"
        )

    default, boto3 = f"phases:{coldstart.DEFAULT_LOADER}", f"phases:{coldstart.BOTO3}"
    share("SDK import (botocore.session)", "phases:ours:import")
    share("its DynamoDB client (ours)", "phases:ours:client")
    share(f"first read: one Query, {REVOCATION_COLD_ENTRIES:,} entries, parsed", "phases:ours:read")
    share("  the same read again (all but the one-off work)", "phases:ours:again")
    share("alternative: botocore's session as it comes, client", f"{default}:client")
    share("alternative: boto3, import + client", f"{boto3}:import", f"{boto3}:client")
    share("  ours, import + client (same runs)", "phases:ours:import", "phases:ours:client")
    share("alternative: list read on a thread, init + read", "overlap:thread:total")
    share("  the same in line", "overlap:inline:total")
    share("SnapStart restore: one Query of what changed", "phases:ours:restore")
    print(
        f"  imported on that cold start: requests {c['requests_imported']}, jwt {c['jwt_imported']}"
    )
    print()
    rss_mark = "met" if r["end"] < 50 else "MISSED"
    print(
        "| revocation list entries | full read (cold start) | refresh, nothing changed "
        "| sweep of expired | memory held | peak while read |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for entries, read in lists.items():
        print(
            f"| {entries:,} | {read['load'] * 1000:,.0f} ms ({read['pages']:.0f} pages) "
            f"| {read['refresh_unchanged'] * 1e6:,.0f} µs | {read['sweep'] * 1000:,.1f} ms "
            f"| {read['held'] / 2**20:,.1f} MiB | {read['peak'] / 2**20:,.1f} MiB |"
        )
    print(
        "  (botocore parsing pages of DynamoDB JSON held in memory, our parse and the "
        "dictionaries; network not included)"
    )
    print()
    print("\n".join(tenant_rows))
    print()
    print(
        f"RSS of the authorizer process: {r['start']:.1f} MB after import, {r['end']:.1f} MB after "
        f"{args.rss_tokens} distinct tokens (target < 50 MB: {rss_mark})"
    )
    print(
        f"local stack (make run, result cache off, {s['concurrency']} connections, "
        f"{s['sent']} mixed requests): {s['requestsPerSecond']} requests/s, "
        f"p50 {s['p50Ms']} ms, p99 {s['p99Ms']} ms, {s['wrong']} wrong decisions"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
