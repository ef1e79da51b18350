"""`make bench` rows for the tenant registry: a warm tenant's decision at registry sizes,
the registry's reads and memory, a tenant's first request, and key sets held.

The registry is read through a real botocore DynamoDB client whose HTTP layer
answers from memory with DynamoDB's own JSON (pages of at most 1 MB, as a
Query returns them), so botocore's parsing, ours and the dictionaries are
measured, not the network. Each size runs in a fresh interpreter, so one
size's memory never weighs on another's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from authorizer.tables.tenants import tenant_item
from bench.revocation import fresh_interpreter_rows

# An item as the reader projects it is about 330 bytes of DynamoDB item size.
ITEMS_PER_PAGE = 3_000


def tenant_pool(index: int) -> str:
    return f"eu-west-1_Tenant{index:07d}"


def registry_items(count: int, now: float) -> list[dict[str, Any]]:
    """``count`` active tenants, each with two clients and an attribute, written an hour ago."""
    return [
        tenant_item(
            f"tenant-{index:07d}",
            changed_at=now - 3600 + index / 1000,
            status="active",
            user_pool_id=tenant_pool(index),
            app_client_ids=[f"client{index}a", f"client{index}b"],
            attributes={"plan": "gold"},
        )
        for index in range(count)
    ]


def query_pages(count: int, now: float) -> list[bytes]:
    """The Query's answer pages for a registry of ``count`` tenants."""
    items = registry_items(count, now)
    pages = []
    for start in range(0, max(count, 1), ITEMS_PER_PAGE):
        chunk = items[start : start + ITEMS_PER_PAGE]
        page: dict[str, Any] = {"Items": chunk, "Count": len(chunk), "ScannedCount": len(chunk)}
        if start + ITEMS_PER_PAGE < count:
            page["LastEvaluatedKey"] = {"pk": chunk[-1]["pk"], "sk": chunk[-1]["sk"]}
        pages.append(json.dumps(page, separators=(",", ":")).encode())
    return pages


READ = """
import gc, json, logging, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from authorizer.tables.registry import TenantRegistry, dynamodb_query
from authorizer.verification.config import default_jwks_url
from bench.revocation import memory_client
from bench.tenants import query_pages

count, traced = int(sys.argv[2]), sys.argv[3] == "traced"
pages = query_pages(count, time.time())
page_count = len(pages)
served = {"pages": pages}
client = memory_client(served)
registry = TenantRegistry(
    dynamodb_query("t", client), key_url=default_jwks_url, refresh_seconds=10,
    max_stale_seconds=120, logger=logging.getLogger("bench"), clock=time.time, background=False,
)
gc.collect()
if traced:
    tracemalloc.start()
started = time.perf_counter()
assert registry.load() and len(registry) == count
out = {"load": time.perf_counter() - started, "pages": page_count}
if traced:
    del pages, served["pages"]
    gc.collect()
    held, peak = tracemalloc.get_traced_memory()
    out.update(held=held, peak=peak)
else:
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        registry._collect(registry._start(time.time(), inline=True), time.time())
        best = min(best, time.perf_counter() - started)
    out["refresh_unchanged"] = best
print(json.dumps(out))
"""


def read_rows(sizes: list[int], root: Path) -> dict[int, dict[str, float]]:
    """Per registry size: the full read (a cold start's), a refresh with nothing new, memory."""
    return fresh_interpreter_rows(READ, sizes, root)


