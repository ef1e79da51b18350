"""Lambda entry point of the sign-out function (``POST /signout``): set up once per cold start.

A missing or invalid setting stops the cold start with a message naming it.
"""

from __future__ import annotations

import os
from typing import Any

from authorizer.signout.handler import SignOut, aws_clients, load_settings

SIGN_OUT = SignOut(load_settings(os.environ), *aws_clients())


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return SIGN_OUT.handle(event)
