"""`make bench` rows for a cold start with revocation on: where its extra time goes, and the
alternatives measured against it.

Each row is timed in fresh interpreters on the artifact-like copy, against the
local DynamoDB stub (bench/revocation.py), alternated with the other rows so a
slow spell of this machine weighs on all of them. The SDK is the runtime's
(here the venv's; Lambda's runtime ships boto3 and botocore): never copied.

- phases: what the authorizer has imported when it reaches the SDK is loaded
  first; then the SDK's import, its DynamoDB client and the first read of the
  list are timed one after the other, as the cold start runs them. The client
  is made three ways: ours (``authorizer.tables.mirror``), botocore's
  session as it comes (what ours was before its data loader was made cheaper),
  and boto3's ``boto3.client``. The same read is then timed again: the difference
  is what the first Query pays once (endpoint rules, shapes, the connection).
- restore: what a SnapStart restore pays for revocation: the SDK, the client
  and the list are in memory, the sockets are not, and the first decision
  waits for one Query of what changed since (nothing, here).
- overlap: the list read on a thread started before the authorizer's own
  imports, joined before the first decision, against the same work in line.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from functools import partial
from typing import Any

# The ways of making the client that the phase rows compare.
OURS = "ours"
DEFAULT_LOADER = "botocore-default-loader"
BOTO3 = "boto3"
CLIENT_VARIANTS = (OURS, DEFAULT_LOADER, BOTO3)

PHASES = """
import importlib, json, logging, os, sys, time, traceback
variant, table = sys.argv[1], os.environ["REVOCATION_TABLE"]
# Loaded before the SDK on a revocation-on cold start: the authorizer itself.
import authorizer.api.handler
from authorizer.tables import mirror, revocation_list
from authorizer.tables.revocation import cursor
marks = [("start", time.perf_counter(), time.process_time())]

def done(step):  # each step's wall and CPU time, since the step before it
    marks.append((step, time.perf_counter(), time.process_time()))

if variant == "boto3":
    import boto3
import botocore.session
from botocore.config import Config
done("import")
if variant == "ours":
    client = mirror._client(table)
else:
    config = Config(
        connect_timeout=mirror.CONNECT_TIMEOUT_SECONDS,
        read_timeout=mirror.READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": mirror.MAX_ATTEMPTS, "mode": "standard"},
    )
    if variant == "boto3":
        client = boto3.client("dynamodb", config=config)
    else:
        client = botocore.session.get_session().create_client("dynamodb", config=config)
done("client")

def read_list():
    revocations = revocation_list.RevocationList(
        revocation_list.dynamodb_query(table, client), refresh_seconds=10, max_stale_seconds=120,
        logger=logging.getLogger("bench"), clock=time.time, background=False,
    )
    assert revocations.load()
    return revocations

revocations = read_list()
done("read")
# The same read again: what the first one paid once (endpoint rules, shapes, a connection).
read_list()
done("again")
client.close()  # a restored snapshot has the client, not its sockets
assert not list(revocation_list.dynamodb_query(table, client)(cursor(time.time())))
done("restore")
out = {"entries": len(revocations)}
for (_, wall, cpu), (step, wall_after, cpu_after) in zip(marks, marks[1:]):
    out[step], out["cpu_" + step] = wall_after - wall, cpu_after - cpu
print(json.dumps(out))
"""

OVERLAP = """
import importlib, json, logging, os, sys, threading, time, traceback
threaded = sys.argv[1] == "thread"
table = os.environ.pop("REVOCATION_TABLE")  # the authorizer is built without; the list is read here
clock = time.perf_counter

def read_list():
    from authorizer.tables.revocation_list import RevocationList, dynamodb_query
    revocations = RevocationList(
        dynamodb_query(table), refresh_seconds=10, max_stale_seconds=120,
        logger=logging.getLogger("bench"), clock=time.time, background=False,
    )
    assert revocations.load()

started, cpu = clock(), time.process_time()
if threaded:
    thread = threading.Thread(target=read_list)
    thread.start()
import authorizer.app
if threaded:
    thread.join()
else:
    read_list()
print(json.dumps({"total": clock() - started, "cpu_total": time.process_time() - cpu}))
"""


def runs(
    run: Callable[[str, tuple[str, ...]], dict[str, Any]],
) -> dict[str, Callable[[], dict[str, Any]]]:
    """One fresh interpreter per row: ``run(code, args)`` runs it with revocation on."""
    rows: dict[str, Callable[[], dict[str, Any]]] = {
        f"phases:{variant}": partial(run, PHASES, (variant,)) for variant in CLIENT_VARIANTS
    }
    rows.update({f"overlap:{how}": partial(run, OVERLAP, (how,)) for how in ("inline", "thread")})
    return rows


def medians(results: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Each row's median per measured phase: ``phases:ours:read``, ``overlap:thread:total``..."""
    out = {}
    for row, measured in results.items():
        for phase in measured[0]:
            if phase != "entries":
                out[f"{row}:{phase}"] = statistics.median(m[phase] for m in measured)
    return out
