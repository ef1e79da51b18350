"""A WebSocket API (API Gateway v2, ``ProtocolType: WEBSOCKET``) served as API Gateway serves it.

Read from the transformed template like the other APIs: the API's route
selection expression, its ``AWS::ApiGatewayV2::Route``s (route key, target
integration, authorizer), ``Integration``s (Lambda proxy), ``Authorizer``
(Lambda REQUEST, identity sources), ``RouteResponse``s (two-way routes) and
``Stage``. Served on a well-kept WebSocket library (``websockets``), never a
hand-written protocol:

1. The upgrade request (``ws://host:port/<stage>?...``) runs the ``$connect``
   route before the upgrade: an identity source missing or empty is
   ``401 {"message":"Unauthorized"}`` without calling the authorizer; the
   authorizer's policy is evaluated against the connection's
   ``.../<stage>/$connect`` ARN (``local/policy.py``): a deny is ``403
   {"message":"Forbidden"}``, an error, a timeout or an unreadable answer
   ``500 {"message":"Internal server error"}``. WebSocket authorizers keep
   no result cache. Then the ``$connect`` integration runs; a status other
   than 2xx (or an error) refuses the connection with it (or a 500).
2. Each message is routed by the selection expression (``$request.body.<path>``
   of a JSON body), else ``$default``; no route at all answers ``{"message":
   "Forbidden", ...}``. A two-way route's integration answer (a proxy
   result's ``body``) comes back on the socket.
3. When the connection ends, from either side, ``$disconnect`` runs.
4. Every route's event carries the authorizer's ``principalId`` and context
   under ``requestContext.authorizer``, its values as strings, as a REST
   proxy integration gets them.
5. The connections management API (``@connections``, a port of its own
   because the WebSocket library serves only upgrades) posts to, describes
   and deletes a connection; an unknown one is ``410`` ``GoneException``.

Neither the query string nor a header is ever printed: the token may be there.
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-websocket-api-lambda-auth.html
https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-how-to-call-websocket-api-connections.html
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request as UpgradeRequest
from websockets.http11 import Response as UpgradeResponse
from websockets.sync.server import Server, ServerConnection, serve
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from local.cfn import ACCOUNT_ID, OFFLINE_WEBSOCKET_API_ID, REGION, Resolver, referenced_function
from local.console import Console
from local.exceptions import InvocationError, TemplateError
from local.functions import LambdaFunction
from local.policy import Effect, InvalidPolicy, evaluate
from local.sam import SamTemplate, TransformedTemplate
from local.template import ApiModel, AuthorizerSpec, Route, api_functions, chosen_branch

API_ID: Final = OFFLINE_WEBSOCKET_API_ID
CONNECT: Final = "$connect"
DISCONNECT: Final = "$disconnect"
DEFAULT: Final = "$default"
# API Gateway's WebSocket limits: 128 KB a message; the authorizer 10 s (we give it its timeout).
MAX_MESSAGE_BYTES: Final = 128 * 1024
AUTHORIZER_TIMEOUT_SECONDS: Final = 10
INTEGRATION_TIMEOUT_SECONDS: Final = 29
_SOURCE_PREFIXES: Final = ("route.request.header.", "route.request.querystring.")


@dataclass(frozen=True, slots=True)
class WebSocketModel(ApiModel):
    stage: str = "prod"
    selection_expression: str = "$request.body.action"
    two_way: frozenset[str] = frozenset()
    # Stream event source mappings: (table logical id, its nested stack path, function).
    streams: tuple[StreamMapping, ...] = ()

    @property
    def base_path(self) -> str:
        return f"/{self.stage}"

    @property
    def kind(self) -> str:
        return "WebSocket API"

    def route(self, key: str) -> Route | None:
        return next((route for route in self.routes if route.route_key == key), None)


@dataclass(frozen=True, slots=True)
class StreamMapping:
    """A Lambda event source mapping from a DynamoDB table's stream to a function."""

    table: str  # the table's offline name
    function: str
    batch_size: int = 100
    maximum_retry_attempts: int = -1


