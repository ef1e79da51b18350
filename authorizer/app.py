"""Lambda entry point: configuration and key sets are set up once per cold start.

What a deploy does not use is not imported: the REST module only for
``API_TYPE=rest``, the WebSocket one only for ``API_TYPE=websocket``, the
SnapStart hooks only in a SnapStart init. Every module a cold start imports
costs it the time to load and run it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from authorizer.api.handler import build_authorizer
from authorizer.api.settings import load_cold_start

# Checked before any key fetch: a setting's mistake stops the cold start at once.
CONFIG, REST, WEBSOCKET = load_cold_start(os.environ)
AUTHORIZER = build_authorizer(CONFIG)
HANDLE: Callable[[Any], dict[str, Any]]
if WEBSOCKET is not None:
    from authorizer.api.websocket import WebSocketAuthorizer

    HANDLE = WebSocketAuthorizer(AUTHORIZER, WEBSOCKET, CONFIG.route_rules).handle
elif REST is not None:
    from authorizer.api.rest import protocol_handler

    HANDLE = protocol_handler(AUTHORIZER, REST, CONFIG.route_rules)
else:
    # The HTTP API (the default): payload 2.0, simple responses.
    HANDLE = AUTHORIZER.handle

# Lambda names the init "snap-start" when it will snapshot it (a reserved variable:
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html); the
# hooks then refresh the key sets after a restore.
SNAPSHOTS: list[Any] = []
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    from authorizer.operations.snapstart import register_verifier_hooks

    SNAPSHOTS = register_verifier_hooks(
        AUTHORIZER.verifier,
        max_key_age_seconds=CONFIG.jwks_cache_seconds,
        logger=AUTHORIZER.logger,
    )


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return HANDLE(event)
