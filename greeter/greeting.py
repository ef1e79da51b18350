"""Read and validate the greeter's request body."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from greeter.exceptions import BadRequest
from shared.http import request_body

MAX_BODY_BYTES: Final = 4096
MAX_NAME_CHARS: Final = 100


@dataclass(frozen=True, slots=True)
class Name:
    first: str
    last: str


def read_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body")
    if body is None or body == "":
        raise BadRequest("request body is required: a JSON object with firstName and lastName")
    return request_body(event, MAX_BODY_BYTES)


def parse_name(raw: bytes) -> Name:
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object with firstName and lastName")
    return Name(first=_name(document, "firstName"), last=_name(document, "lastName"))


def _name(document: dict[str, Any], field: str) -> str:
    if field not in document:
        raise BadRequest(f"{field} is required")
    value = document[field]
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string")
    value = value.strip()
    if not value:
        raise BadRequest(f"{field} must not be empty")
    if len(value) > MAX_NAME_CHARS:
        raise BadRequest(f"{field} must be at most {MAX_NAME_CHARS} characters")
    if not value.isprintable():
        raise BadRequest(f"{field} must not contain control characters")
    return value
