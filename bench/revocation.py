"""`make bench` rows for revocation: decision cost on vs off, list reads and memory, cold start.

The list reads go through a real botocore DynamoDB client whose HTTP layer
answers from memory with DynamoDB's own JSON (pages of at most 1 MB, as a
Query returns them), so botocore's parsing, ours and the dictionaries are
measured, not the network. The cold-start rows talk HTTP to a local stub of
DynamoDB's Query, as a deployed cold start talks to DynamoDB.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from authorizer.tables.revocation import FAMILY, USER, sort_key

EMPTY_PAGE = b'{"Items":[],"Count":0,"ScannedCount":0}'
# DynamoDB stops a Query page at 1 MB of items; an item as the reader projects
# it (sk, expiresAt) is about 75 bytes of DynamoDB item size.
ITEMS_PER_PAGE = 13_000


def projected_items(count: int, now: float) -> Iterator[str]:
    """``count`` items as DynamoDB's JSON, half families, half users, all still valid."""
    for index in range(count):
        kind = FAMILY if index % 2 else USER
        revoked_at = now - 3600 + index / 1000
        key = sort_key(kind, str(uuid.UUID(int=index, version=4)), revoked_at)
        yield f'{{"sk":{{"S":"{key}"}},"expiresAt":{{"N":"{int(now) + 86400}"}}}}'


def query_pages(count: int, now: float) -> list[bytes]:
    """The Query's answer pages for a table of ``count`` items."""
    items = list(projected_items(count, now))
    pages = []
    for start in range(0, max(count, 1), ITEMS_PER_PAGE):
        chunk = items[start : start + ITEMS_PER_PAGE]
        last = ""
        if start + ITEMS_PER_PAGE < count:
            key = json.loads(chunk[-1])["sk"]["S"]
            last = f',"LastEvaluatedKey":{{"pk":{{"S":"revoked"}},"sk":{{"S":"{key}"}}}}'
        pages.append(
            f'{{"Items":[{",".join(chunk)}],"Count":{len(chunk)},"ScannedCount":{len(chunk)}{last}}}'.encode()
        )
    return pages


def memory_client(served: dict[str, list[bytes]]) -> Any:
    """botocore's DynamoDB client, its Query answered from memory: the next of
    ``served["pages"]``, then empty pages. Its first call (the service model's load, not
    part of a read) is made here, so what follows measures botocore's parsing and ours."""
    import botocore.session
    from botocore.awsrequest import AWSResponse

    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Iterator[bytes]:
            yield self.body

    respond: Any = AWSResponse  # its stubs want HTTPHeaders; a plain dict is what it reads

    def answer(request: Any, **_: Any) -> Any:
        body = served["pages"].pop(0) if served["pages"] else EMPTY_PAGE
        return respond(request.url, 200, {}, Raw(body))

    client: Any = botocore.session.get_session().create_client(
        "dynamodb",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",  # noqa: S106 - answered from memory: never sent anywhere
    )
    client.meta.events.register("before-send.dynamodb.Query", answer)
    held, served["pages"] = served["pages"], []
    client.query(
        TableName="warm-up",
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "warm-up"}},
    )
    served["pages"] = held
    return client


REFRESH = """
import gc, json, logging, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from authorizer.tables.revocation_list import RevocationList, dynamodb_query
from bench.revocation import memory_client, query_pages

count, traced = int(sys.argv[2]), sys.argv[3] == "traced"
now = time.time()
pages = query_pages(count, now)
page_count = len(pages)
served = {"pages": pages}
client = memory_client(served)
revocations = RevocationList(
    dynamodb_query("t", client), refresh_seconds=10, max_stale_seconds=120,
    logger=logging.getLogger("bench"), clock=time.time, background=False,
)
gc.collect()
if traced:
    tracemalloc.start()
started = time.perf_counter()
assert revocations.load() and len(revocations) == count
load = time.perf_counter() - started
out = {"load": load, "pages": page_count}
if traced:
    del pages, served["pages"]
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    out.update(held=held, peak=peak)
else:
    # A steady-state refresh: nothing changed (one empty page), the list as it is.
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        revocations._start(time.time(), inline=True)
        best = min(best, time.perf_counter() - started)
    out["refresh_unchanged"] = best
    started = time.perf_counter()
    revocations.ledger.sweep(time.time())()
    out["sweep"] = time.perf_counter() - started
print(json.dumps(out))
"""


