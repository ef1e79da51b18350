"""JSON responses for API Gateway (payload 2.0; REST proxy integrations take the same shape)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from shared.exceptions import BadRequest

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


def request_body(event: Mapping[str, Any], max_bytes: int) -> bytes:
    """The request body as bytes, base64-decoded when API Gateway marked it so; b"" when absent.

    Raises BadRequest (a 400 that says why) for a body that is not text, is
    larger than ``max_bytes`` or is marked base64 but is not.
    """
    body = event.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise BadRequest("request body must be text")
    if event.get("isBase64Encoded"):
        if len(body) > (max_bytes * 4) // 3 + 4:
            raise BadRequest(f"request body is larger than {max_bytes} bytes")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest("request body is marked base64 but is not valid base64") from None
    else:
        raw = body.encode("utf-8", errors="surrogatepass")
    if len(raw) > max_bytes:
        raise BadRequest(f"request body is larger than {max_bytes} bytes")
    return raw
