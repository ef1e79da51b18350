"""The authorizer's decision: simple response for API Gateway, one log record, one EMF line."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from authorizer.exceptions import JwksError, MalformedToken, TableUnavailable, TokenError
from authorizer.operations.metrics import MetricsEmitter
from authorizer.verification.config import AuthorizerConfig
from authorizer.verification.jwks import Fetcher, JwksCache, fetch_jwks
from authorizer.verification.rules import CONNECT_ROUTE, RouteRule, enforce
from authorizer.verification.token import extract_token
from authorizer.verification.verify import TokenVerifier, Verified, warm_up
from shared.context import encode_context
from shared.exceptions import ConfigurationError
from shared.jsonlog import correlation, get_logger

DENY: Final = {"isAuthorized": False}
# Written into the artifact's authorizer/ by `make build` (scripts/bake_jwks.py); absent in
# the source tree. os.path, not pathlib: pathlib alone costs about 2 ms of a cold start.
BAKED_JWKS: Final = os.path.join(os.path.dirname(os.path.dirname(__file__)), "baked_jwks.json")
# kid is attacker-chosen text; log enough of it to recognise, never a whole blob.
MAX_LOGGED_KID: Final = 64
DECISION_MESSAGE: Final = "authorization decision"


class Authorizer:
    def __init__(
        self,
        verifier: TokenVerifier,
        logger: logging.Logger,
        route_rules: Mapping[str, RouteRule] | None = None,
        metrics: MetricsEmitter | None = None,
    ) -> None:
        self.verifier = verifier
        self.logger = logger
        self._route_rules = route_rules or {}
        self._metrics = metrics

    def handle(self, event: Any) -> dict[str, Any]:
        """Allow with context, deny on any token problem, raise only when keys cannot be had."""
        started = time.perf_counter()
        route, request_id = correlation(event)
        try:
            if not isinstance(event, dict):
                raise MalformedToken("event is not an object")
            token = extract_token(event)
            verified, from_cache = self.verifier.verify(token)
            rule = self._route_rules.get(route) if isinstance(route, str) else None
            if rule is not None:
                enforce_route_rule(rule, verified, self.verifier.clock())
        except TokenError as err:
            self.denied(err, route, request_id, started)
            return dict(DENY)
        except Exception as err:
            self.failed(err, route, request_id, started)
            raise
        self.decided_for(verified, from_cache, route, request_id, started)
        return {"isAuthorized": True, "context": encode_context(verified.context)}

    def decided_for(
        self,
        verified: Verified,
        from_cache: bool,
        route: str | None,
        request_id: str | None,
        started: float,
        *,
        decision: str = "allow",
        reason: str = "ok",
        **fields: Any,
    ) -> None:
        """The decision record for a verified caller, named by its verified identity."""
        context = verified.context
        self.decided(
            logging.INFO,
            decision,
            reason,
            route,
            request_id,
            started,
            cache_hit=from_cache,
            kid=verified.kid,
            sub=context.sub,
            tokenUse=context.token_use,
            clientId=context.client_id,
            tenantId=context.tenant_id,
            verifiedTokenCache=from_cache,
            **fields,
        )

    def denied(
        self, err: TokenError, route: str | None, request_id: str | None, started: float
    ) -> None:
        """The decision record of a deny: the reason, and who only once the signature held."""
        self.decided(
            logging.INFO,
            "deny",
            err.reason,
            route,
            request_id,
            started,
            kid=err.kid,
            sub=err.sub,
            tenantId=err.tenant_id,
        )

    def failed(
        self, err: Exception, route: str | None, request_id: str | None, started: float
    ) -> None:
        """The decision record of a request that cannot be decided: API Gateway answers 500.

        A JwksError or TableUnavailable (the revocation list, the tenant
        registry) says why no decision can be made;
        anything else is a bug, which fails closed (a 500, never cached) and is
        named by its class only.
        """
        if isinstance(err, JwksError | TableUnavailable):
            self.decided(
                logging.ERROR, "error", err.reason, route, request_id, started, error=str(err)
            )
        else:
            self.decided(
                logging.ERROR,
                "error",
                "internal",
                route,
                request_id,
                started,
                error=type(err).__name__,
            )

    def decided(
        self,
        level: int,
        decision: str,
        reason: str,
        route: str | None,
        request_id: str | None,
        started: float,
        *,
        kid: str | None = None,
        cache_hit: bool | None = None,
        **fields: Any,
    ) -> None:
        """The decision's log record and its metrics: one of each per decision."""
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        logger = self.logger
        if logger.isEnabledFor(level):
            extra = {
                "decision": decision,
                "reason": reason,
                "routeKey": route,
                "apiRequestId": request_id,
                "kid": kid[:MAX_LOGGED_KID] if kid else None,
                "latencyMs": latency_ms,
                **fields,
            }
            # What Logger.log does, minus findCaller's walk up the stack (about
            # 1 µs a line): the record's location is printed only with an exception.
            logger.handle(
                logger.makeRecord(
                    logger.name, level, "", 0, DECISION_MESSAGE, (), None, extra=extra
                )
            )
        if self._metrics is not None:
            self._metrics.decision(decision, reason, latency_ms, cache_hit)