def refresh_rows(sizes: list[int], root: Path) -> dict[int, dict[str, float]]:
    """Per list size: the full read (a cold start's), a steady refresh, a sweep, memory held."""
    return fresh_interpreter_rows(REFRESH, sizes, root)


def fresh_interpreter_rows(
    script: str, sizes: list[int], root: Path
) -> dict[int, dict[str, float]]:
    """Per size, ``script`` run in a fresh interpreter twice: its figures timed, and the memory
    it held and peaked at traced (so one size's memory never weighs on another's)."""
    rows = {}
    for count in sizes:
        timed, traced = (
            json.loads(
                subprocess.run(
                    [sys.executable, "-c", script, str(root), str(count), mode],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )
            for mode in ("timed", "traced")
        )
        rows[count] = {**timed, "held": traced["held"], "peak": traced["peak"]}
    return rows


def decision_costs(
    build: Callable[[dict[str, str], Any], Any],
    events: list[dict[str, Any]],
    entries: int,
    repeat: int,
) -> dict[str, float]:
    """Seconds per decision, fresh and repeated tokens, revocation off and on.

    ``build(env_overrides, revocation_query)`` makes an authorizer as the
    bench makes its own. The list holds ``entries`` revocations of other
    users and families, so every decision looks both up and allows. The two
    are timed call by call, alternately, and each call's best of ``repeat``
    counts: on a shared machine a burst of load then slows neither side alone.
    """
    now = time.time()
    items = [json.loads(item) for item in projected_items(entries, now)]

    def table(after: str) -> list[dict[str, Any]]:
        return [item for item in items if item["sk"]["S"] > after]

    off = build({}, None)
    on = build({"REVOCATION_TABLE": "revocations"}, table)
    assert len(on.verifier.revocations) == entries
    clock = time.perf_counter
    costs: dict[str, list[float]] = {}
    for kind in ("fresh", "repeat"):
        mins = {side: [float("inf")] * len(events) for side in ("off", "on")}
        for _ in range(repeat):
            for index, event in enumerate(events):
                pair = (("off", off), ("on", on))
                # Each side goes first every other call: neither gains by its place.
                for side, authorizer in pair if index % 2 else pair[::-1]:
                    if kind == "fresh":
                        authorizer.verifier.forget_tokens()
                    else:
                        event = events[0]
                    started = clock()
                    answer = authorizer.handle(event)
                    elapsed = clock() - started
                    if elapsed < mins[side][index]:
                        mins[side][index] = elapsed
                    assert answer["isAuthorized"]
        costs.update({f"{kind}_{side}": values for side, values in mins.items()})
    return {name: sum(values) / len(values) for name, values in costs.items()}


class _QueryStub(http.server.BaseHTTPRequestHandler):
    """DynamoDB's Query over HTTP: one page of a small list, or nothing when nothing is newer.

    Every item of the list was written before the stub started, so a Query
    whose cursor is later (a refresh, a SnapStart restore's first one) gets
    the empty page DynamoDB would give.
    """

    body = b""
    newest = ""

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        after = request["ExpressionAttributeValues"][":cursor"]["S"]
        body = self.body if after < self.newest else EMPTY_PAGE
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.0")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def dynamodb_stub(entries: int) -> Iterator[dict[str, str]]:
    """A local DynamoDB Query endpoint; yields the environment that points the SDK at it."""
    [page] = query_pages(entries, time.time())
    newest = max(item["sk"]["S"] for item in json.loads(page)["Items"])
    handler = type("Stub", (_QueryStub,), {"body": page, "newest": newest})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {
            "REVOCATION_TABLE": "revocations",
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{server.server_address[1]}",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",  # what botocore reads; Lambda sets both
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
        }
    finally:
        server.shutdown()
        server.server_close()
