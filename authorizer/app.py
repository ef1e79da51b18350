"""Lambda entry point: configuration and key set are set up once per cold start."""

from __future__ import annotations

import os
from typing import Any

from authorizer.config import load_config
from authorizer.handler import build_authorizer

AUTHORIZER = build_authorizer(load_config(os.environ))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return AUTHORIZER.handle(event)
