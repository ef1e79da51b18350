"""The soak load generator: its own process; sends a plan's requests and checks each answer.

Run as ``python -m tests.soak.driver PLAN.json`` (``tests/soak/run.py`` does
this). The plan names the API URL, the budget (a request count AND a time
limit, whichever ends first), the number of concurrent connections and the
cases: each a token (or none) with the answer API Gateway must give. It
prints one JSON report on stdout, which never holds a token.
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import requests

REQUEST_TIMEOUT_SECONDS: Final = 15.0
MAX_EXAMPLES: Final = 10  # wrong answers described in the report


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    wrong: list[dict[str, Any]] = field(default_factory=list)
    wrong_count: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def verdict(case: dict[str, Any], status: int, body: Any) -> str | None:
    """None if the answer is right for the case, else what is wrong (no token in it)."""
    if status != case["expect"]:
        return f"status {status}, expected {case['expect']}"
    if status != 200:
        return None
    if not isinstance(body, dict):
        return "allowed, but the body is not a JSON object"
    if (body.get("sub"), body.get("username")) != (case["sub"], case["username"]):
        return "allowed as someone else"  # the worst wrong decision of all
    if body.get("message") != case["message"]:
        return "allowed, but the greeting is wrong"
    return None


def send(session: requests.Session, url: str, case: dict[str, Any]) -> tuple[int, Any]:
    headers = {} if case["token"] is None else {"Authorization": f"Bearer {case['token']}"}
    if case["method"] == "POST":
        response = session.post(
            url, json=case["body"], headers=headers, timeout=REQUEST_TIMEOUT_SECONDS
        )
    else:
        response = session.get(url, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        body = response.json()
    except ValueError:
        body = None
    return response.status_code, body


def drive(plan: dict[str, Any]) -> dict[str, Any]:
    cases: list[dict[str, Any]] = plan["cases"]
    url = plan["url"].rstrip("/") + "/hello"
    budget: int = plan["requests"]
    deadline = time.monotonic() + plan["seconds"]
    counter = itertools.count()
    tallies = [Tally() for _ in range(plan["concurrency"])]

    def worker(tally: Tally) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                index = next(counter)  # atomic under the GIL
                if index >= budget:
                    return
                case = cases[index % len(cases)]
                started = time.perf_counter()
                try:
                    status, body = send(session, url, case)
                except requests.RequestException as err:
                    tally.errors[type(err).__name__] += 1
                    status, body = 0, None
                tally.latencies_ms.append((time.perf_counter() - started) * 1000)
                tally.statuses[status] += 1
                tally.kinds[case["kind"]] += 1
                problem = verdict(case, status, body)
                if problem is not None:
                    tally.wrong_count += 1
                    if len(tally.wrong) < MAX_EXAMPLES:
                        tally.wrong.append({"kind": case["kind"], "problem": problem})

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in tallies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(plan["seconds"] + REQUEST_TIMEOUT_SECONDS + 5)
    elapsed = time.monotonic() - started

    latencies = sorted(ms for t in tallies for ms in t.latencies_ms)
    statuses: Counter[int] = sum((t.statuses for t in tallies), Counter())
    sent = len(latencies)
    return {
        "sent": sent,
        "checked": sent,
        "wrong": sum(t.wrong_count for t in tallies),
        "wrongExamples": [w for t in tallies for w in t.wrong][:MAX_EXAMPLES],
        "status5xx": sum(n for status, n in statuses.items() if status >= 500),
        "transportErrors": dict(sum((t.errors for t in tallies), Counter())),
        "byStatus": {str(k): v for k, v in sorted(statuses.items())},
        "byKind": dict(sorted(sum((t.kinds for t in tallies), Counter()).items())),
        "concurrency": plan["concurrency"],
        "seconds": round(elapsed, 3),
        "requestsPerSecond": round(sent / elapsed, 1) if elapsed else 0.0,
        "p50Ms": round(percentile(latencies, 50), 2),
        "p99Ms": round(percentile(latencies, 99), 2),
        "maxMs": round(latencies[-1], 2) if latencies else 0.0,
        "meanMs": round(statistics.fmean(latencies), 2) if latencies else 0.0,
    }


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * pct // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.soak.driver PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    print(json.dumps(drive(plan)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
