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

from authorizer.api.handler import build_authorizer, refuse_connect_rule
from authorizer.verification.config import load_config

CONFIG = load_config(os.environ)
API_TYPE = os.environ.get("API_TYPE", "").strip().lower()
HANDLE: Callable[[Any], dict[str, Any]]
if API_TYPE in ("", "http") and not os.environ.get("API_ROUTES", "").strip():
    # The HTTP API (the default): payload 2.0, simple responses.
    refuse_connect_rule(CONFIG.route_rules)
    AUTHORIZER = build_authorizer(CONFIG)
    HANDLE = AUTHORIZER.handle
elif API_TYPE == "websocket":
    from authorizer.api.websocket import WebSocketAuthorizer, load_identity_source

    # Checked before any key fetch, as the REST settings are.
    IDENTITY_SOURCE = load_identity_source(os.environ, CONFIG.route_rules)
    AUTHORIZER = build_authorizer(CONFIG)
    HANDLE = WebSocketAuthorizer(AUTHORIZER, IDENTITY_SOURCE, CONFIG.route_rules).handle
else:
    from authorizer.api.rest import load_api_settings, protocol_handler

    # Checked before any key fetch: a REST setting's mistake stops the cold start at once.
    API_SETTINGS = load_api_settings(os.environ, CONFIG.route_rules)
    AUTHORIZER = build_authorizer(CONFIG)
    HANDLE = protocol_handler(AUTHORIZER, API_SETTINGS, CONFIG.route_rules)

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
