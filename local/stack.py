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

from local.cognito import LocalCognito, LocalPool, bootstrap
from local.console import Console
from local.exceptions import InvocationError, StartupError, TemplateError
from local.functions import LambdaFunction
from local.rest import make_emulator
from local.sam import SamTemplate
from local.template import ApiModel, load_api

POOL_PARAMETER: Final = "UserPoolId"
CLIENTS_PARAMETER: Final = "AppClientIds"
DEFAULT_STATE_FILE: Final = Path(".local-state/stack.json")


@dataclass
class OfflineOptions:
    template: Path = Path("template.yaml")
    host: str = "127.0.0.1"
    api_port: int = 3000
    cognito_port: int = 9229
    state_file: Path = DEFAULT_STATE_FILE
    parameter_overrides: dict[str, str] = field(default_factory=dict)


class OfflineServices:
    """Starts in dependency order (Cognito, functions, API) and stops in reverse."""

    def __init__(self, options: OfflineOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.cognito: LocalCognito | None = None
        self.pool: LocalPool | None = None
        self.model: ApiModel | None = None
        self.functions: dict[str, LambdaFunction] = {}
        self.server: BaseWSGIServer | None = None
        self._server_thread: threading.Thread | None = None

    @property
    def api_url(self) -> str:
        assert self.server is not None
        return f"http://{self.options.host}:{self.server.server_port}"

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

        template = SamTemplate.read(options.template)
        self.model = load_api(template, self._parameters(template, self.pool))
        template_dir = options.template.resolve().parent
        authorizer_functions = self.model.authorizer_functions()
        for name, spec in self.model.functions.items():
            # Only the authorizer learns where the local key set is; nothing else changes.
            extra = {"JWKS_URL": self.pool.jwks_url} if name in authorizer_functions else {}
            code_dirs = [spec.code_dir] + ([template_dir] if template_dir != spec.code_dir else [])
            self.functions[name] = LambdaFunction(
                spec, self.console, extra_env=extra, code_dirs=code_dirs
            )
        errors = []
        for function in self.functions.values():
            try:
                function.warm()
            except InvocationError as err:
                errors.append(f"{function.name}: {err}")
        if errors:
            raise StartupError("cold start failed: " + "; ".join(errors))

        app = make_emulator(self.model, self.functions, self.console)
        self.server = _bind(
            "local HTTP API",
            lambda: make_server(options.host, options.api_port, app, threaded=True),
        )
        self._server_thread = threading.Thread(
            target=self.server.serve_forever, name="local-http-api", daemon=True
        )
        self._server_thread.start()

    def _parameters(self, template: SamTemplate, pool: LocalPool) -> dict[str, str]:
        declared = template.parameter_names
        local: dict[str, str] = {}
        if POOL_PARAMETER in declared:
            local[POOL_PARAMETER] = pool.user_pool_id
        if CLIENTS_PARAMETER in declared:
            local[CLIENTS_PARAMETER] = pool.client_id
        if len(local) < 2:
            self.console.line(
                "stack",
                f"warning: {template.path} lacks a {POOL_PARAMETER}/{CLIENTS_PARAMETER} parameter; "
                "the functions are not pointed at the local pool by parameters",
            )
        return {**local, **self.options.parameter_overrides}

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
            "cognito": self.pool.to_dict(),
            "template": str(self.options.template),
            "parameters": self.model.parameters,
        }
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
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
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
            f"    user pool     {pool.user_pool_id}",
            f"    app client    {pool.client_id}",
            f"    demo user     {pool.username} / {pool.password}  (group: {pool.group})",
            f"    issuer        {pool.issuer}",
            f"    JWKS          {pool.jwks_url}",
            "",
            f"  {model.kind:<16}{self.api_url}{model.base_path}  "
            f"({self.options.template}, {model.api_id})",
        ]
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
        lines += [
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
