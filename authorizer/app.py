"""Lambda entry point: configuration and key set are set up once per cold start."""

from __future__ import annotations

import os
from typing import Any

from authorizer.config import load_config
from authorizer.handler import build_authorizer
from authorizer.rest import load_api_settings, protocol_handler
from authorizer.snapstart import register_verifier_hooks

CONFIG = load_config(os.environ)
# API_TYPE: "http" (payload 2.0, simple responses; the default) or "rest" (IAM policies).
API_SETTINGS = load_api_settings(os.environ, CONFIG.route_rules)
AUTHORIZER = build_authorizer(CONFIG)
HANDLE = protocol_handler(AUTHORIZER, API_SETTINGS, CONFIG.route_rules)
# With SnapStart on, Lambda snapshots after this module is imported: the hooks
# refresh the key sets after a restore. Without Lambda's runtime, nothing happens.
SNAPSHOTS = register_verifier_hooks(
    AUTHORIZER.verifier,
    max_key_age_seconds=CONFIG.jwks_cache_seconds,
    logger=AUTHORIZER.logger,
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return HANDLE(event)