def read_websocket_api(template: SamTemplate, transformed: TransformedTemplate) -> WebSocketModel:
    resources: dict[str, Any] = transformed.template.get("Resources", {})
    resolver = transformed.resolver()
    apis = [
        name
        for name, r in resources.items()
        if r.get("Type") == "AWS::ApiGatewayV2::Api" and resolver.exists(name)
    ]
    if len(apis) != 1:
        raise TemplateError(f"expected one WebSocket API, found {apis or 'none'}")
    api = apis[0]
    properties = resolver.resolve(resources[api].get("Properties", {}), api)
    selection = str(properties.get("RouteSelectionExpression", ""))
    if not selection.startswith("$request.body."):
        raise TemplateError(f"{api}: only $request.body.<path> route selection runs offline")

    def of_api(kind: str) -> dict[str, dict[str, Any]]:
        return {
            name: r.get("Properties", {})
            for name, r in resources.items()
            if r.get("Type") == f"AWS::ApiGatewayV2::{kind}"
            and r.get("Properties", {}).get("ApiId") == {"Ref": api}
            and resolver.exists(name)
        }

    authorizers = {
        name: _authorizer(name, props, transformed, resolver)
        for name, props in of_api("Authorizer").items()
    }
    integrations = {
        name: _integration(name, props, transformed, resolver)
        for name, props in of_api("Integration").items()
    }
    routes: list[Route] = []
    by_logical_id: dict[str, str] = {}
    for name, props in of_api("Route").items():
        key = str(resolver.resolve(props.get("RouteKey"), f"{name}.RouteKey"))
        integration = _target(name, props.get("Target"), resolver)
        if integration not in integrations:
            raise TemplateError(f"route {key}: its target is not an integration of {api}")
        authorizer = None
        if str(resolver.resolve(props.get("AuthorizationType", "NONE"), name)) == "CUSTOM":
            authorizer = _ref(props.get("AuthorizerId"))
            if authorizer not in authorizers:
                raise TemplateError(f"route {key}: AuthorizerId names no authorizer of {api}")
            if key != CONNECT:
                raise TemplateError(f"route {key}: only $connect takes an authorizer")
        routes.append(Route(key, "ANY", key, integrations[integration], authorizer))
        by_logical_id[name] = key
    if not routes:
        raise TemplateError(f"{api} has no routes")
    two_way = frozenset(
        by_logical_id[route]
        for props in of_api("RouteResponse").values()
        if (route := _ref(props.get("RouteId"))) in by_logical_id
    )
    stages = [
        str(resolver.resolve(props.get("StageName"), f"{name}.StageName"))
        for name, props in of_api("Stage").items()
    ]
    if len(stages) != 1:
        raise TemplateError(f"{api}: expected one stage, found {stages or 'none'}")
    streams = tuple(_stream_mappings(transformed, resolver))
    return WebSocketModel(
        api_id=api,
        routes=tuple(routes),
        authorizers=authorizers,
        functions=api_functions(
            template,
            transformed,
            routes,
            authorizers,
            frozenset(stream.function for stream in streams),
        ),
        parameters=dict(transformed.parameters),
        stage=stages[0],
        selection_expression=selection,
        two_way=two_way,
        streams=streams,
    )


def _ref(node: Any) -> str | None:
    return str(node["Ref"]) if isinstance(node, dict) and set(node) == {"Ref"} else None


def _target(name: str, node: Any, resolver: Resolver) -> str | None:
    """The integration a route's ``Target`` names: ``integrations/<id>``, as a Join or a Sub."""
    node = chosen_branch(node, resolver)
    if isinstance(node, dict) and "Fn::Join" in node:
        separator, parts = node["Fn::Join"]
        parts = [chosen_branch(part, resolver) for part in parts]
        if separator == "/" and len(parts) == 2 and parts[0] == "integrations":
            return _ref(parts[1])
    if isinstance(node, dict) and isinstance(node.get("Fn::Sub"), str):
        text = str(node["Fn::Sub"])
        if text.startswith("integrations/${") and text.endswith("}"):
            return text[len("integrations/${") : -1]
    raise TemplateError(f"{name}: Target must be integrations/<integration>, got {node!r}")