def refuse_connect_rule(route_rules: Mapping[str, RouteRule]) -> None:
    """An HTTP API never has a ``$connect`` route: such a rule would silently never apply."""
    if CONNECT_ROUTE in route_rules:
        raise ConfigurationError(
            "ROUTE_RULES", f"{CONNECT_ROUTE} is a WebSocket route: for API_TYPE=websocket only"
        )


def enforce_route_rule(rule: RouteRule, verified: Verified, now: float) -> None:
    """The route's rule; the deny names the verified caller in the log."""
    try:
        enforce(rule, verified.context, verified.rule_claims, now)
    except TokenError as err:
        err.kid, err.sub = verified.kid, verified.context.sub
        raise


def build_authorizer(
    config: AuthorizerConfig,
    *,
    warm: bool = True,
    baked: str | os.PathLike[str] = BAKED_JWKS,
    fetch: Fetcher = fetch_jwks,
    clock: Callable[[], float] | None = None,
    revocation_query: Callable[[str], Iterable[dict[str, Any]]] | None = None,
    tenant_query: Callable[[str], Iterable[dict[str, Any]]] | None = None,
) -> Authorizer:
    """Wire an authorizer for ``config`` and get its keys during initialisation.

    Each pool has its own key set. Keys baked into the artifact at build time
    (for that very JWKS URL) are installed as if just fetched, so a cold start
    needs no network; otherwise ``warm`` fetches them now rather than inside
    the first request. A pool whose keys cannot be had is logged, not fatal:
    its tokens get a 500 until it answers, the other pools' tokens pass.
    One metrics emitter serves the decisions and every pool's key set.

    With ``REVOCATION_TABLE`` set, the revocation list is read now too (with
    ``warm``); a list that cannot be read is logged, not fatal: every decision
    raises until it is read. With ``TENANT_TABLE`` set, so is the tenant
    registry (its tenants' tokens raise until it is read); a tenant's keys are
    fetched by its first token, never here.

    ``fetch``, ``clock``, ``revocation_query`` and ``tenant_query`` let tests
    run this very wiring offline: one fake clock then times the key sets' cache
    periods (else the monotonic clock), the tokens and the tables (else
    wall-clock time).
    """
    logger = get_logger("authorizer", config.log_level)
    metrics = MetricsEmitter()
    baked_sets = _read_baked(baked, logger)

    def key_set(url: str) -> JwksCache:
        return JwksCache(
            url,
            cache_seconds=config.jwks_cache_seconds,
            miss_cooldown_seconds=config.jwks_miss_cooldown_seconds,
            logger=logger,
            metrics=metrics,
            fetch=fetch,
            clock=clock or time.monotonic,
        )

    key_sets = []
    for pool in config.pools:
        jwks = key_set(pool.jwks_url)
        # Baked keys older than the cache period are refreshed now, as a fetched
        # set would be; they remain the fallback if Cognito cannot be reached.
        loaded = _load_baked(jwks, baked_sets, logger)
        if warm and not (loaded and jwks.is_fresh):
            jwks.warm()
        warm_up(jwks.held_keys())
        key_sets.append(jwks)
    revocations = None
    if config.revocation_table:
        # Only now: a deploy without revocation never imports it (nor the AWS SDK).
        from authorizer.tables.revocation_list import RevocationList, dynamodb_query

        revocations = RevocationList(
            revocation_query or dynamodb_query(config.revocation_table),
            refresh_seconds=config.revocation_refresh_seconds,
            max_stale_seconds=config.revocation_max_stale_seconds,
            logger=logger,
            metrics=metrics,
            clock=clock or time.time,
        )
        if warm:
            revocations.load()
    tenancy = None
    if config.tenant_table:
        # Only now: a deploy without the registry never imports it.
        from authorizer.tables.registry import TenantRegistry
        from authorizer.tables.registry import dynamodb_query as tenant_changes
        from authorizer.verification.keysets import KeySets
        from authorizer.verification.tenancy import Tenancy

        registry = TenantRegistry(
            tenant_query or tenant_changes(config.tenant_table),
            key_url=config.tenant_key_url,
            refresh_seconds=config.tenant_refresh_seconds,
            max_stale_seconds=config.tenant_max_stale_seconds,
            logger=logger,
            metrics=metrics,
            clock=clock or time.time,
        )
        if warm:
            registry.load()
        tenancy = Tenancy(
            registry,
            KeySets(key_set, max_sets=config.max_key_sets, evicted=metrics.key_set_evicted),
        )
    verifier = TokenVerifier(
        config, key_sets, clock=clock or time.time, revocations=revocations, tenancy=tenancy
    )
    return Authorizer(verifier, logger, config.route_rules, metrics)


