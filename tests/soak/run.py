"""``make soak``: the offline stack under a bounded, mixed load sent from a second process.

1. Start the real offline stack (``python -m local run`` with template.yaml, on
   free loopback ports) with API Gateway's result cache off
   (``AuthorizerCacheTtlSeconds=0``), so every request with a token reaches the
   authorizer and is a decision to check.
2. Create several users in the local Cognito and log each one in; mint many
   more distinct tokens for them with the local Cognito's own signing key
   (moto's published test key), plus expired ones; forge tokens with foreign
   keys, a wrong ``alg`` or a tampered payload; make up garbage.
3. Run ``tests/soak/driver.py`` in its own process: a warm-up, then the
   measured run (a request count and a time limit, whichever ends first).
4. Sample the authorizer worker processes' RSS before, during and after;
   check every log line the stack printed for pieces of any token sent.

Exit status 0 only with zero wrong decisions, zero 5xx, zero transport
errors, no leak and RSS growth within bounds.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import random
import re
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jwt

from tests.e2e.stackproc import ROOT, StackProcess, start_stack_process
from tests.forge import b64url_json, forged_key, sign, sign_raw
from tests.leakcheck import assert_clean

AUTHORIZER_HANDLER: Final = "authorizer.app.lambda_handler"
EXTRA_USERS: Final = 4
SOAK_PASSWORD: Final = "Soak-Test-Passw0rd!"  # throwaway users in a throwaway local pool
# Shares of the traffic; the remainder is garbage.
SHARES: Final = {"valid": 0.50, "expired": 0.10, "forged": 0.12, "missing": 0.03}
RSS_SAMPLE_SECONDS: Final = 0.25
KIB: Final = 1024


@dataclass(frozen=True)
class User:
    username: str
    password: str
    sub: str
    email: str


@dataclass
class SoakResult:
    report: dict[str, Any]
    warmup: dict[str, Any]
    distinct_tokens: int
    rss_start_kib: dict[int, int]
    rss_late_kib: dict[int, int]  # three quarters of the way through
    rss_end_kib: dict[int, int]
    decisions_logged: int
    log_lines: int
    leak: str | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def rss_growth_kib(self, since: dict[int, int]) -> int:
        """The largest growth of one authorizer process present at both samples."""
        common = set(since) & set(self.rss_end_kib)
        return max((self.rss_end_kib[p] - since[p] for p in common), default=0)


# --- users and tokens --------------------------------------------------------------------


def cognito_client(endpoint: str) -> Any:
    from local.cognito import cognito_client as client

    return client(endpoint)


def create_users(cognito: dict[str, str], extra: int) -> list[User]:
    client = cognito_client(cognito["endpoint"])
    pool = cognito["user_pool_id"]
    names = [(cognito["username"], cognito["password"])]
    for i in range(1, extra + 1):
        username = f"soak-user-{i}"
        client.admin_create_user(
            UserPoolId=pool,
            Username=username,
            UserAttributes=[{"Name": "email", "Value": f"{username}@example.com"}],
            MessageAction="SUPPRESS",
        )
        client.admin_set_user_password(
            UserPoolId=pool, Username=username, Password=SOAK_PASSWORD, Permanent=True
        )
        names.append((username, SOAK_PASSWORD))
    users = []
    for username, password in names:
        attributes = {
            a["Name"]: a["Value"]
            for a in client.admin_get_user(UserPoolId=pool, Username=username)["UserAttributes"]
        }
        users.append(User(username, password, attributes["sub"], attributes.get("email", "")))
    return users


def login(cognito: dict[str, str], user: User) -> dict[str, str]:
    result = cognito_client(cognito["endpoint"]).initiate_auth(
        ClientId=cognito["client_id"],
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
    )["AuthenticationResult"]
    return {"id": result["IdToken"], "access": result["AccessToken"]}


def pool_signing_key() -> tuple[str, Any]:
    """The kid and private key the local Cognito (moto) signs every token with."""
    packed = resources.files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz")
    jwk = json.loads(gzip.decompress(packed.read_bytes()))
    return str(jwk["kid"]), jwt.PyJWK(jwk).key


@dataclass
class Minter:
    issuer: str
    client_id: str
    kid: str
    key: Any

    def claims(self, user: User, token_use: str, *, age: int = 0) -> dict[str, Any]:
        issued = int(time.time()) - age
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "sub": user.sub,
            "token_use": token_use,
            "iat": issued,
            "auth_time": issued,
            "exp": issued + 3600,
            "jti": str(uuid.uuid4()),
        }
        if token_use == "id":
            payload.update({"aud": self.client_id, "cognito:username": user.username})
            if user.email:
                payload["email"] = user.email
        else:
            payload.update(
                {
                    "client_id": self.client_id,
                    "username": user.username,
                    "scope": "aws.cognito.signin.user.admin",
                }
            )
        return payload

    def sign(self, payload: dict[str, Any]) -> str:
        return jwt.encode(payload, self.key, algorithm="RS256", headers={"kid": self.kid})


def valid_case(user: User, token: str, index: int) -> dict[str, Any]:
    if index % 2:
        first, last = "Soak", f"Run{index}"
        return {
            "kind": "valid",
            "method": "POST",
            "token": token,
            "body": {"firstName": first, "lastName": last},
            "expect": 200,
            "sub": user.sub,
            "username": user.username,
            "message": f"Hello {first} {last}",
        }
    return {
        "kind": "valid",
        "method": "GET",
        "token": token,
        "expect": 200,
        "sub": user.sub,
        "username": user.username,
        "message": f"Hello {user.username}",
    }


def denied_case(kind: str, token: str | None, index: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "method": "POST" if index % 2 else "GET",
        "token": token,
        "body": {"firstName": "Mallory", "lastName": "Intruder"},
        "expect": 401 if token is None else 403,
    }


GARBAGE_ALPHABET: Final = string.ascii_letters + string.digits + "-_.~+/=!#$%&*"


def garbage(rng: random.Random) -> str:
    shape = rng.randrange(4)
    if shape == 0:  # three made-up base64url segments
        alphabet = string.ascii_letters + string.digits + "-_"
        return ".".join("".join(rng.choices(alphabet, k=rng.randint(1, 400))) for _ in range(3))
    if shape == 1:  # a real-looking header with junk after it
        return "eyJhbGciOiJSUzI1NiIsImtpZCI6ImR1bW15In0." + "".join(
            rng.choices(GARBAGE_ALPHABET, k=rng.randint(10, 600))
        )
    if shape == 2:  # long junk
        return "".join(rng.choices(GARBAGE_ALPHABET, k=rng.randint(1000, 4000)))
    return "".join(rng.choices(GARBAGE_ALPHABET, k=rng.randint(1, 60)))


def forged(minter: Minter, user: User, rng: random.Random) -> str:
    payload = minter.claims(user, rng.choice(["id", "access"]))
    shape = rng.randrange(5)
    if shape == 0:  # a foreign key under the pool's kid
        return sign(payload, forged_key("soak-impostor"), kid=minter.kid)
    if shape == 1:  # a foreign key under a kid the pool never had
        return sign(payload, forged_key("soak-unknown"))
    if shape == 2:  # no signature at all
        return sign_raw({"alg": "none", "kid": minter.kid}, payload, lambda _data: b"")
    if shape == 3:  # a real signature over someone else's claims
        header, _, signature = minter.sign(payload).split(".")
        return f"{header}.{b64url_json({**payload, 'sub': 'someone-else'})}.{signature}"
    # the right key, the wrong audience
    return minter.sign({**payload, "aud": "stranger", "client_id": "stranger"})


def build_cases(
    minter: Minter,
    users: list[User],
    logins: list[dict[str, str]],
    count: int,
    distinct_valid: int,
    seed: int,
) -> list[dict[str, Any]]:
    """``count`` cases in a shuffled order; valid tokens cycle through a distinct pool."""
    rng = random.Random(seed)
    pool: list[tuple[User, str]] = [
        (user, tokens[use]) for user, tokens in zip(users, logins, strict=True) for use in tokens
    ]
    while len(pool) < distinct_valid:
        user = users[len(pool) % len(users)]
        pool.append((user, minter.sign(minter.claims(user, rng.choice(["id", "access"])))))
    expired = [
        minter.sign(minter.claims(users[i % len(users)], "id", age=7200 + i))
        for i in range(max(1, min(200, count // 20)))
    ]
    forgeries = [
        forged(minter, rng.choice(users), rng) for _ in range(max(1, min(500, count // 10)))
    ]

    cases = []
    for index in range(count):
        roll = rng.random()
        if roll < SHARES["valid"]:
            user, token = pool[index % len(pool)]
            cases.append(valid_case(user, token, index))
        elif roll < SHARES["valid"] + SHARES["expired"]:
            cases.append(denied_case("expired", expired[index % len(expired)], index))
        elif roll < SHARES["valid"] + SHARES["expired"] + SHARES["forged"]:
            cases.append(denied_case("forged", forgeries[index % len(forgeries)], index))
        elif roll < sum(SHARES.values()):
            cases.append(denied_case("missing", None, index))
        else:
            cases.append(denied_case("garbage", garbage(rng), index))
    return cases


# --- the authorizer's processes ----------------------------------------------------------


def authorizer_processes(stack_pid: int) -> list[int]:
    """The offline authorizer's execution environments: children of the stack process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == stack_pid and AUTHORIZER_HANDLER.encode() in cmdline:
            found.append(int(entry.name))
    return sorted(found)


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_of(stack_pid: int) -> dict[int, int]:
    sizes = {pid: rss_kib(pid) for pid in authorizer_processes(stack_pid)}
    return {pid: size for pid, size in sizes.items() if size is not None}