def _integration(
    name: str, props: Mapping[str, Any], transformed: TransformedTemplate, resolver: Resolver
) -> str:
    kind = str(resolver.resolve(props.get("IntegrationType", ""), name))
    if kind != "AWS_PROXY":
        raise TemplateError(f"{name}: only Lambda proxy integrations run offline, not {kind!r}")
    function = referenced_function(
        chosen_branch(props.get("IntegrationUri"), resolver), transformed
    )
    if function is None:
        raise TemplateError(f"{name}: IntegrationUri names no function of the template")
    return function


def _authorizer(
    name: str, props: Mapping[str, Any], transformed: TransformedTemplate, resolver: Resolver
) -> AuthorizerSpec:
    kind = str(resolver.resolve(props.get("AuthorizerType", ""), name))
    if kind != "REQUEST":
        raise TemplateError(f"{name}: only Lambda REQUEST authorizers run offline, not {kind!r}")
    function = referenced_function(props.get("AuthorizerUri"), transformed)
    if function is None:
        raise TemplateError(f"{name}: AuthorizerUri names no function of the template")
    sources = resolver.resolve(props.get("IdentitySource", []), f"{name}.IdentitySource")
    sources = [sources] if isinstance(sources, str) else list(sources)
    for source in sources:
        if not str(source).startswith(_SOURCE_PREFIXES):
            raise TemplateError(f"{name}: identity source {source!r} does not run offline")
    return AuthorizerSpec(
        name=name,
        function=function,
        identity_source=tuple(str(source) for source in sources),
        ttl_seconds=0,  # WebSocket authorizers keep no result cache
        simple_responses=False,
    )


def _stream_mappings(transformed: TransformedTemplate, resolver: Resolver) -> list[StreamMapping]:
    """Every event source mapping from a DynamoDB stream, in this stack and those it nests."""
    found: list[StreamMapping] = []
    resources: dict[str, Any] = transformed.template.get("Resources", {})
    for name, nested in transformed.nested.items():
        if name in resources and resolver.exists(name):
            found += _stream_mappings(nested, resolver.child(name))
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping" or not resolver.exists(name):
            continue
        props = resource.get("Properties", {})
        source = props.get("EventSourceArn")
        target = source.get("Fn::GetAtt") if isinstance(source, dict) else None
        if not (isinstance(target, list) and len(target) == 2 and target[1] == "StreamArn"):
            raise TemplateError(f"{name}: only DynamoDB stream event sources run offline")
        function = _ref(props.get("FunctionName"))
        if function is None:
            raise TemplateError(f"{name}: FunctionName must name a function of the template")
        found.append(
            StreamMapping(
                table=resolver.table_name(str(target[0])),
                function=function,
                batch_size=int(resolver.resolve(props.get("BatchSize", 100), name)),
                maximum_retry_attempts=int(
                    resolver.resolve(props.get("MaximumRetryAttempts", -1), name)
                ),
            )
        )
    return found


# --- the gateway -----------------------------------------------------------------


