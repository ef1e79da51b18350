"""Every setting the authorizer's cold start reads, or the ConfigurationError that stops it.

``app.py`` calls this once per cold start; ``make deploy`` and ``make run``
call it with the environment a template gives the function (``local/preflight.py``),
so a mistake stops them with the cold start's own message. An HTTP API's cold
start never imports the REST module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from authorizer.verification.config import AuthorizerConfig, load_config

if TYPE_CHECKING:
    from authorizer.api.rest import ApiSettings


def load_cold_start(env: Mapping[str, str]) -> tuple[AuthorizerConfig, ApiSettings | None]:
    """The settings, then for a REST API (``API_TYPE`` or ``API_ROUTES`` set) its routes."""
    config = load_config(env)
    if (
        env.get("API_TYPE", "").strip().lower() in ("", "http")
        and not env.get("API_ROUTES", "").strip()
    ):
        return config, None
    from authorizer.api.rest import load_api_settings

    return config, load_api_settings(env, config.route_rules)
