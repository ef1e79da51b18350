"""Lambda entry point of the connections function (a WebSocket API's ``$connect`` and
``$disconnect``): set up once per cold start; a missing setting stops it, naming it."""

from __future__ import annotations

from typing import Any

from authorizer.signout.connections import from_environment

CONNECTIONS = from_environment()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return CONNECTIONS.handle(event)