@dataclass
class Connection:
    """One open connection: its socket, and what every route's event carries."""

    connection_id: str
    socket: ServerConnection | None
    headers: dict[str, str]
    source_ip: str
    user_agent: str
    connected_at: int  # epoch ms
    authorizer: dict[str, Any] | None = None
    last_active_at: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _message(status: int, message: str | None) -> UpgradeResponse:
    body = json.dumps({"message": message}).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return UpgradeResponse(status, HTTPStatus(status).phrase, headers, body)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _stringified(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if value is None or isinstance(value, str) else str(value)


class WebSocketGateway:
    """The upgrade, the routes and ``$disconnect`` on one port; ``@connections`` on another."""

    def __init__(
        self,
        model: WebSocketModel,
        functions: Mapping[str, LambdaFunction],
        console: Console,
        host: str,
        port: int,
        management_port: int,
    ) -> None:
        self.model = model
        self.functions = functions
        self.console = console
        self.connections: dict[str, Connection] = {}
        self._lock = threading.Lock()
        self.server: Server = serve(
            self._session,
            host,
            port,
            process_request=self._handshake,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            server_header=None,
            logger=None,
        )
        self.management: BaseWSGIServer = make_server(host, management_port, self._management)
        self.host = host

    @property
    def port(self) -> int:
        return int(self.server.socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Where clients connect, less the stage (``<url>/<stage>``), as the other APIs' URLs."""
        return f"ws://{self.host}:{self.port}"

    @property
    def management_url(self) -> str:
        return f"http://{self.host}:{self.management.server_port}{self.model.base_path}"

    def start(self) -> None:
        threading.Thread(target=self.server.serve_forever, name="local-ws-api", daemon=True).start()
        threading.Thread(
            target=self.management.serve_forever, name="local-ws-connections", daemon=True
        ).start()

    def stop(self) -> None:
        self.management.shutdown()
        self.management.server_close()
        self.server.shutdown()
        with self._lock:
            open_ = list(self.connections.values())
        for connection in open_:
            if connection.socket is not None:
                connection.socket.close()

    # --- $connect, before the upgrade ---------------------------------------------

    def _handshake(
        self, socket: ServerConnection, request: UpgradeRequest
    ) -> UpgradeResponse | None:
        started = time.perf_counter()
        parts = urlsplit(request.path)
        headers = {name: value for name, value in request.headers.raw_items()}
        query = parse_qsl(parts.query, keep_blank_values=True)
        connection = Connection(
            connection_id=base64.b64encode(secrets.token_bytes(11)).decode(),
            socket=None,
            headers=headers,
            source_ip=str(socket.remote_address[0]),
            user_agent=request.headers.get("User-Agent", ""),
            connected_at=_now_ms(),
        )
        if parts.path != self.model.base_path:
            return self._refused(_message(403, "Forbidden"), connection, "none", started)
        request_id = base64.b64encode(secrets.token_bytes(11)).decode()
        route = self.model.route(CONNECT)
        decision = "none"
        if route is not None and route.authorizer is not None:
            spec = self.model.authorizers[route.authorizer]
            values = [_identity(source, request.headers, query) for source in spec.identity_source]
            if any(not value for value in values):
                return self._refused(
                    _message(401, "Unauthorized"), connection, "unauthorized", started
                )
            decision, context = self._authorize(
                spec, connection, request.headers, query, request_id
            )
            if decision == "unauthorized":
                return self._refused(_message(401, "Unauthorized"), connection, decision, started)
            if decision == "deny":
                return self._refused(_message(403, "Forbidden"), connection, decision, started)
            if decision != "allow":
                return self._refused(
                    _message(500, "Internal server error"), connection, decision, started
                )
            connection.authorizer = context
        if route is not None:
            event = self._event(connection, CONNECT, "CONNECT", request_id)
            event.update(_request_parts(request.headers, query))
            status = self._integration_status(route, event, request_id)
            if not 200 <= status <= 299:
                return self._refused(_message(status, None), connection, decision, started)
        socket.local_connection = connection  # type: ignore[attr-defined]
        self._line(f"$connect 101 authorizer={decision}", connection, started)
        return None

    def _refused(
        self, response: UpgradeResponse, connection: Connection, decision: str, started: float
    ) -> UpgradeResponse:
        self._line(f"$connect {response.status_code} authorizer={decision}", connection, started)
        return response

    def _authorize(
        self,
        spec: AuthorizerSpec,
        connection: Connection,
        headers: Headers,
        query: list[tuple[str, str]],
        request_id: str,
    ) -> tuple[str, dict[str, Any] | None]:
        arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{self.model.stage}/{CONNECT}"
        event = {
            "type": "REQUEST",
            "methodArn": arn,
            **_request_parts(headers, query),
            "stageVariables": {},
            "requestContext": self._request_context(connection, CONNECT, "CONNECT", request_id),
        }
        function = self.functions[spec.function]
        timeout = min(function.spec.timeout_seconds, AUTHORIZER_TIMEOUT_SECONDS)
        try:
            answer = function.invoke(event, request_id, timeout)
        except InvocationError as err:
            message = getattr(err, "error_message", None)
            if message == "Unauthorized":
                return "unauthorized", None
            self.console.line("ws", f"authorizer {spec.name} failed ({err.reason})")
            return "error", None
        if not isinstance(answer, dict) or not isinstance(answer.get("principalId"), str):
            return "error", None
        context = answer.get("context", {})
        if not isinstance(context, dict):
            return "error", None
        try:
            effect = evaluate(answer.get("policyDocument"), arn)
        except InvalidPolicy:
            return "error", None
        if effect is not Effect.ALLOW:
            return "deny", None
        return "allow", {
            "principalId": answer["principalId"],
            "integrationLatency": 0,
            **{key: _stringified(value) for key, value in context.items()},
        }

    # --- messages and $disconnect ----------------------------------------------------

    def _session(self, socket: ServerConnection) -> None:
        connection: Connection = socket.local_connection  # type: ignore[attr-defined]
        connection.socket = socket
        connection.last_active_at = _now_ms()
        with self._lock:
            self.connections[connection.connection_id] = connection
        try:
            for message in socket:
                connection.last_active_at = _now_ms()
                self._route(connection, message)
        except Exception as err:  # noqa: BLE001 - a broken socket ends the session like a close
            self.console.line(
                "ws", f"connection {connection.connection_id} ended: {type(err).__name__}"
            )
        finally:
            with self._lock:
                self.connections.pop(connection.connection_id, None)
            self._disconnected(connection, socket)

    def _route(self, connection: Connection, message: str | bytes) -> None:
        started = time.perf_counter()
        request_id = base64.b64encode(secrets.token_bytes(11)).decode()
        key = self._selected(message)
        route = self.model.route(key) if key is not None else None
        if route is None:
            route = self.model.route(DEFAULT)
        if route is None:
            self._send(
                connection,
                json.dumps(
                    {
                        "message": "Forbidden",
                        "connectionId": connection.connection_id,
                        "requestId": request_id,
                    }
                ),
            )
            self._line("message -> no route", connection, started)
            return
        event = self._event(connection, route.route_key, "MESSAGE", request_id)
        event["body"] = message if isinstance(message, str) else base64.b64encode(message).decode()
        event["isBase64Encoded"] = not isinstance(message, str)
        function = self.functions[route.function]
        try:
            result = function.invoke(event, request_id, INTEGRATION_TIMEOUT_SECONDS)
        except InvocationError as err:
            self.console.line("ws", f"{function.name} failed ({err.reason})")
            self._send(
                connection,
                json.dumps(
                    {
                        "message": "Internal server error",
                        "connectionId": connection.connection_id,
                        "requestId": request_id,
                    }
                ),
            )
            return
        if route.route_key in self.model.two_way:
            self._send(connection, _route_response(result))
        self._line(f"message -> {route.route_key}", connection, started)

    def _selected(self, message: str | bytes) -> str | None:
        """The route key the selection expression picks from a JSON body, if any."""
        found: Any
        if not isinstance(message, str):
            return None
        try:
            value: Any = json.loads(message)
        except ValueError:
            return None
        for part in self.model.selection_expression[len("$request.body.") :].split("."):
            value = value.get(part) if isinstance(value, dict) else None
        found = value
        return found if isinstance(found, str) else None

    def _disconnected(self, connection: Connection, socket: ServerConnection) -> None:
        started = time.perf_counter()
        route = self.model.route(DISCONNECT)
        if route is None:
            return
        request_id = base64.b64encode(secrets.token_bytes(11)).decode()
        event = self._event(connection, DISCONNECT, "DISCONNECT", request_id)
        event["requestContext"]["disconnectStatusCode"] = socket.close_code
        event["requestContext"]["disconnectReason"] = socket.close_reason or ""
        event["headers"] = dict(connection.headers)
        self._integration_status(route, event, request_id)
        self._line("$disconnect", connection, started)

    def _send(self, connection: Connection, data: str | bytes) -> bool:
        socket = connection.socket
        if socket is None:
            return False
        try:
            with connection.lock:
                socket.send(data)
        except Exception:  # noqa: BLE001 - closed meanwhile: the caller answers "gone"
            return False
        return True

    # --- events --------------------------------------------------------------------

    def _request_context(
        self, connection: Connection, route_key: str, event_type: str, request_id: str
    ) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "messageDirection": "IN",
            "stage": self.model.stage,
            "connectedAt": connection.connected_at,
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": connection.source_ip, "userAgent": connection.user_agent},
            "requestId": request_id,
            "domainName": f"{self.host}:{self.port}",
            "connectionId": connection.connection_id,
            "apiId": API_ID,
        }

    def _event(
        self, connection: Connection, route_key: str, event_type: str, request_id: str
    ) -> dict[str, Any]:
        context = self._request_context(connection, route_key, event_type, request_id)
        if event_type == "MESSAGE":
            context["messageId"] = base64.b64encode(secrets.token_bytes(11)).decode()
        if connection.authorizer is not None:
            context["authorizer"] = dict(connection.authorizer)
        return {"requestContext": context, "isBase64Encoded": False}

    def _integration_status(self, route: Route, event: dict[str, Any], request_id: str) -> int:
        function = self.functions[route.function]
        try:
            result = function.invoke(event, request_id, INTEGRATION_TIMEOUT_SECONDS)
        except InvocationError as err:
            self.console.line("ws", f"{function.name} failed ({err.reason})")
            return 500
        status = result.get("statusCode", 200) if isinstance(result, dict) else 200
        return status if isinstance(status, int) and not isinstance(status, bool) else 500

    def _line(self, what: str, connection: Connection, started: float) -> None:
        # Never the path's query string nor a header: the token may be in either.
        latency = (time.perf_counter() - started) * 1000
        self.console.line("ws", f"{what} {latency:.1f}ms connectionId={connection.connection_id}")

    # --- @connections -----------------------------------------------------------

    def _management(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self._manage(request)
        self.console.line("ws", f"@connections {request.method} {response.status_code}")
        return response(environ, start_response)

    def _manage(self, request: Request) -> Response:
        prefix = f"{self.model.base_path}/@connections/"
        if not request.path.startswith(prefix):
            return Response(
                json.dumps({"message": "Not Found"}), 404, content_type="application/json"
            )
        connection_id = request.path[len(prefix) :]
        with self._lock:
            connection = self.connections.get(connection_id)
        if connection is None or connection.socket is None:
            gone = Response(json.dumps({"message": None}), 410, content_type="application/json")
            gone.headers["x-amzn-ErrorType"] = "GoneException"
            return gone
        if request.method == "POST":
            data = request.get_data(cache=False)
            try:
                payload: str | bytes = data.decode("utf-8")
            except UnicodeDecodeError:
                payload = data
            if not self._send(connection, payload):
                return self._manage(request)  # gone meanwhile
            return Response(b"", 200)
        if request.method == "GET":
            return Response(
                json.dumps(
                    {
                        "connectedAt": _iso(connection.connected_at),
                        "identity": {
                            "sourceIp": connection.source_ip,
                            "userAgent": connection.user_agent,
                        },
                        "lastActiveAt": _iso(connection.last_active_at),
                    }
                ),
                200,
                content_type="application/json",
            )
        if request.method == "DELETE":
            connection.socket.close()
            return Response(b"", 204)
        return Response(json.dumps({"message": "Method Not Allowed"}), 405)


def _identity(source: str, headers: Headers, query: list[tuple[str, str]]) -> str | None:
    if source.startswith("route.request.header."):
        return headers.get(source[len("route.request.header.") :])
    name = source[len("route.request.querystring.") :]
    return next((value for key, value in query if key == name), None)


def _request_parts(headers: Headers, query: list[tuple[str, str]]) -> dict[str, Any]:
    single: dict[str, str] = {}
    multiple: dict[str, list[str]] = {}
    for name, value in headers.raw_items():
        single[name] = value
        multiple.setdefault(name, []).append(value)
    parameters: dict[str, str] = {}
    every: dict[str, list[str]] = {}
    for key, value in query:
        parameters[key] = value
        every.setdefault(key, []).append(value)
    parts: dict[str, Any] = {"headers": single, "multiValueHeaders": multiple}
    if parameters:
        parts["queryStringParameters"] = parameters
        parts["multiValueQueryStringParameters"] = every
    return parts


def _route_response(result: Any) -> str:
    """What a two-way route sends back: a proxy result's body, else the result as JSON."""
    if isinstance(result, dict) and "statusCode" in result:
        body = result.get("body")
        if isinstance(body, str) and result.get("isBase64Encoded") is True:
            return base64.b64decode(body).decode("utf-8", "replace")
        return body if isinstance(body, str) else ""
    return result if isinstance(result, str) else json.dumps(result)


def _iso(epoch_ms: int) -> str:
    return datetime.datetime.fromtimestamp(epoch_ms / 1000, datetime.UTC).isoformat()
