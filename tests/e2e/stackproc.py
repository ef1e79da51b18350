"""Start ``python -m local run`` as a real process on free loopback ports, and read its output."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = Path(__file__).resolve().parent / "templates"
START_TIMEOUT_SECONDS = 30.0
# Set in the emulator's own environment: no function may see them.
PARENT_CANARIES = {
    "OFFLINE_PARENT_CANARY": "parent-only",
    "AWS_ACCESS_KEY_ID": "parent-credential-canary",
    "PYTHONPATH": "/parent/canary",
}
ACCESS_LINE = re.compile(
    r"^api\s+\| (?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) (?P<latency>[\d.]+)ms "
    r"authorizer=(?P<decision>\S+)(?P<cached> \(cached\))? route='(?P<route>[^']*)' "
    r"requestId=(?P<id>\S+)$"
)


@dataclass
class StackProcess:
    """A ``python -m local run`` child process, seen from a test: its output, state file, URLs."""

    process: subprocess.Popen[str]
    state_file: Path
    lines: list[str] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return str(self.state["apiUrl"])

    @property
    def cognito(self) -> dict[str, str]:
        return dict(self.state["cognito"])

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def access_line(self, request_id: str, timeout: float = 5.0) -> re.Match[str]:
        """The access line of one request, found by the apigw-requestid header API Gateway sets."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.output():
                found = ACCESS_LINE.match(line)
                if found and found["id"] == request_id:
                    return found
            time.sleep(0.01)
        raise AssertionError(f"no access line for request {request_id}")

    def wait_for_output(self, *texts: str, timeout: float = 5.0) -> str:
        """The output so far, once every one of ``texts`` is in it (the reader thread lags)."""
        deadline = time.monotonic() + timeout
        while True:
            output = "\n".join(self.output())
            if all(text in output for text in texts):
                return output
            if time.monotonic() >= deadline:
                missing = [text for text in texts if text not in output]
                raise AssertionError(f"not in the output after {timeout} s: {missing}")
            time.sleep(0.01)

    def decision_of(self, request_id: str, function: str = "AuthorizerFunction") -> dict[str, Any]:
        """The authorizer's decision for one request that invoked it.

        A function's log lines are printed before its request's access line, so
        this is the last decision line before that access line (the tests send
        one request at a time); a cached answer invoked nothing and fails here.
        """
        access = self.access_line(request_id)
        assert not access["cached"], f"request {request_id} was answered from the cache"
        lines = self.output()
        before = lines[: lines.index(access.string)]
        decisions = _decisions(line for line in before if line.startswith(f"{function} "))
        assert decisions, f"no {function} decision before the access line of {request_id}"
        return decisions[-1]

    def function_lines(self, function: str) -> list[str]:
        return [line for line in self.output() if line.startswith(f"{function} ")]

    def decisions(self, function: str = "AuthorizerFunction") -> list[dict[str, Any]]:
        """The authorizer's own decision log lines (one per invocation that decided)."""
        return _decisions(self.function_lines(function))

    def sign_in(self) -> dict[str, str]:
        """A fresh sign-in of the demo user, as a client does it: all three tokens.

        Waits for the next whole second first: a user entry revokes every token
        issued up to its second (iat has whole seconds), so a sign-in in the very
        second of a global sign-out is revoked too.
        """
        from local.cognito import cognito_client

        time.sleep(1.0 - time.time() % 1.0 + 0.01)
        pool = self.cognito
        result: dict[str, str] = cognito_client(pool["endpoint"]).initiate_auth(
            ClientId=pool["client_id"],
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": pool["username"], "PASSWORD": pool["password"]},
        )["AuthenticationResult"]
        return result

    def token(self, token_use: str = "id", pool: str = "1", tenant: str = "") -> str:
        result = subprocess.run(
            [sys.executable, "-m", "local", "token", "--state-file", str(self.state_file)],
            cwd=ROOT,
            env={**os.environ, "TOKEN_USE": token_use, "POOL": pool, "TENANT": tenant},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.strip().splitlines()[-1]

    def revoke(self, user: str = "brian") -> subprocess.CompletedProcess[str]:
        """``make -s revoke USER=<user> OFFLINE=1`` against this stack, as a user types it."""
        return subprocess.run(
            ["make", "-s", "revoke", f"USER={user}", "OFFLINE=1"],
            cwd=ROOT,
            env={**os.environ, "STATE_FILE": str(self.state_file)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 15)
        return requests.request(method, self.url + path, **kwargs)

    def stop(self) -> int:
        """Ctrl-C, as a user would; the exit status of a clean shutdown."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def _decisions(lines: Iterable[str]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        _, _, payload = line.partition("| ")
        try:
            record = json.loads(payload)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == "authorization decision":
            found.append(record)
    return found


def run_command(
    template: Path,
    state_file: Path,
    parameters: Mapping[str, str] | None,
    pools: int = 1,
    tenants: int = 0,
) -> list[str]:
    """`make run` as a command line: free loopback ports, this state file, these RUN_PARAMS."""
    command = [
        sys.executable,
        "-m",
        "local",
        "run",
        "--template",
        str(template),
        "--api-port",
        "0",
        "--cognito-port",
        "0",
        "--metrics-port",
        "0",
        "--connections-port",
        "0",
        "--state-file",
        str(state_file),
        "--pools",
        str(pools),
        "--tenants",
        str(tenants),
    ]
    if parameters:
        pairs = (f"{name}={shlex.quote(value)}" for name, value in parameters.items())
        command += ["--parameter-overrides", " ".join(pairs)]
    return command


def _die_with_the_test_process() -> None:
    """On Linux, the stack gets SIGTERM when the test process that started it dies.

    A killed pytest (a worker's timeout, a Ctrl-C twice) runs no fixture teardown; without
    this its stack would keep serving on its ports.
    """
    if sys.platform == "linux":
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_stack_process(
    tmp_dir: Path,
    template: Path,
    parameters: Mapping[str, str] | None = None,
    extra_env: Mapping[str, str] | None = None,
    pools: int = 1,
    tenants: int = 0,
) -> StackProcess:
    state_file = tmp_dir / "offline.json"
    process = subprocess.Popen(
        run_command(template, state_file, parameters, pools, tenants),
        cwd=ROOT,
        env={**os.environ, **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Runs between fork and exec: safe here, fixtures start stacks from the main thread.
        preexec_fn=_die_with_the_test_process,
    )
    offline = StackProcess(process=process, state_file=state_file)

    def collect() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with offline._lock:
                offline.lines.append(line.rstrip("\n"))

    threading.Thread(target=collect, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            offline.stop()
            output = "\n".join(offline.output())
            raise RuntimeError(f"the offline stack did not start:\n{output}")
        time.sleep(0.05)
    offline.state = json.loads(state_file.read_text(encoding="utf-8"))
    return offline