class RssSampler:
    """Samples the authorizer processes' RSS in the background while the load runs."""

    def __init__(self, stack_pid: int) -> None:
        self._stack_pid = stack_pid
        self._stop = threading.Event()
        self.samples: list[tuple[float, dict[int, int]]] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.samples.append((time.monotonic(), rss_of(self._stack_pid)))

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def at(self, fraction: float) -> dict[int, int]:
        """The sample taken ``fraction`` of the way through the run."""
        if not self.samples:
            return {}
        return self.samples[min(len(self.samples) - 1, int(len(self.samples) * fraction))][1]


# --- running it ------------------------------------------------------------------------


def run_driver(plan: dict[str, Any], workdir: Path, name: str) -> dict[str, Any]:
    """The driver in its own process; the plan (it holds tokens) stays private to this user."""
    path = workdir / f"{name}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(plan, handle)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.soak.driver", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=plan["seconds"] + 60,
            check=False,
        )
    finally:
        path.unlink()
    if done.returncode != 0:
        raise RuntimeError(f"the soak driver failed ({done.returncode}): {done.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


_ACCESS_VOLATILE = re.compile(r" [\d.]+ms | requestId=\S+")


def normalised_log(lines: list[str]) -> str:
    """The stack's output with the per-request timing and request ids of access lines removed."""
    return "\n".join(
        _ACCESS_VOLATILE.sub(" ", line) if line.startswith("api ") else line for line in lines
    )


def decision_count(lines: list[str]) -> int:
    return sum(
        1
        for line in lines
        if line.startswith("AuthorizerFunction ") and '"message": "authorization decision"' in line
    )


@contextlib.contextmanager
def offline_stack(workdir: Path) -> Iterator[StackProcess]:
    offline = start_stack_process(
        workdir, ROOT / "template.yaml", parameters={"AuthorizerCacheTtlSeconds": "0"}
    )
    try:
        yield offline
    finally:
        offline.stop()


def soak(
    *,
    requests: int,
    seconds: float,
    concurrency: int,
    distinct_valid: int,
    warmup: int,
    seed: int = 5,
    max_growth_kib: int,
    max_late_growth_kib: int | None = None,
    log: Callable[[str], None] = lambda _line: None,
) -> SoakResult:
    """The whole run; ``problems`` in the result say what failed, if anything."""
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp, offline_stack(Path(tmp)) as offline:
        workdir = Path(tmp)
        cognito = offline.cognito
        users = create_users(cognito, EXTRA_USERS)
        logins = [login(cognito, user) for user in users]
        first = jwt.decode(logins[0]["id"], options={"verify_signature": False})
        kid, key = pool_signing_key()
        minter = Minter(first["iss"], cognito["client_id"], kid, key)
        log(f"minting tokens for {len(users)} users ...")
        cases = build_cases(minter, users, logins, requests, distinct_valid, seed)
        valid = [c for c in cases if c["kind"] == "valid"]
        plan = {"url": offline.url, "concurrency": concurrency}

        log(f"warm-up: {warmup} requests ...")
        warm = run_driver(
            {**plan, "requests": warmup, "seconds": max(10.0, seconds / 4), "cases": valid},
            workdir,
            "warmup",
        )
        rss_start = rss_of(offline.process.pid)
        log(f"measured run: up to {requests} requests or {seconds:.0f} s ...")
        with RssSampler(offline.process.pid) as sampler:
            report = run_driver(
                {**plan, "requests": requests, "seconds": seconds, "cases": cases},
                workdir,
                "run",
            )
        rss_end = rss_of(offline.process.pid)
        time.sleep(0.5)  # let the stack's last output lines arrive
        lines = offline.output()

    result = SoakResult(
        report=report,
        warmup=warm,
        distinct_tokens=len({c["token"] for c in cases if c["token"]}),
        rss_start_kib=rss_start,
        rss_late_kib=sampler.at(0.75),
        rss_end_kib=rss_end,
        decisions_logged=decision_count(lines),
        log_lines=len(lines),
    )
    tokens = {c["token"] for c in cases + valid if c["token"]}
    try:
        assert_clean(normalised_log(lines), tokens)
    except AssertionError as err:
        result.leak = str(err)
    for run in (warm, report):
        if run["wrong"]:
            result.problems.append(f"{run['wrong']} wrong decisions: {run['wrongExamples']}")
        if run["status5xx"]:
            result.problems.append(f"{run['status5xx']} answers were 5xx")
        if run["transportErrors"]:
            result.problems.append(f"transport errors: {run['transportErrors']}")
    if result.leak:
        result.problems.append(result.leak)
    if not rss_start or not rss_end:
        result.problems.append("could not read the authorizer processes' RSS (/proc)")
    elif result.rss_growth_kib(rss_start) > max_growth_kib:
        result.problems.append(
            f"authorizer RSS grew by {result.rss_growth_kib(rss_start)} KiB "
            f"(bound {max_growth_kib} KiB)"
        )
    late = result.rss_growth_kib(result.rss_late_kib)
    if max_late_growth_kib is not None and late > max_late_growth_kib:
        # Every cache is bounded: once they are full, distinct tokens must not cost memory.
        result.problems.append(
            f"authorizer RSS still grew by {late} KiB in the last quarter "
            f"(bound {max_late_growth_kib} KiB)"
        )
    return result


def summary(result: SoakResult) -> str:
    r = result.report

    def mib(sizes: dict[int, int]) -> str:
        return ", ".join(f"pid {p}: {k / KIB:.1f} MiB" for p, k in sorted(sizes.items())) or "-"

    return "\n".join(
        [
            f"requests sent           {r['sent']} in {r['seconds']} s "
            f"({r['concurrency']} connections), after {result.warmup['sent']} warm-up",
            f"decisions checked       {r['checked']} (+{result.warmup['checked']} warm-up); "
            f"authorizer decision lines logged {result.decisions_logged}",
            f"by kind                 {r['byKind']}",
            f"by status               {r['byStatus']}",
            f"wrong decisions         {r['wrong']} (warm-up {result.warmup['wrong']})",
            f"5xx answers             {r['status5xx']} (warm-up {result.warmup['status5xx']})",
            f"transport errors        {r['transportErrors'] or 0}",
            f"requests per second     {r['requestsPerSecond']}",
            f"latency                 p50 {r['p50Ms']} ms, p99 {r['p99Ms']} ms, "
            f"max {r['maxMs']} ms",
            f"distinct tokens sent    {result.distinct_tokens}",
            f"authorizer RSS start    {mib(result.rss_start_kib)}",
            f"authorizer RSS at 3/4   {mib(result.rss_late_kib)}",
            f"authorizer RSS end      {mib(result.rss_end_kib)}",
            f"RSS growth (max/proc)   {result.rss_growth_kib(result.rss_start_kib)} KiB overall, "
            f"{result.rss_growth_kib(result.rss_late_kib)} KiB in the last quarter",
            f"log lines checked       {result.log_lines}, leak: {result.leak or 'none'}",
            "result                  "
            + ("OK" if result.ok else "FAILED: " + "; ".join(result.problems)),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Enough distinct valid tokens to fill every worker's verified-token cache (2,048)
    # well before the last quarter, where RSS must then stay flat.
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=75.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--distinct-valid", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--max-growth-mib", type=float, default=16.0)
    parser.add_argument("--max-late-growth-mib", type=float, default=2.0)
    parser.add_argument("--json", action="store_true", help="also print the raw reports as JSON")
    args = parser.parse_args(argv)
    result = soak(
        requests=args.requests,
        seconds=args.seconds,
        concurrency=args.concurrency,
        distinct_valid=args.distinct_valid,
        warmup=args.warmup,
        max_growth_kib=int(args.max_growth_mib * KIB),
        max_late_growth_kib=int(args.max_late_growth_mib * KIB),
        log=lambda line: print(line, flush=True),
    )
    print(summary(result))
    if args.json:
        print(json.dumps({"run": result.report, "warmup": result.warmup}))
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
