"""Every setting the authorizer's cold start reads, or the ConfigurationError that stops it.

``app.py`` calls this once per cold start; ``make deploy`` and ``make run``
call it with the environment a template gives the function (``local/preflight.py``),
so a mistake stops them with the cold start's own message. An HTTP API's cold
start imports neither the REST nor the WebSocket module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from authorizer.api.handler import refuse_connect_rule
from authorizer.verification.config import AuthorizerConfig, load_config

if TYPE_CHECKING:
    from authorizer.api.rest import ApiSettings
    from authorizer.api.websocket import IdentitySource


class ColdStart(NamedTuple):
    """The settings, and the API's own: a REST API's routes, or a WebSocket API's source."""

    config: AuthorizerConfig
    rest: ApiSettings | None = None
    websocket: IdentitySource | None = None


def load_cold_start(env: Mapping[str, str]) -> ColdStart:
    """The settings, then what ``API_TYPE`` (or ``API_ROUTES``, which means REST) needs."""
    config = load_config(env)
    api_type = env.get("API_TYPE", "").strip().lower()
    if api_type in ("", "http") and not env.get("API_ROUTES", "").strip():
        refuse_connect_rule(config.route_rules)
        return ColdStart(config)
    if api_type == "websocket":
        from authorizer.api.websocket import load_identity_source

        return ColdStart(config, websocket=load_identity_source(env, config.route_rules))
    from authorizer.api.rest import load_api_settings

    return ColdStart(config, rest=load_api_settings(env, config.route_rules))
