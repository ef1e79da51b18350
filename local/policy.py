"""How API Gateway evaluates a Lambda authorizer's IAM policy against one request's method ARN.

Statements whose Action covers ``execute-api:Invoke`` and whose Resource
covers the ARN count; an explicit Deny wins over any Allow; without a
matching Allow the request is denied implicitly. API Gateway tells the two
denials apart in its 403 body, so the result keeps them apart too. Resource
wildcards are IAM's: ``*`` matches any run of characters (``/`` included),
``?`` any one character; nothing else is special. Actions match without
regard to case, resources with it.

https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-control-access-using-iam-policies-to-invoke-api.html
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from typing import Any, Final

INVOKE: Final = "execute-api:Invoke"


class Effect(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


class InvalidPolicy(ValueError):
    """The answer holds no readable policy document: API Gateway answers 500."""


def _matches(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    flags = re.IGNORECASE if ignore_case else 0
    return re.fullmatch(regex, value, flags | re.DOTALL) is not None


def _strings(value: Any, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise InvalidPolicy(f"{where} must be a string or a list of strings")
    return items


def evaluate(document: Any, method_arn: str) -> Effect:
    """The outcome of ``document`` (a policyDocument) for ``method_arn``, or InvalidPolicy."""
    if not isinstance(document, Mapping):
        raise InvalidPolicy("policyDocument is not an object")
    statements = document.get("Statement")
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list):
        raise InvalidPolicy("Statement is not a list")
    effects = set()
    for statement in statements:
        if not isinstance(statement, Mapping):
            raise InvalidPolicy("a statement is not an object")
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise InvalidPolicy("Effect must be Allow or Deny")
        actions = _strings(statement.get("Action", []), "Action")
        resources = _strings(statement.get("Resource", []), "Resource")
        if any(_matches(a, INVOKE, ignore_case=True) for a in actions) and any(
            _matches(r, method_arn) for r in resources
        ):
            effects.add(effect)
    if "Deny" in effects:
        return Effect.EXPLICIT_DENY
    return Effect.ALLOW if "Allow" in effects else Effect.IMPLICIT_DENY
