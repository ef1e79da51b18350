"""The IAM-policy answer that REST and WebSocket authorizers give API Gateway.

Both protocols read the same output (API Gateway developer guide, "Output
from an API Gateway Lambda authorizer"): a ``principalId``, a policy document
whose statements allow or deny ``execute-api:Invoke`` on resource ARNs, and
an optional flat ``context``. An error whose message is exactly
``Unauthorized`` is API Gateway's 401; any other error is a 500.
https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-output.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# What API Gateway matches to answer 401; any other error message is a 500.
UNAUTHORIZED: Final = "Unauthorized"
POLICY_VERSION: Final = "2012-10-17"
INVOKE: Final = "execute-api:Invoke"
# Who a deny names when the token never said who it was (signature unchecked).
ANONYMOUS: Final = "anonymous"


def policy(
    principal: str,
    *,
    allow: list[str] | None = None,
    deny: list[str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``principalId``, one Allow and one Deny statement (each only when it names a resource)."""
    statements = [
        {"Effect": effect, "Action": INVOKE, "Resource": resources}
        for effect, resources in (("Allow", allow), ("Deny", deny))
        if resources
    ]
    answer: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {"Version": POLICY_VERSION, "Statement": statements},
    }
    if context is not None:
        answer["context"] = dict(context)
    return answer
