"""The walkthrough docs/websocket.md shows, run with a real WebSocket client against ``make run``.

``python -m tests.e2e.websocket_walkthrough [STATE_FILE]`` (while ``make run
API=websocket RUN_PARAMS="Revocation=true"`` runs) prints the transcript the
page records: what each connection attempt got, what the ``hello`` route
answered, and when the sign-out closed the open connection. tests/e2e/
test_websocket.py runs it too and checks the page still shows its lines.
The demo user's ``sub`` is shown as ``<sub>``; no token is printed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
HELLO = {"action": "hello", "firstName": "Brian", "lastName": "Morrison"}


def _attempt(address: str) -> str:
    try:
        with connect(address, open_timeout=15):
            pass
    except InvalidStatus as err:
        body = bytes(err.response.body or b"").decode()
        return f"HTTP {err.response.status_code} {body}"
    return "connected"


def walkthrough(state_file: Path) -> list[str]:
    state = json.loads(state_file.read_text(encoding="utf-8"))
    url = f"{state['apiUrl']}/prod"
    shown: list[str] = []
    env = {**os.environ, "STATE_FILE": str(state_file)}

    def token() -> str:
        made = subprocess.run(
            [sys.executable, "-m", "local", "token", "--state-file", str(state_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return made.stdout.strip().splitlines()[-1]

    shown += [f"$ connect {url}", _attempt(url)]
    valid = token()
    header, payload, signature = valid.split(".")
    forged = f"{header}.{payload}.{signature[:-8]}AAAAAAAA"
    shown += [
        f"$ connect {url}?token=$FORGED   # a valid token, its signature altered",
        _attempt(f"{url}?token={forged}"),
        f"$ connect {url}?token=$TOKEN",
    ]
    with connect(f"{url}?token={valid}", open_timeout=15) as socket:
        shown.append("connected")
        for message in (HELLO, {"action": "shout"}):
            text = json.dumps(message)
            socket.send(text)
            answer = socket.recv(timeout=15)
            shown += [f"> {text}", f"< {answer if isinstance(answer, str) else answer.decode()}"]
        shown += ["# meanwhile, in another terminal:", "$ make -s revoke USER=brian OFFLINE=1"]
        started = time.monotonic()
        done = subprocess.run(
            ["make", "-s", "revoke", "USER=brian", "OFFLINE=1"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        shown.append(done.stdout.strip())
        try:
            while True:
                socket.recv(timeout=30)
        except ConnectionClosed as closed:
            took = time.monotonic() - started
            code = closed.rcvd.code if closed.rcvd is not None else None
            shown.append(f"closed by the server: {code}, {took:.1f} s after make revoke started")
    sub = json.loads(base64.urlsafe_b64decode(payload + "=="))["sub"]
    return [
        re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "<time>", line.replace(sub, "<sub>"))
        for line in shown
    ]


def main() -> int:
    state_file = Path(sys.argv[1] if len(sys.argv) > 1 else ".local-state/stack.json")
    for line in walkthrough(state_file):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
