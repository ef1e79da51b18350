"""Lambda entry point: configuration and key set are set up once per cold start."""

from __future__ import annotations

import os
from typing import Any

from authorizer.config import AuthorizerConfig, load_config
from authorizer.handler import Authorizer
from authorizer.jwks import JwksCache
from authorizer.verify import TokenVerifier
from shared.jsonlog import get_logger


def build_authorizer(config: AuthorizerConfig, *, warm: bool = True) -> Authorizer:
    logger = get_logger("authorizer", config.log_level)
    jwks = JwksCache(
        config.jwks_url,
        cache_seconds=config.jwks_cache_seconds,
        miss_cooldown_seconds=config.jwks_miss_cooldown_seconds,
        logger=logger,
    )
    if warm:
        jwks.warm()
    return Authorizer(TokenVerifier(config, jwks), logger)


AUTHORIZER = build_authorizer(load_config(os.environ))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return AUTHORIZER.handle(event)
