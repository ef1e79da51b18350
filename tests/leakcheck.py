"""The window-based leak check: no 16-character piece of a token, its payload or signature in logs.

Shared by the log tests, the handler fuzz and the soak run. A log of a long
run is mostly the same decision line over and over; the check reads each
distinct line once (the per-line timestamp and latency ignored), so it stays
fast over tens of thousands of lines and thousands of distinct tokens.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable

WINDOW = 16  # any 16 characters of a secret in a log line count as a leak

# Members filled with a clock, a timer or a request id (Lambda's is a UUID, API
# Gateway's 16 base64 characters ending in "=", which no token segment has; the
# offline stack gives Lambda the API's id): never attacker text, and they would
# make every line distinct.
# The EMF directive ("_aws": namespace, dimension and metric names) is fixed text
# from the product's constants: a random token may contain a piece of it, as of
# any constant, but never puts it there.
_VOLATILE = re.compile(
    r'"_aws":\{.*?\}\]\}\]\},? ?'
    r'|"timestamp": ?"[0-9T:.Z-]*",? ?'
    r'|"(?:latencyMs|DecisionLatency|Timestamp)": ?[0-9.e+-]+,? ?'
    r'|"(?:apiRequestId|requestId)": ?"(?:[A-Za-z0-9+/]{15}=|'
    r'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",? ?'
)


def secrets_of(token: str) -> list[str]:
    """The token, its payload and signature segments, and the payload's unique claims."""
    parts = token.split(".")
    found = [token]
    found += [p for p in parts[1:] if len(p) >= WINDOW]  # payload and signature segments
    if len(parts) >= 2:
        try:
            body = json.loads(base64.urlsafe_b64decode(parts[1] + "=="))
        except (ValueError, RecursionError):
            return found
        if isinstance(body, dict):
            found += [str(body.get(k)) for k in ("jti", "origin_jti", "email") if body.get(k)]
    return found


def log_windows(log_text: str) -> set[str]:
    """Every WINDOW-character substring of the log's distinct lines."""
    windows: set[str] = set()
    for line in {_VOLATILE.sub("", line) for line in log_text.splitlines()}:
        windows.update(line[i : i + WINDOW] for i in range(len(line) - WINDOW + 1))
    return windows


def leaked_piece(secret: str, windows: set[str]) -> str | None:
    """A piece of ``secret`` that appears in the log, or None.

    A secret shorter than WINDOW (a made-up token such as "0") is not checked:
    it says nothing, and any log holds it by chance.
    """
    if len(secret) < WINDOW:
        return None
    if len(windows) * 4 < len(secret):  # a huge secret: look for the log's pieces in it
        return next((w for w in windows if w in secret), None)
    pieces = (secret[i : i + WINDOW] for i in range(len(secret) - WINDOW + 1))
    return next((p for p in pieces if p in windows), None)


def assert_clean(log_text: str, tokens: Iterable[str]) -> None:
    """The log holds decisions, and no piece of any token's secrets."""
    assert "authorization decision" in log_text  # we did capture the decisions
    windows = log_windows(log_text)
    for token in tokens:
        for secret in secrets_of(token):
            leaked = leaked_piece(secret, windows)
            assert leaked is None, f"log holds part of a token: {leaked!r}"
