"""The greeter over a WebSocket API: the ``hello`` route answers ``Hello <first> <last>``.

API Gateway hands the ``$connect`` authorizer's context to every route of the
connection under ``requestContext.authorizer`` (beside ``principalId``, as a
REST API does), so the greeter reads it through ``shared/context.py`` as it
does for the other APIs. Messages are routed by the API's route selection
expression (``$request.body.action``): ``{"action": "hello", "firstName":
"Brian", "lastName": "Morrison"}`` reaches ``hello``; the answer is the route
response sent back on the socket. An event without the authorizer's context
(a route left unprotected) fails closed with a 500 and an error log.
"""

from __future__ import annotations

import os
from typing import Any, Final

from greeter.exceptions import BadRequest
from greeter.greeting import parse_name, read_body
from shared.context import decode_context
from shared.exceptions import MissingAuthContext
from shared.http import error_response, json_response
from shared.jsonlog import get_logger, log_level_setting

LOGGER = get_logger("greeter", log_level_setting(os.environ))
HELLO_ROUTE: Final = "hello"
UNKNOWN_ACTION: Final = (
    'unknown action: send {"action": "hello", "firstName": "...", "lastName": "..."}'
)


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    if not isinstance(event, dict):
        event = {}  # no context in it: refused below
    request_context = event.get("requestContext")
    if not isinstance(request_context, dict):
        request_context = {}
    route = request_context.get("routeKey")
    joined = {
        "apiRequestId": request_context.get("requestId"),
        "routeKey": route,
        "connectionId": request_context.get("connectionId"),
    }
    try:
        caller = decode_context(event)
    except MissingAuthContext as err:
        LOGGER.error(
            "message reached the greeter without an authorizer context: is $connect protected?",
            extra={"reason": err.reason, **joined},
        )
        return error_response(500, "Internal Server Error")
    if route in ("$connect", "$disconnect"):
        return {"statusCode": 200}
    if route != HELLO_ROUTE:
        return error_response(400, UNKNOWN_ACTION)
    try:
        name = parse_name(read_body(event))
    except BadRequest as err:
        LOGGER.info(
            "bad request",
            extra={"reason": err.reason, "problem": str(err), "sub": caller.sub, **joined},
        )
        return error_response(400, str(err))
    return json_response(
        200,
        {
            "message": f"Hello {name.first} {name.last}",
            "sub": caller.sub,
            "username": caller.username,
        },
    )
