"""Lambda entry point: configuration and key set are set up once per cold start."""

from __future__ import annotations

import os
from typing import Any

from authorizer.config import load_config
from authorizer.handler import build_authorizer
from authorizer.snapstart import register_verifier_hooks

CONFIG = load_config(os.environ)
AUTHORIZER = build_authorizer(CONFIG)
# With SnapStart on, Lambda snapshots after this module is imported: the hooks
# refresh the key sets after a restore. Without Lambda's runtime, nothing happens.
SNAPSHOTS = register_verifier_hooks(
    AUTHORIZER.verifier,
    max_key_age_seconds=CONFIG.jwks_cache_seconds,
    logger=AUTHORIZER.logger,
)


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return AUTHORIZER.handle(event)
