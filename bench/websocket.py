"""`make bench` rows for WebSocket APIs: a ``$connect`` decision beside an HTTP API decision (same
tokens, same run), and the time from a revocation to the open connection being closed (offline).

The decision rows build both adapters over one authorizer (``build_authorizer``
with keys in hand, INFO log and EMF, as deployed) and time them interleaved on
the same fresh tokens. The hang-up row runs ``make run``'s stack with
template-websocket.yaml and Revocation=true: a real WebSocket client holds a
connection while a revocation item is written to the table, and the time until
the server closes the socket is measured (the stream polled four times a
second, the hang-up function, the management API, the close).
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from authorizer.api.handler import build_authorizer
from authorizer.api.websocket import WebSocketAuthorizer, load_identity_source
from authorizer.tables.revocation import FAMILY, revocation_item
from tests.forge import authorizer_event, claims, load_event, sign
from tests.helpers import make_config

QUERY = "route.request.querystring.token"


def connect_event(token: str) -> dict[str, Any]:
    event = load_event("websocket_connect.json")
    event["queryStringParameters"] = {"token": token}
    event["multiValueQueryStringParameters"] = {"token": [token]}
    return event


def decision_costs(
    tokens: int,
    repeat: int,
    baked: Path,
    interleaved: Callable[[dict[str, Callable[[], object]], int, int], dict[str, float]],
) -> dict[str, float]:
    """Seconds per fresh-token decision: ``http`` (simple response) and ``connect`` (policy)."""
    config = make_config(LOG_LEVEL="INFO")
    authorizer = build_authorizer(config, baked=baked)
    socket = WebSocketAuthorizer(
        authorizer, load_identity_source({"WEBSOCKET_IDENTITY_SOURCE": QUERY}, {}), {}
    )
    minted = [sign(claims("id")) for _ in range(tokens)]
    http_events = [authorizer_event(token) for token in minted]
    connect_events = [connect_event(token) for token in minted]
    assert all(authorizer.handle(e)["isAuthorized"] for e in http_events[:5])
    assert all(
        socket.handle(e)["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        for e in connect_events[:5]
    )

    def fresh(handle: Callable[[Any], Any], events: list[dict[str, Any]]) -> Callable[[], None]:
        def run() -> None:
            authorizer.verifier.forget_tokens()
            for event in events:
                handle(event)

        return run

    return interleaved(
        {
            "http": fresh(authorizer.handle, http_events),
            "connect": fresh(socket.handle, connect_events),
        },
        tokens,
        repeat,
    )


def hang_up_latency(samples: int) -> dict[str, float]:
    """Seconds from a revocation item written to its connection closed, through make run's stack."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from local.cognito import aws_client
    from tests.e2e.stackproc import ROOT, start_stack_process

    with tempfile.TemporaryDirectory(prefix="bench-websocket-") as tmp:
        stack = start_stack_process(
            Path(tmp),
            ROOT / "template-websocket.yaml",
            parameters={"Revocation": "true"},
        )
        try:
            dynamodb = aws_client("dynamodb", stack.cognito["endpoint"])
            table = stack.state["tables"]["RevocationTable"]
            took = []
            for _ in range(samples):
                token = stack.token("id")
                family = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))[
                    "origin_jti"
                ]
                with connect(f"{stack.url}/prod?token={token}", open_timeout=15) as socket:
                    time.sleep(0.3)  # the $connect integration has recorded it
                    started = time.perf_counter()
                    dynamodb.put_item(
                        TableName=table, Item=revocation_item(FAMILY, family, time.time())
                    )
                    try:
                        while True:
                            socket.recv(timeout=10)
                    except ConnectionClosed:
                        took.append(time.perf_counter() - started)
        finally:
            stack.stop()
    return {"median": statistics.median(took), "max": max(took), "samples": len(took)}
