"""``make run``: the local Cognito, the functions and the HTTP API, up and down together."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from werkzeug.serving import BaseWSGIServer, make_server

from local.cfn import ACCOUNT_ID, REGION, Resolver, parameter_values
from local.cognito import DUMMY_KEY, LocalCognito, LocalPool, bootstrap, trusted_pools_setting
from local.console import Console
from local.dynamodb import create_tables
from local.exceptions import InvocationError, StartupError, TemplateError
from local.functions import LambdaFunction
from local.metrics import MetricsCollector, summary_lines, wsgi_app
from local.preflight import check_functions, check_result_caches, check_rules
from local.rest import make_emulator, rest_route_keys
from local.sam import Attachment, SamTemplate
from local.streams import StreamPoller
from local.template import ApiModel, load_api
from local.tenants import REGISTRY_PARAMETER, LocalTenant, key_url, make_tenants, register
from local.websocket import WebSocketGateway, WebSocketModel

POOL_PARAMETER: Final = "UserPoolId"
CLIENTS_PARAMETER: Final = "AppClientIds"
POOLS_PARAMETER: Final = "UserPools"
MAX_LOCAL_POOLS: Final = 3
# A template that names the authorizer by ARN (examples/) declares this parameter;
# offline, the authorizer application runs beside it and the ARN names its function.
AUTHORIZER_ARN_PARAMETER: Final = "AuthorizerArn"
AUTHORIZER_APPLICATION: Final = Path(__file__).resolve().parents[1] / "authorizer" / "template.yaml"
AUTHORIZER_OUTPUT: Final = "AuthorizerArn"
LOCAL_AUTHORIZER_ARN: Final = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:local-authorizer"
# Its sign-out function (Revocation=true), for a template that routes POST /signout to it.
SIGN_OUT_ARN_PARAMETER: Final = "SignOutFunctionArn"
SIGN_OUT_OUTPUT: Final = "SignOutFunctionArn"
LOCAL_SIGN_OUT_ARN: Final = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:local-signout"
_REST_API_TYPES: Final = frozenset({"AWS::Serverless::Api", "AWS::ApiGateway::RestApi"})
DEFAULT_STATE_FILE: Final = Path(".local-state/stack.json")
# The hang-up function's setting naming the connections management API (authorizer/template.yaml).
CONNECTIONS_ENDPOINT: Final = "CONNECTIONS_ENDPOINT"


@dataclass
class OfflineOptions:
    template: Path = Path("template.yaml")
    host: str = "127.0.0.1"
    api_port: int = 3000
    cognito_port: int = 9229
    # Its own port: a path on the API's port could shadow a route of the template.
    metrics_port: int = 3001
    # A WebSocket API's connections management API (@connections): the WebSocket
    # library serves only upgrades, so it has a port of its own.
    connections_port: int = 3002
    state_file: Path = DEFAULT_STATE_FILE
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    # Trusted local pools (1 to MAX_LOCAL_POOLS). With more than one, the
    # authorizer trusts them through UserPools, and one more pool is made that
    # it does not trust, so a valid token from an untrusted pool can be shown denied.
    pools: int = 1
    # Tenants (0 to MAX_LOCAL_TENANTS), each a pool of its own in the tenant registry
    # (TenantRegistry=true), and one more pool registered nowhere, denied until added.
    tenants: int = 0


class OfflineServices:
    """Starts in dependency order (Cognito, functions, API) and stops in reverse."""

    def __init__(self, options: OfflineOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.cognito: LocalCognito | None = None
        self.pool: LocalPool | None = None
        self.pools: list[LocalPool] = []
        self.untrusted: LocalPool | None = None
        self.tenants: list[LocalTenant] = []
        self.model: ApiModel | None = None
        self.attachments: tuple[Attachment, ...] = ()
        self.functions: dict[str, LambdaFunction] = {}
        self.server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None
        self.metrics = MetricsCollector()
        self.metrics_server: BaseWSGIServer | None = None
        # What the attached application is given because the template's REST API needs it.
        self.inferred: dict[str, str] = {}
        # The template's DynamoDB tables, created in moto: their names by logical id.
        self.tables: dict[str, str] = {}
        # A WebSocket API (template-websocket.yaml) instead of the HTTP server, and
        # the stream event source mappings its functions are fed by.
        self.websocket: WebSocketGateway | None = None
        self.pollers: list[StreamPoller] = []

    @property
    def api_url(self) -> str:
        if self.websocket is not None:
            return self.websocket.url
        assert self.server is not None
        return f"http://{self.options.host}:{self.server.server_port}"

    @property
    def metrics_url(self) -> str:
        assert self.metrics_server is not None
        return f"http://{self.options.host}:{self.metrics_server.server_port}"

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        options = self.options
        # Our own access line replaces werkzeug's; moto's request lines are noise here.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.cognito = _bind(
            "local Cognito", lambda: LocalCognito(options.host, options.cognito_port)
        )
        self.cognito.start()
        self.pool = bootstrap(self.cognito.endpoint)
        self.pools = [self.pool] + [
            bootstrap(self.cognito.endpoint, f"offline-pool-{n}")
            for n in range(2, options.pools + 1)
        ]
        if options.pools > 1 or options.tenants:
            self.untrusted = bootstrap(self.cognito.endpoint, "offline-untrusted")
        self.tenants = make_tenants(self.cognito.endpoint, options.tenants)

        template = SamTemplate.read(options.template)
        overrides, self.attachments = self._parameters(template)
        transformed = template.transform(overrides, self.attachments)
        # What a deploy would refuse stops the start before any function runs, with the
        # rule's or the cold start's own message (local/preflight.py).
        resolver = transformed.resolver()
        check_rules(transformed, resolver)
        self.model = load_api(template, overrides, self.attachments, transformed)
        check_functions(self.model.functions)
        check_result_caches(transformed, resolver, self.model.functions)
        self.tables = create_tables(transformed, self.cognito.endpoint)
        if self.tenants:  # registered before any cold start reads the registry
            register(self.tenants, self.tables, self.cognito.endpoint)
        # With tables to reach, every function gets what Lambda gives it for AWS
        # (credentials, here dummy ones) and the SDK's endpoint setting, so its
        # boto3 calls reach moto; without, no function gets either.
        aws = (
            {
                "AWS_ENDPOINT_URL": self.cognito.endpoint,
                "AWS_ACCESS_KEY_ID": DUMMY_KEY,
                "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            }
            if self.tables
            else {}
        )
        if isinstance(self.model, WebSocketModel):
            model = self.model
            self.websocket = _bind(
                "local WebSocket API",
                lambda: WebSocketGateway(
                    model,
                    self.functions,
                    self.console,
                    options.host,
                    options.api_port,
                    options.connections_port,
                ),
            )
        template_dir = options.template.resolve().parent
        authorizer_functions = self.model.authorizer_functions()
        for name, spec in self.model.functions.items():
            # Only the authorizer learns where the local key set is (with several
            # pools, UserPools names each pool's); a function that closes WebSocket
            # connections, where the local connections API is; nothing else changes.
            local_keys = {"JWKS_URL": self.pool.jwks_url} if options.pools == 1 else {}
            if self.tenants:
                local_keys["TENANT_JWKS_URL"] = key_url(self.cognito.endpoint)
            extra = {**aws, **(local_keys if name in authorizer_functions else {})}
            if self.websocket is not None and CONNECTIONS_ENDPOINT in spec.environment:
                extra[CONNECTIONS_ENDPOINT] = self.websocket.management_url
            code_dirs = [spec.code_dir] + ([template_dir] if template_dir != spec.code_dir else [])
            self.functions[name] = LambdaFunction(
                spec,
                self.console,
                extra_env=extra,
                code_dirs=code_dirs,
                on_output=self.metrics.feed,
            )
        errors = []
        for function in self.functions.values():
            try:
                function.warm()
            except InvocationError as err:
                errors.append(f"{function.name}: {err}")
        if errors:
            raise StartupError("cold start failed: " + "; ".join(errors))

        if self.websocket is not None:
            assert isinstance(self.model, WebSocketModel)
            for stream in self.model.streams:
                poller = StreamPoller(
                    self.cognito.endpoint,
                    stream.table,
                    self.functions[stream.function],
                    self.console,
                    batch_size=stream.batch_size,
                    maximum_retry_attempts=stream.maximum_retry_attempts,
                )
                poller.start()
                self.pollers.append(poller)
            self.websocket.start()
        else:
            app = make_emulator(self.model, self.functions, self.console)
            self.server = _bind(
                "local HTTP API",
                lambda: make_server(options.host, options.api_port, app, threaded=True),
            )
            self._server_thread = threading.Thread(
                target=self.server.serve_forever, name="local-http-api", daemon=True
            )
            self._server_thread.start()
        self.metrics_server = _bind(
            "local metrics endpoint",
            lambda: make_server(options.host, options.metrics_port, wsgi_app(self.metrics)),
        )
        threading.Thread(
            target=self.metrics_server.serve_forever, name="local-metrics", daemon=True
        ).start()

    def _parameters(self, template: SamTemplate) -> tuple[dict[str, str], tuple[Attachment, ...]]:
        """The template's parameter values, pointed at the local pool(s); and the authorizer
        application attached when the template takes the authorizer by ARN.

        Attached, the application takes the pool settings and every override that
        names one of its parameters; one both declare (Revocation,
        RevocationRefreshSeconds) goes to both, as one setting of both deploys. The
        application's sign-out function, when it has one, is bound to the template's
        SignOutFunctionArn; and a REST API's template gets the application set for
        it, as its deploy must be: ApiType rest, ApiRoutes every method of the API
        (unless given)."""
        overrides = self.options.parameter_overrides
        declared = template.parameter_names
        if AUTHORIZER_ARN_PARAMETER not in declared or AUTHORIZER_ARN_PARAMETER in overrides:
            return self._with_pools(template, overrides), ()
        application = SamTemplate.read(AUTHORIZER_APPLICATION)
        theirs = {k: v for k, v in overrides.items() if k in application.parameter_names}
        own = {
            k: v
            for k, v in overrides.items()
            if k in declared or k not in application.parameter_names
        }
        parameters = self._with_pools(application, theirs)
        also: dict[str, tuple[str, str]] = {}
        if (
            SIGN_OUT_ARN_PARAMETER in declared
            and SIGN_OUT_ARN_PARAMETER not in overrides
            and _creates_output(application, parameters, SIGN_OUT_OUTPUT)
        ):
            also[SIGN_OUT_ARN_PARAMETER] = (SIGN_OUT_OUTPUT, LOCAL_SIGN_OUT_ARN)
        if _declares_rest_api(template):
            arns = {p: arn for p, (_, arn) in also.items()}
            arns[AUTHORIZER_ARN_PARAMETER] = LOCAL_AUTHORIZER_ARN
            routes = rest_route_keys(template.transform({**own, **arns}))
            inferred = {"ApiType": "rest", "ApiRoutes": ",".join(routes)}
            self.inferred = {k: v for k, v in inferred.items() if k not in parameters}
            parameters = {**inferred, **parameters}
        attachment = Attachment(
            parameter=AUTHORIZER_ARN_PARAMETER,
            template=application,
            parameters=parameters,
            output=AUTHORIZER_OUTPUT,
            arn=LOCAL_AUTHORIZER_ARN,
            also=also,
        )
        return dict(own), (attachment,)

    def _with_pools(self, template: SamTemplate, overrides: Mapping[str, str]) -> dict[str, str]:
        """``overrides`` over the local pool settings the template has parameters for."""
        declared = template.parameter_names
        local: dict[str, str] = {}
        if self.tenants:
            if REGISTRY_PARAMETER not in declared:
                raise StartupError(f"{template.path} has no {REGISTRY_PARAMETER} parameter")
            local[REGISTRY_PARAMETER] = "true"
        if len(self.pools) > 1:
            if POOLS_PARAMETER not in declared:
                raise StartupError(f"{template.path} has no {POOLS_PARAMETER} parameter")
            local[POOLS_PARAMETER] = trusted_pools_setting(self.pools)
            return {**local, **overrides}
        if POOL_PARAMETER in declared:
            local[POOL_PARAMETER] = self.pools[0].user_pool_id
        if CLIENTS_PARAMETER in declared:
            local[CLIENTS_PARAMETER] = self.pools[0].client_id
        if len(local) < 2:
            self.console.line(
                "stack",
                f"warning: {template.path} lacks a {POOL_PARAMETER}/{CLIENTS_PARAMETER} parameter; "
                "the functions are not pointed at the local pool by parameters",
            )
        return {**local, **overrides}

    def write_state(self) -> None:
        """Publish the state file (``make token`` and tests read it) atomically.

        Readers take the file's existence as "the stack is up", so it appears
        complete or not at all: written to a temporary file in the same
        directory, then renamed over the final name.
        """
        assert self.pool is not None
        assert self.model is not None
        state: dict[str, Any] = {
            "pid": os.getpid(),
            "apiUrl": self.api_url,
            "metricsUrl": self.metrics_url,
            "cognito": self.pool.to_dict(),
            "pools": [pool.to_dict() for pool in self.pools],
            "untrusted": self.untrusted.to_dict() if self.untrusted else None,
            "tenants": [tenant.to_dict() for tenant in self.tenants],
            "template": str(self.options.template),
            "parameters": self.model.parameters,
            "tables": self.tables,
        }
        if self.websocket is not None:
            state["connectionsUrl"] = self.websocket.management_url
        path = self.options.state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        # The demo password is for a throwaway local pool; still, only this user reads it:
        # mkstemp creates the file with mode 0600, and os.replace keeps that mode.
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=2)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.websocket is not None:
            self.websocket.stop()
            self.websocket = None
        for server in (self.server, self.metrics_server):
            if server is not None:
                server.shutdown()
                server.server_close()
        self.server = self.metrics_server = None
        for function in self.functions.values():
            function.stop()
        if self.cognito is not None:
            self.cognito.stop()
            self.cognito = None
        state = self.options.state_file
        try:
            if json.loads(state.read_text(encoding="utf-8")).get("pid") == os.getpid():
                state.unlink()
        except (OSError, ValueError):
            pass

    def banner(self) -> str:
        assert self.pool is not None
        assert self.model is not None
        pool, model = self.pool, self.model
        hello = f"{self.api_url}{model.base_path}/hello"
        lines = [
            "",
            "Offline stack is up (Ctrl-C stops it)",
            "",
            f"  Local Cognito   {pool.endpoint}",
        ]
        for number, local in enumerate(self.pools, start=1):
            lines += [
                f"    user pool     {local.user_pool_id}"
                + (f"  (POOL={number})" if len(self.pools) > 1 else ""),
                f"    app client    {local.client_id}",
                f"    demo user     {local.username} / {local.password}  (group: {local.group})",
                f"    issuer        {local.issuer}",
                f"    JWKS          {local.jwks_url}",
            ]
        for tenant in self.tenants:
            lines.append(
                f"    tenant        {tenant.tenant_id:<9} {tenant.pool.user_pool_id}  "
                f"(plan {tenant.plan}; TENANT={tenant.tenant_id})"
            )
        if self.untrusted is not None:
            lines.append(
                f"    not trusted   {self.untrusted.user_pool_id}  "
                f"(app client {self.untrusted.client_id}; POOL=untrusted: denied)"
            )
        for logical_id, table in self.tables.items():
            lines.append(f"  DynamoDB        {table}  ({logical_id}, on {pool.endpoint})")
        lines += [
            "",
            f"  {model.kind:<16}{self.api_url}{model.base_path}  "
            f"({self.options.template}, {model.api_id})",
        ]
        for attachment in self.attachments:
            for parameter, (_, arn) in attachment.bindings.items():
                lines.append(
                    f"    {parameter} = {arn}: the application in "
                    f"{shown_path(attachment.template.path)}"
                )
        for name, value in self.inferred.items():
            lines.append(f"    {name}={value}: for the application, as the REST API needs")
        for route in model.routes:
            if route.authorizer is None:
                guard = "no authorizer"
            else:
                spec = model.authorizers[route.authorizer]
                guard = (
                    f"{spec.name} -> {spec.function} "
                    f"(identity {', '.join(spec.identity_source) or '-'}, "
                    f"TTL {spec.ttl_seconds}s)"
                )
            lines.append(f"    {route.route_key:<22} -> {route.function:<20} {guard}")
        if self.websocket is not None:
            url = f"{self.api_url}{model.base_path}"
            lines += [
                f"    @connections          {self.websocket.management_url}/@connections/<id>",
                "",
                f"  Metrics         {self.metrics_url}  (the dashboard's numbers; /json as JSON)",
                "",
                "  Try it in another terminal (docs/websocket.md, 'Try it offline'):",
                f"    .venv/bin/python -m websockets {url}   # 401: no token",
                "    TOKEN=$(make -s token | tail -1)",
                f'    .venv/bin/python -m websockets "{url}?token=$TOKEN"',
                '    > {"action": "hello", "firstName": "Brian", "lastName": "Morrison"}',
                "",
                "  Below: one 'ws' line per connect, message and disconnect (never the",
                "  query string or a header), and each function's own log lines.",
                "",
            ]
            return "\n".join(lines)
        lines += [
            "",
            f"  Metrics         {self.metrics_url}  (the dashboard's numbers; /json as JSON)",
            "",
            "  Try it in another terminal (README.md, 'Try it offline'):",
            f"    curl -i {hello}                      # 401: no token",
            "    TOKEN=$(make -s token | tail -1)",
            f'    curl -i -X POST {hello} -H "Authorization: Bearer $TOKEN" \\',
            "      -H 'Content-Type: application/json' \\",
            '      -d \'{"firstName": "Brian", "lastName": "Morrison"}\'',
            "",
            "  Below: one 'api' access line per request (authorizer=allow|deny|error|",
            "  unauthorized|none; '(cached)' when the authorizer result cache answered),",
            "  and each function's own log lines, prefixed with its name.",
            "",
        ]
        return "\n".join(lines)


def _creates_output(application: SamTemplate, parameters: Mapping[str, str], output: str) -> bool:
    """Whether the application, deployed with these values, has the output (its Condition holds)."""
    condition = ((application.source.get("Outputs") or {}).get(output) or {}).get("Condition")
    if condition is None:
        return output in (application.source.get("Outputs") or {})
    values = parameter_values(application.source, parameters)
    return Resolver(application.source, values).condition(str(condition))


def _declares_rest_api(template: SamTemplate) -> bool:
    resources = template.source.get("Resources") or {}
    return any(isinstance(r, dict) and r.get("Type") in _REST_API_TYPES for r in resources.values())


def shown_path(path: Path) -> str:
    """A path as a user reads it: relative to where `make run` runs, when it is below."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _bind(what: str, create: Any) -> Any:
    try:
        return create()
    except OSError as err:
        raise StartupError(f"cannot start the {what}: {err.strerror or err}") from None


def serve_until_interrupted(options: OfflineOptions) -> int:
    console = Console()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise SystemExit(130)  # a second Ctrl-C: stop waiting for a clean shutdown
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    services = OfflineServices(options, console)
    try:
        try:
            services.start()
        except (StartupError, TemplateError) as err:
            console.line("", f"error: {err}")
            return 1
        console.line("", services.banner())
        # Only now: whoever waits for the state file finds the banner already printed.
        try:
            services.write_state()
        except OSError as err:
            console.line("", f"error: cannot write {options.state_file}: {err}")
            return 1
        while not stop.wait(0.5):
            pass
        console.line("", "\nstopping...")
    finally:
        services.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # After the functions stopped: every line they wrote has been read.
    for line in summary_lines(services.metrics.snapshot()):
        console.line("", line)
    console.line("", "stopped")
    return 0


def read_state(path: Path) -> Mapping[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StartupError(f"{path} not found: is `make run` running?") from None
    except (OSError, ValueError) as err:
        raise StartupError(f"cannot read {path}: {err}") from None
    if not isinstance(state, dict) or not isinstance(state.get("cognito"), dict):
        raise StartupError(f"{path} is not a state file written by `make run`")
    return state
