"""WebSocket APIs: the ``$connect`` REQUEST event, answered with an IAM policy for that route alone.

API Gateway calls a WebSocket API's Lambda authorizer once per connection,
for ``$connect`` only, before the upgrade (API Gateway developer guide,
"Control access to WebSocket APIs with AWS Lambda REQUEST authorizers"):

- the event has ``methodArn``
  ``arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/$connect`` (no HTTP
  method), ``headers``, ``multiValueHeaders``, ``queryStringParameters``,
  ``multiValueQueryStringParameters`` and a
  ``requestContext`` with ``routeKey`` ``$connect``, ``eventType`` ``CONNECT``,
  ``apiId``, ``stage``, ``connectionId`` and ``requestId``; no
  ``identitySource`` list, so the token is read from the one identity source
  the API declares (``WEBSOCKET_IDENTITY_SOURCE``, the very expression of
  the API's authorizer: ``route.request.querystring.<name>`` or
  ``route.request.header.<name>``), never from anywhere else;
- the answer is ``principalId`` (the caller's ``sub``), a policy allowing
  ``execute-api:Invoke`` on exactly that ``methodArn`` (this API, this stage,
  ``$connect``: nothing another route or API could reuse), and the flat
  context every other API type gets (``shared/context.py``), which API
  Gateway hands to every route of the connection;
- a token problem is a policy denying that ARN (403); a missing or
  unreadable token, or an event that is not a ``$connect`` authorizer event,
  is ``raise Exception("Unauthorized")`` (401); a decision that cannot be
  made raises anything else (500).

WebSocket authorizers have no result cache (``AuthorizerResultTtlInSeconds``
is for HTTP API authorizers only): every connection is decided afresh, and
its context lives as long as the connection does.

The token may travel in the query string. Nothing here logs a header, a
query parameter or the query string: only the decision record, as for the
other API types.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, NoReturn

from authorizer.api.handler import Authorizer, enforce_route_rule
from authorizer.api.policy import ANONYMOUS, UNAUTHORIZED, policy
from authorizer.exceptions import MalformedToken, MissingToken, TokenError, UnexpectedEvent
from authorizer.verification.rules import CONNECT_ROUTE, RouteRule
from authorizer.verification.token import parse_bearer
from shared.context import encode_context
from shared.exceptions import ConfigurationError

# API Gateway refuses method ARNs longer than this (414), so none longer ever arrives.
MAX_METHOD_ARN_BYTES: Final = 1600
# arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/$connect, and nothing after it.
_CONNECT_ARN: Final = re.compile(
    r"arn:aws[a-z-]*:execute-api:[a-z0-9-]+:\d{12}:"
    r"(?P<api>[A-Za-z0-9]+)/(?P<stage>[A-Za-z0-9_-]+)/\$connect"
)
# The API's identity source: a query-string parameter or a header, as API Gateway names them.
_IDENTITY_SOURCE: Final = re.compile(
    r"route\.request\.(?P<where>querystring|header)\.(?P<name>[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128})"
)
QUERY_STRING: Final = "querystring"
HEADER: Final = "header"


class IdentitySource(NamedTuple):
    """Where the API's authorizer takes the token from (``querystring`` or ``header``), by name."""

    where: str
    name: str


def load_identity_source(
    env: Mapping[str, str], route_rules: Mapping[str, RouteRule]
) -> IdentitySource:
    """``WEBSOCKET_IDENTITY_SOURCE`` (required), checked with the settings no WebSocket API uses."""
    raw = env.get("WEBSOCKET_IDENTITY_SOURCE", "").strip()
    found = _IDENTITY_SOURCE.fullmatch(raw)
    if found is None:
        raise ConfigurationError(
            "WEBSOCKET_IDENTITY_SOURCE",
            "must be the API's identity source: route.request.querystring.<name> "
            "or route.request.header.<name>",
        )
    if env.get("API_ROUTES", "").strip():
        raise ConfigurationError("API_ROUTES", "is for API_TYPE=rest only")
    others = sorted(set(route_rules) - {CONNECT_ROUTE})
    if others:
        # A rule for a route the authorizer is never called for would silently never apply.
        raise ConfigurationError(
            "ROUTE_RULES",
            f"a WebSocket API's authorizer decides {CONNECT_ROUTE} only, not {', '.join(others)}",
        )
    return IdentitySource(found["where"], found["name"])


