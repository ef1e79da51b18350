"""The authorizer's decision: simple response for API Gateway, one JSON log line."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Final

from authorizer.config import AuthorizerConfig
from authorizer.jwks import JwksCache
from authorizer.token import extract_token
from authorizer.verify import TokenVerifier
from shared.context import encode_context
from shared.exceptions import JwksError, MalformedToken, TokenError
from shared.jsonlog import get_logger, log_line

DENY: Final = {"isAuthorized": False}
# kid is attacker-chosen text; log enough of it to recognise, never a whole blob.
MAX_LOGGED_KID: Final = 64


class Authorizer:
    def __init__(self, verifier: TokenVerifier, logger: logging.Logger) -> None:
        self._verifier = verifier
        self._logger = logger

    def handle(self, event: Any) -> dict[str, Any]:
        """Allow with context, deny on any token problem, raise only when keys cannot be had."""
        started = time.perf_counter()
        route = event.get("routeKey") if isinstance(event, Mapping) else None
        try:
            if not isinstance(event, Mapping):
                raise MalformedToken("event is not an object")
            token = extract_token(event)
            verified, from_cache = self._verifier.verify(token)
        except TokenError as err:
            self._log(logging.INFO, "deny", err.reason, route, started, kid=err.kid, sub=err.sub)
            return dict(DENY)
        except JwksError as err:
            self._log(logging.ERROR, "error", err.reason, route, started, error=str(err))
            raise
        context = verified.context
        self._log(
            logging.INFO,
            "allow",
            "ok",
            route,
            started,
            kid=verified.kid,
            sub=context.sub,
            tokenUse=context.token_use,
            clientId=context.client_id,
            cached=from_cache,
        )
        return {"isAuthorized": True, "context": encode_context(context)}

    def _log(
        self,
        level: int,
        decision: str,
        reason: str,
        route: Any,
        started: float,
        *,
        kid: str | None = None,
        **fields: Any,
    ) -> None:
        log_line(
            self._logger,
            level,
            "authorization decision",
            {
                "decision": decision,
                "reason": reason,
                "routeKey": route if isinstance(route, str) else None,
                "kid": kid[:MAX_LOGGED_KID] if kid else None,
                "latencyMs": round((time.perf_counter() - started) * 1000, 3),
                **fields,
            },
        )


def build_authorizer(config: AuthorizerConfig, *, warm: bool = True) -> Authorizer:
    """Wire an authorizer for ``config``; ``warm`` fetches the key set now (initialisation)."""
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