def _read_baked(path: str | os.PathLike[str], logger: logging.Logger) -> dict[str, Any]:
    """The baked key sets by JWKS URL, with their bake time; empty when there are none.

    One pool's file is ``{"jwksUrl", "bakedAtEpoch", "jwks"}``; several pools'
    is ``{"bakedAtEpoch", "keySets": [{"jwksUrl", "jwks"}, ...]}``.
    """
    try:
        with open(path, "rb") as file:
            baked = json.loads(file.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        logger.warning("baked key set is unreadable; fetching", extra={"path": os.fspath(path)})
        return {}
    if not isinstance(baked, dict):
        return {}
    baked_at = baked.get("bakedAtEpoch")
    entries = baked.get("keySets", [baked])
    if not isinstance(entries, list):
        return {}
    return {
        entry["jwksUrl"]: (baked_at, entry.get("jwks"))
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("jwksUrl"), str)
    }


def _load_baked(jwks: JwksCache, baked: dict[str, Any], logger: logging.Logger) -> bool:
    if not baked:
        return False
    if jwks.url not in baked:
        logger.info(
            "baked key set is for another JWKS URL; fetching",
            extra={"bakedFor": sorted(baked), "jwksUrl": jwks.url},
        )
        return False
    baked_at, document = baked[jwks.url]
    if not isinstance(baked_at, int | float) or isinstance(baked_at, bool):
        logger.warning("baked key set has no bakedAtEpoch; fetching")
        return False
    try:
        age = time.time() - baked_at
        jwks.load(document, source="baked", age_seconds=age)
    except JwksError as err:
        logger.warning("baked key set is unusable; fetching", extra={"reason": err.reason})
        return False
    return True
