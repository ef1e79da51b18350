"""JSON responses for API Gateway (payload 2.0; REST proxy integrations take the same shape)."""

from __future__ import annotations

import json
from typing import Any

JSON_HEADERS = {"content-type": "application/json"}


def json_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": dict(JSON_HEADERS),
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


def error_response(status: int, message: str) -> dict[str, Any]:
    """API Gateway's own error shape: ``{"message": "..."}``."""
    return json_response(status, {"message": message})
