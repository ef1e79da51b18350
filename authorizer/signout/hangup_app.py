"""Lambda entry point of the hang-up function (the revocation table's stream): set up once
per cold start; a missing setting stops it, naming it."""

from __future__ import annotations

from typing import Any

from authorizer.signout.hangup import from_environment

HANG_UP = from_environment()


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    return HANG_UP.handle(event)
