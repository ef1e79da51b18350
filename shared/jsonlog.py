"""Both functions' loggers: the standard ``logging`` module, formatted by Lambda itself.

With ``LoggingConfig`` ``LogFormat: JSON`` (template.yaml) the Python runtime
puts a handler on the root logger that writes each record as one JSON object:
``timestamp``, ``level``, ``message``, ``logger``, ``requestId`` (Lambda's
request id), and every field passed with ``extra=`` at the root of the object
(a None value is left out; an ``extra`` named like one of the runtime's own
keys is dropped, which is why API Gateway's request id is ``apiRequestId``).
Our loggers therefore have no handler or formatter of their own: they set
their level and propagate to the root.
https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html

The offline stack and the tests install a look-alike of the runtime's
formatter (``local/lambdalog.py``), never shipped in an artifact. Nothing
here knows about tokens: the callers never hand one over (tests enforce that).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from shared.exceptions import ConfigurationError

# LOG_LEVEL's values (the template's LogLevel parameter); Lambda's
# ApplicationLogLevel spells WARNING as WARN (the template maps it).
LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")


def get_logger(name: str, level: str = "INFO") -> logging.Logger:
    """The named logger at ``level``, writing through the root logger's handler (Lambda's)."""
    logger = logging.getLogger(name)
    logger.setLevel(level)
    logger.propagate = True
    return logger


def log_level_setting(env: Mapping[str, str]) -> str:
    """``LOG_LEVEL`` (INFO when unset, any case), or a ConfigurationError naming it."""
    level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LEVELS:
        raise ConfigurationError("LOG_LEVEL", f"must be one of {', '.join(LEVELS)}")
    return level


def correlation(event: Any) -> tuple[str | None, str | None]:
    """The route key and API Gateway's request id ($context.requestId in the access log).

    Logged as ``routeKey`` and ``apiRequestId``: under Lambda's JSON log format
    ``requestId`` is Lambda's own.
    """
    # Lambda hands over the event as a dict (parsed JSON); isinstance on
    # the Mapping ABC would cost a microsecond a request on this hot path.
    if not isinstance(event, dict):
        return None, None
    route = event.get("routeKey")
    context = event.get("requestContext")
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return (
        route if isinstance(route, str) else None,
        request_id if isinstance(request_id, str) else None,
    )