DECIDE = """
import json, logging, os, sys, time
sys.path.insert(0, sys.argv[1])
from authorizer.api.handler import build_authorizer
from authorizer.verification.config import load_config
from bench.tenants import registry_items, tenant_pool
from local.lambdalog import install
from tests.forge import authorizer_event, claims, forged_key, jwks_body, sign

count, tokens, repeat = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
install()
key = forged_key()
body = jwks_body(key)
now = time.time()
items = registry_items(count, now)
warm = count // 2
pool = tenant_pool(warm)
iss = f"https://cognito-idp.eu-west-1.amazonaws.com/{pool}"
fetches = []

def fetch(url):
    fetches.append(url)
    return body

sink = open(os.devnull, "w")
stdout, sys.stdout = sys.stdout, sink
one_pool = build_authorizer(
    load_config({"USER_POOL_ID": "us-east-1_TestPool1", "APP_CLIENT_IDS": "testclient123"}),
    baked=os.devnull, fetch=fetch,
)
tenanted = build_authorizer(
    load_config({"TENANT_TABLE": "tenants"}), baked=os.devnull, fetch=fetch,
    tenant_query=lambda after: [i for i in items if i["sk"]["S"] > after],
)
static_events = [authorizer_event(sign(claims("id"))) for _ in range(tokens)]
tenant_events = [
    authorizer_event(sign(claims("id", iss=iss, aud=f"client{warm}a"))) for _ in range(tokens)
]
assert tenanted.handle(tenant_events[0])["isAuthorized"]
assert one_pool.handle(static_events[0])["isAuthorized"]
clock = time.perf_counter
costs = {}
for kind in ("fresh", "repeat"):
    mins = {side: [float("inf")] * tokens for side in ("one", "tenant")}
    for _ in range(repeat):
        for index in range(tokens):
            pair = (("one", one_pool, static_events), ("tenant", tenanted, tenant_events))
            for side, authorizer, events in pair if index % 2 else pair[::-1]:
                event = events[index] if kind == "fresh" else events[0]
                if kind == "fresh":
                    authorizer.verifier.forget_tokens()
                started = clock()
                answer = authorizer.handle(event)
                elapsed = clock() - started
                assert answer["isAuthorized"]
                if elapsed < mins[side][index]:
                    mins[side][index] = elapsed
    for side, values in mins.items():
        costs[f"{kind}_{side}"] = sum(values) / len(values)

# A tenant's first request: its key set made and fetched (from memory), then the decision.
first = []
for index in range(min(200, count)):
    tenant = tenant_pool(index)
    token = sign(claims("id", iss=f"https://cognito-idp.eu-west-1.amazonaws.com/{tenant}",
                        aud=f"client{index}a"))
    event = authorizer_event(token)
    if index == warm:
        continue
    started = clock()
    answer = tenanted.handle(event)
    first.append(clock() - started)
    assert answer["isAuthorized"]
costs["first_request"] = sorted(first)[len(first) // 2]
sys.stdout = stdout
print(json.dumps(costs))
"""


def decision_rows(sizes: list[int], root: Path, tokens: int, repeat: int) -> dict[int, Any]:
    """Per registry size: a warm tenant's decision vs a one-pool deploy's, and a first request."""
    rows = {}
    for count in sizes:
        done = subprocess.run(
            [sys.executable, "-c", DECIDE, str(root), str(count), str(tokens), str(repeat)],
            capture_output=True,
            text=True,
            check=True,
            cwd=root,
        )
        rows[count] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


KEY_SETS = """
import gc, json, logging, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from authorizer.verification.jwks import JwksCache
from authorizer.verification.keysets import KeySets
from tests.forge import forged_key, jwks_body

count = int(sys.argv[2])
# Two keys a set, as a Cognito pool serves them; one body, parsed anew into each set.
body = jwks_body(forged_key("one"), forged_key("two"))
logger = logging.getLogger("bench")
logger.disabled = True

def make(url):
    return JwksCache(url, cache_seconds=3600, miss_cooldown_seconds=10, logger=logger,
                     fetch=lambda _: body)

sets = KeySets(make, max_sets=count)
gc.collect()
tracemalloc.start()
for index in range(count):
    sets.get(f"https://keys.example/{index}").get_key("one")
gc.collect()
held, _ = tracemalloc.get_traced_memory()
print(json.dumps({"held": held, "sets": len(sets)}))
"""


def key_set_memory(count: int, root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", KEY_SETS, str(root), str(count)],
        capture_output=True,
        text=True,
        check=True,
    )
    measured: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return measured


def report(sizes: list[int], root: Path, tokens: int, repeat: int, key_sets: int) -> list[str]:
    """The rows ``make bench`` prints for the registry, each target marked."""
    from bench.run import verdict

    decisions = decision_rows(sizes, root, tokens, repeat)
    reads = read_rows(sizes, root)
    memory = key_set_memory(key_sets, root)
    lines = [
        "| registered tenants | warm tenant, fresh token / one pool | repeated token / one pool "
        "| a tenant's first request | full read (cold start) | refresh, nothing new "
        "| memory held | peak while read |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for count in sizes:
        d, r = decisions[count], reads[count]
        fresh = d["fresh_tenant"] / d["fresh_one"]
        repeat_ratio = d["repeat_tenant"] / d["repeat_one"]
        lines.append(
            f"| {count:,} | {fresh:.3f}x ({verdict(fresh, 1.05, 'of one pool')}) "
            f"| {repeat_ratio:.3f}x ({verdict(repeat_ratio, 1.05, 'of one pool')}) "
            f"| {d['first_request'] * 1e6:,.0f} µs "
            f"| {r['load'] * 1000:,.0f} ms ({r['pages']:.0f} pages) "
            f"| {r['refresh_unchanged'] * 1e6:,.0f} µs "
            f"| {r['held'] / 2**20:,.1f} MiB | {r['peak'] / 2**20:,.1f} MiB |"
        )
    per_set = memory["held"] / memory["sets"] / 1024
    lines.append(
        f"  key sets held: {memory['sets']:,.0f} sets of two keys, "
        f"{memory['held'] / 2**20:,.1f} MiB ({per_set:,.1f} KiB a set)"
    )
    lines.append(
        "  (a first request's key fetch answered from memory: add one HTTPS round trip "
        "to the pool's host; the reads: botocore parsing pages held in memory, no network)"
    )
    return lines
