"""The greeter: the business Lambda behind the authorizer.

It trusts only what the authorizer put in ``requestContext.authorizer.lambda``
(HTTP API, payload 2.0) or ``requestContext.authorizer`` (REST API, payload 1.0).
A request without that context means a route was left unprotected: it fails
closed with a 500 and an error log rather than greet an unknown caller.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from greeter.exceptions import BadRequest
from greeter.greeting import parse_name, read_body
from shared.context import AuthContext, decode_context
from shared.exceptions import MissingAuthContext
from shared.http import error_response, json_response
from shared.jsonlog import correlation, get_logger, log_level_setting

LOGGER = get_logger("greeter", log_level_setting(os.environ))


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    method = _method(event)
    # On every line: joins it to the API's access log and to the authorizer's decision.
    route, request_id = correlation(event)
    joined = {"apiRequestId": request_id, "routeKey": route}
    try:
        caller = decode_context(event)
    except MissingAuthContext as err:
        LOGGER.error(
            "request reached the greeter without an authorizer context: is the route protected?",
            extra={"reason": err.reason, **joined},
        )
        return error_response(500, "Internal Server Error")

    if method == "GET":
        return _greet(caller, caller.username or caller.sub)
    if method == "POST":
        try:
            name = parse_name(read_body(event))
        except BadRequest as err:
            LOGGER.info(
                "bad request",
                extra={
                    "reason": err.reason,
                    "problem": str(err),
                    "sub": caller.sub,
                    **joined,
                },
            )
            return error_response(400, str(err))
        return _greet(caller, f"{name.first} {name.last}")
    return error_response(405, "Method Not Allowed")


# A tenant claim, when the authorizer copies it (CONTEXT_CLAIMS), is greeted by name.
TENANT_CLAIM = "custom:tenant_id"


def _greet(caller: AuthContext, who: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": f"Hello {who}",
        "sub": caller.sub,
        "username": caller.username,
    }
    if caller.claims:
        claims = {name: list(v) if isinstance(v, tuple) else v for name, v in caller.claims}
        if isinstance(claims.get(TENANT_CLAIM), str):
            body["tenant"] = claims[TENANT_CLAIM]
        body["claims"] = claims
    # The registry's tenant (the authorizer's TENANT_TABLE) is the pool's: it wins over a claim.
    if caller.tenant_id is not None:
        body["tenant"] = caller.tenant_id
        if caller.tenant_attributes:
            body["tenantAttributes"] = dict(caller.tenant_attributes)
    return json_response(200, body)


def _method(event: Mapping[str, Any]) -> str:
    """``requestContext.http.method`` (payload 2.0) or ``httpMethod`` (payload 1.0, REST APIs)."""
    request_context = event.get("requestContext")
    http = request_context.get("http") if isinstance(request_context, Mapping) else None
    method = http.get("method") if isinstance(http, Mapping) else event.get("httpMethod")
    return method.upper() if isinstance(method, str) else ""
