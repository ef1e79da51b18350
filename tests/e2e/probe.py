"""Probe Lambdas for the offline emulator's tests: they report what they were given.

``handler`` echoes its environment and event, or misbehaves on request
(``/probe/do/raise``, ``/probe/do/sleep``, ``/probe/do/malformed``, ...).
``authorizer_handler`` decides by its ``X-Probe`` identity source and puts
its own environment's variable names in the context.
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any


def handler(event: dict[str, Any], context: Any) -> Any:
    action = (event.get("pathParameters") or {}).get("action", "env")
    if action == "raise":
        raise RuntimeError("probe asked to fail")
    if action == "sleep":
        time.sleep(5)
    if action == "malformed":
        return {"statusCode": "two hundred", "body": 42}
    if action == "plain":
        return {"hello": "world"}
    if action == "binary":
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream", "x-probe": "yes"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": base64.b64encode(b"\x00\x01probe").decode(),
            "isBase64Encoded": True,
        }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(
            {
                "env": dict(os.environ),
                "event": event,
                "functionName": getattr(context, "function_name", None),
                "remainingMs": context.get_remaining_time_in_millis(),
            }
        ),
    }


def authorizer_handler(event: dict[str, Any], context: Any) -> Any:
    probe = event["identitySource"][0]
    print(json.dumps({"message": "probe authorizer", "probe": probe}), flush=True)
    if probe == "raise":
        raise RuntimeError("probe authorizer asked to fail")
    if probe == "sleep":
        time.sleep(5)
    if probe == "malformed":
        return {"isAuthorized": "yes"}
    if probe == "deny":
        return {"isAuthorized": False}
    return {
        "isAuthorized": True,
        "context": {"envKeys": " ".join(sorted(os.environ)), "probe": probe},
    }