class ConnectRequest(NamedTuple):
    """A ``$connect`` authorizer event's policy resource and the ids it is logged under."""

    method_arn: str
    connection_id: str | None
    request_id: str | None

    @classmethod
    def parse(cls, event: Any) -> ConnectRequest | None:
        """None unless ``event`` is a REQUEST event for ``$connect`` whose ARN names its own API
        and stage."""
        if not isinstance(event, dict) or event.get("type") != "REQUEST":
            return None
        arn = event.get("methodArn")
        context = event.get("requestContext")
        if (
            not isinstance(arn, str)
            or len(arn.encode()) > MAX_METHOD_ARN_BYTES
            or not isinstance(context, dict)
            or context.get("routeKey") != CONNECT_ROUTE
        ):
            return None
        found = _CONNECT_ARN.fullmatch(arn)
        if (
            found is None
            or context.get("apiId") != found["api"]
            or context.get("stage") != found["stage"]
        ):
            return None
        return cls(arn, _text(context.get("connectionId")), _text(context.get("requestId")))


class WebSocketAuthorizer:
    """``$connect`` over the same verifier, rules and decision log as ``Authorizer``."""

    def __init__(
        self,
        authorizer: Authorizer,
        source: IdentitySource,
        route_rules: Mapping[str, RouteRule],
    ) -> None:
        self._authorizer = authorizer
        self.verifier = authorizer.verifier
        self._source = source
        self._rule = route_rules.get(CONNECT_ROUTE)

    def handle(self, event: Any) -> dict[str, Any]:
        """A policy for this connection's ``$connect``; Exception("Unauthorized") for a 401."""
        started = time.perf_counter()
        request = ConnectRequest.parse(event)
        if request is None:
            context = event.get("requestContext") if isinstance(event, dict) else None
            request_id = _text(context.get("requestId")) if isinstance(context, dict) else None
            self._unauthorized(
                UnexpectedEvent("not a WebSocket $connect REQUEST event for its own API and stage"),
                None,
                request_id,
                started,
            )
        ids: dict[str, Any] = {"connectionId": request.connection_id}
        try:
            token = self.token(event)
            verified, from_cache = self.verifier.verify(token)
            if self._rule is not None:
                enforce_route_rule(self._rule, verified, self.verifier.clock())
        except (MissingToken, MalformedToken) as err:
            self._unauthorized(err, CONNECT_ROUTE, request.request_id, started, **ids)
        except TokenError as err:
            self._authorizer.decided(
                logging.INFO,
                "deny",
                err.reason,
                CONNECT_ROUTE,
                request.request_id,
                started,
                kid=err.kid,
                sub=err.sub,
                **ids,
            )
            return policy(err.sub or ANONYMOUS, deny=[request.method_arn])
        except Exception as err:
            self._authorizer.failed(err, CONNECT_ROUTE, request.request_id, started)
            raise
        self._authorizer.decided_for(
            verified, from_cache, CONNECT_ROUTE, request.request_id, started, **ids
        )
        context = encode_context(verified.context)
        return policy(verified.context.sub, allow=[request.method_arn], context=context)

    def token(self, event: dict[str, Any]) -> str:
        """The token in the declared identity source, and nowhere else."""
        where, name = self._source
        header = where == HEADER
        single = _named(event.get("headers" if header else "queryStringParameters"), name, header)
        every = _named(
            event.get("multiValueHeaders" if header else "multiValueQueryStringParameters"),
            name,
            header,
        )
        if len(single) > 1 or any(not isinstance(v, list) or len(v) > 1 for v in every):
            # Which of several would API Gateway have checked? Refuse to guess.
            raise MalformedToken(f"the {where} {name} is given more than once")
        raw = single[0] if single else None
        return parse_bearer(raw if isinstance(raw, str) else None)

    def _unauthorized(
        self,
        err: TokenError,
        route: str | None,
        request_id: str | None,
        started: float,
        **fields: Any,
    ) -> NoReturn:
        self._authorizer.decided(
            logging.INFO,
            "deny",
            err.reason,
            route,
            request_id,
            started,
            kid=err.kid,
            status=401,
            **fields,
        )
        # Exactly this message: API Gateway reads it as "answer 401".
        raise Exception(UNAUTHORIZED) from None


def _named(mapping: Any, name: str, header: bool) -> list[Any]:
    """The values under ``name`` (a header's in any case: header names are case-insensitive)."""
    if not isinstance(mapping, dict):
        return []
    if not header:
        return [mapping[name]] if name in mapping else []
    wanted = name.lower()
    return [
        value for key, value in mapping.items() if isinstance(key, str) and key.lower() == wanted
    ]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
