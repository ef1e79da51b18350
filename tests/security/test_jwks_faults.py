"""The JWKS endpoint's fault matrix, against a real HTTP server on 127.0.0.1.

Every fault is run through the whole authorizer (handler, verifier, cache, the
real ``fetch_jwks`` over a socket) in the two situations SECURITY.md describes:

- no usable cached key: the authorizer raises (API Gateway answers 500 and
  does not cache it) well inside API Gateway's 10 s limit, does not hammer the
  endpoint inside the cooldown, and allows again once the endpoint is back;
- keys already held and the cache expired: the stale keys keep serving (with
  a warning), and a later refresh, after the cooldown, picks up a rotated set.

Time here is real for the network and fake for the cache: the fake clock jumps
over JWKS_CACHE_SECONDS and the cooldown, the sockets time out for real.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from authorizer.exceptions import JwksError, JwksFetchError
from authorizer.verification.jwks import READ_TIMEOUT_SECONDS, USER_AGENT, fetch_jwks
from tests.forge import authorizer_event, claims, forged_key, jwks_body, sign
from tests.helpers import FakeClock, WiredAuthorizer, log_records, make_config, wire_authorizer

KEY: Final = forged_key()
ROTATED: Final = forged_key("key-2")
CACHE_SECONDS: Final = 60
COOLDOWN_SECONDS: Final = 10
# API Gateway gives an authorizer 10 s; a fault must be over well before that.
ANSWER_BOUND_SECONDS: Final = 6.0
JWKS_PATH: Final = "/.well-known/jwks.json"
UNRESOLVABLE_URL: Final = "https://jwks.invalid/.well-known/jwks.json"
# The documented cap (README, SECURITY.md: API Gateway's own JWKS limit), not the code's constant.
DOCUMENTED_CAP: Final = 150_000

Behaviour = Callable[["Handler"], None]


# --- the server ---------------------------------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    server: JwksHttpServer

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.seen.append((self.path, self.headers.get("User-Agent", "")))
        behaviour = owner.routes.get(self.path, owner.behaviour)
        with contextlib.suppress(ConnectionError):  # the client may hang up first: fine
            behaviour(self)
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def raw(self, data: bytes) -> None:
        self.wfile.write(data)
        self.wfile.flush()

    def head(self, status: str, headers: dict[str, str]) -> None:
        lines = [f"HTTP/1.1 {status}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.raw(("\r\n".join(lines) + "\r\n\r\n").encode())

    def pause(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; True if it is."""
        return self.server.owner.stopping.wait(seconds)


class JwksHttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    owner: LocalJwksServer


@dataclass
class LocalJwksServer:
    """A JWKS endpoint on 127.0.0.1 (a free port) whose answer the test chooses."""

    behaviour: Behaviour
    routes: dict[str, Behaviour] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    port: int = 0
    _server: JwksHttpServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{JWKS_PATH}"

    @property
    def fetches(self) -> int:
        return sum(1 for path, _ in self.seen if path == JWKS_PATH)

    def start(self) -> None:
        server = JwksHttpServer(("127.0.0.1", self.port), Handler)
        server.owner = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until start()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None


@pytest.fixture
def jwks_server() -> Iterator[LocalJwksServer]:
    server = LocalJwksServer(behaviour=keys(KEY))
    server.start()
    try:
        yield server
    finally:
        server.stopping.set()  # wakes any handler that is still pausing
        server.stop()


# --- behaviours: what the endpoint answers --------------------------------------------


def keys(*forged: Any) -> Behaviour:
    return body(jwks_body(*forged))


def body(
    data: bytes, *, status: str = "200 OK", content_type: str | None = "application/json"
) -> Behaviour:
    def answer(handler: Handler) -> None:
        headers = {"Content-Length": str(len(data))}
        if content_type is not None:
            headers["Content-Type"] = content_type
        handler.head(status, headers)
        handler.raw(data)

    return answer


def truncated(handler: Handler) -> None:
    """Content-Length promises more than is sent, then the connection closes."""
    whole = jwks_body(KEY)
    handler.head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(whole))})
    handler.raw(whole[: len(whole) // 2])


def over_cap_declared(handler: Handler) -> None:
    """A key set padded past the cap, with an honest Content-Length."""
    data = jwks_body(KEY) + b" " * DOCUMENTED_CAP
    handler.head("200 OK", {"Content-Type": "application/json", "Content-Length": str(len(data))})
    handler.raw(data)


def over_cap_chunked(handler: Handler) -> None:
    """The same, chunked: no length up front, so only counting the bytes can stop it."""
    handler.head("200 OK", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    data = jwks_body(KEY) + b" " * DOCUMENTED_CAP
    for start in range(0, len(data), 8192):
        chunk = data[start : start + 8192]
        handler.raw(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
    handler.raw(b"0\r\n\r\n")


def silent(handler: Handler) -> None:
    """Accepts, then says nothing for longer than the read timeout."""
    handler.pause(READ_TIMEOUT_SECONDS + 3)


def redirect(status: str) -> Behaviour:
    def answer(handler: Handler) -> None:
        handler.head(status, {"Location": "/moved/jwks.json", "Content-Length": "0"})

    return answer


def trickle(*, headers_too: bool) -> Behaviour:
    """A byte every quarter second, for longer than the answer bound."""

    def answer(handler: Handler) -> None:
        data = jwks_body(KEY)
        prefix = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        prefix += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        if not headers_too:
            handler.raw(prefix)
        stream = (prefix if headers_too else b"") + data
        deadline = time.monotonic() + ANSWER_BOUND_SECONDS + 1
        for byte in stream:
            if time.monotonic() > deadline or handler.pause(0.25):
                return
            handler.raw(bytes([byte]))

    return answer


EC_KEY: Final = {
    "kid": KEY.kid,
    "kty": "EC",
    "crv": "P-256",
    "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
    "use": "sig",
}
OCT_KEY: Final = {"kid": KEY.kid, "kty": "oct", "k": "c2VjcmV0LWFueW9uZS1jYW4tc2lnbi13aXRo"}


@dataclass(frozen=True)
class Fault:
    name: str
    behaviour: Behaviour | None = None  # what the endpoint answers while faulty
    refused: bool = False  # nothing listens on the port
    unresolvable: bool = False  # the host name does not resolve

    def __str__(self) -> str:
        return self.name


FAULTS: Final = [
    Fault("refused", refused=True),
    Fault("dns-failure", unresolvable=True),
    Fault("slow-beyond-read-timeout", silent),
    Fault("http-403", body(b'{"message":"Forbidden"}', status="403 Forbidden")),
    Fault("http-404", body(b'{"message":"Not Found"}', status="404 Not Found")),
    Fault("http-500", body(jwks_body(KEY), status="500 Internal Server Error")),
    Fault("http-503", body(b"", status="503 Service Unavailable")),
    Fault("truncated-body", truncated),
    Fault("content-type-html", body(jwks_body(KEY), content_type="text/html")),
    Fault("content-type-missing", body(jwks_body(KEY), content_type=None)),
    Fault("not-json", body(b"<html>login</html>")),
    Fault("shape-list", body(b"[]")),
    Fault("shape-keys-object", body(b'{"keys": {"key-1": {}}}')),
    Fault("shape-no-keys", body(b'{"nokeys": []}')),
    Fault("shape-junk-entries", body(b'{"keys": [1, "x", null, [], {}]}')),
    Fault("key-type-ec", keys(EC_KEY)),
    Fault("key-type-oct", keys(OCT_KEY)),
    Fault("key-rsa-1024", keys(forged_key(KEY.kid, 1024))),
    Fault("key-use-enc", keys(KEY.jwk(use="enc"))),
    Fault("duplicate-kids", keys(KEY, forged_key("other").jwk(kid=KEY.kid))),
    Fault("empty-key-set", body(b'{"keys": []}')),
    Fault("over-cap-content-length", over_cap_declared),
    Fault("over-cap-chunked", over_cap_chunked),
    Fault("redirect-301", redirect("301 Moved Permanently")),
    Fault("redirect-302", redirect("302 Found")),
    Fault("redirect-307", redirect("307 Temporary Redirect")),
]


# --- the authorizer under test -----------------------------------------------------------


@contextlib.contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses connections, and that nobody else can take meanwhile.

    The socket is bound but never listens: a connection to it is refused
    (RST), and as long as we hold it no other process can bind the port, so a
    test never races anyone for it (as stopping a server and starting it again
    on the same port would).
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield reserved.getsockname()[1]


@dataclass
class Rig:
    server: LocalJwksServer
    wired: WiredAuthorizer
    refusing_url: str
    unresolvable: bool = False
    refused: bool = False

    def inject(self, fault: Fault) -> None:
        self.refused = fault.refused
        self.unresolvable = fault.unresolvable
        if fault.behaviour is not None:
            self.server.behaviour = fault.behaviour

    def recover(self, *forged: Any) -> None:
        self.refused = self.unresolvable = False
        self.server.behaviour = keys(*forged)

    def token(self, key: Any = KEY) -> str:
        return sign(claims(now=self.wired.clock.now), key)

    def decide(self, token: str) -> dict[str, Any]:
        started = time.monotonic()
        try:
            return self.wired.handle(authorizer_event(token))
        finally:
            elapsed = time.monotonic() - started
            assert elapsed < ANSWER_BOUND_SECONDS, f"answered after {elapsed:.2f} s"


@pytest.fixture
def rig(jwks_server: LocalJwksServer) -> Iterator[Rig]:
    config = make_config(
        JWKS_URL=jwks_server.url,
        JWKS_CACHE_SECONDS=str(CACHE_SECONDS),
        JWKS_MISS_COOLDOWN_SECONDS=str(COOLDOWN_SECONDS),
    )
    holder: list[Rig] = []

    def fetch(url: str) -> bytes:
        # The real fetch; a DNS fault sends it to a host that does not resolve,
        # a refusal to a port where nothing listens.
        rig = holder[0]
        if rig.unresolvable:
            url = UNRESOLVABLE_URL
        elif rig.refused:
            url = rig.refusing_url
        return fetch_jwks(url)

    with refusing_port() as port:
        refusing_url = f"http://127.0.0.1:{port}{JWKS_PATH}"
        holder.append(Rig(jwks_server, wire_authorizer(config, FakeClock(), fetch), refusing_url))
        yield holder[0]


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return log_records(capsys.readouterr().out)


# --- the matrix -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_fault_with_no_cached_key_raises_then_recovers(
    rig: Rig, fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    rig.inject(fault)
    token = rig.token()
    with pytest.raises(JwksError):
        rig.decide(token)
    errors = [line for line in log_lines(capsys) if line.get("decision") == "error"]
    assert [line["reason"] for line in errors] in (["jwks_fetch_failed"], ["jwks_invalid"])

    # Inside the cooldown: still undecided, and the endpoint is not asked again.
    rig.recover(KEY)
    fetches = rig.server.fetches
    rig.wired.clock.advance(COOLDOWN_SECONDS / 2)
    with pytest.raises(JwksError):
        rig.decide(token)
    assert rig.server.fetches == fetches

    # The outage ends for us one cooldown after it ended for Cognito.
    rig.wired.clock.advance(COOLDOWN_SECONDS / 2 + 1)
    assert rig.decide(token)["isAuthorized"] is True
    assert rig.server.fetches == fetches + 1
    assert {agent for _, agent in rig.server.seen} == {USER_AGENT}
    assert all(path == JWKS_PATH for path, _ in rig.server.seen)  # redirects never followed


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_fault_after_expiry_serves_stale_keys_then_picks_up_rotation(
    rig: Rig, fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rig.decide(rig.token())["isAuthorized"] is True
    assert rig.server.fetches == 1
    rig.inject(fault)
    rig.wired.clock.advance(CACHE_SECONDS + 1)
    capsys.readouterr()

    assert rig.decide(rig.token())["isAuthorized"] is True  # stale, not a 500 nor a 403
    warnings = [line for line in log_lines(capsys) if line["level"] == "WARNING"]
    assert [(w["message"], w["servingStale"]) for w in warnings] == [("jwks refresh failed", True)]
    rig.wired.clock.advance(COOLDOWN_SECONDS / 2)
    assert rig.decide(rig.token())["isAuthorized"] is True  # no retry inside the cooldown

    rig.recover(KEY, ROTATED)
    rig.wired.clock.advance(COOLDOWN_SECONDS / 2 + 1)
    assert rig.decide(rig.token(ROTATED))["isAuthorized"] is True
    assert rig.decide(rig.token())["isAuthorized"] is True
    assert {agent for _, agent in rig.server.seen} == {USER_AGENT}
    assert all(path == JWKS_PATH for path, _ in rig.server.seen)


# --- faults with an outcome of their own -----------------------------------------------


def test_duplicate_kid_next_to_a_good_key_is_a_deny_for_that_kid_only(
    rig: Rig, jwks_server: LocalJwksServer
) -> None:
    """The set is usable, so nothing is raised; the ambiguous kid is simply not in it."""
    jwks_server.behaviour = keys(KEY, forged_key("other").jwk(kid=KEY.kid), ROTATED)
    assert rig.decide(rig.token()) == {"isAuthorized": False}
    assert rig.decide(rig.token(ROTATED))["isAuthorized"] is True


def test_key_set_just_under_the_cap_is_accepted(rig: Rig, jwks_server: LocalJwksServer) -> None:
    data = jwks_body(KEY)
    jwks_server.behaviour = body(data + b" " * (DOCUMENTED_CAP - len(data)))
    assert rig.decide(rig.token())["isAuthorized"] is True


def test_redirect_target_is_never_fetched(rig: Rig, jwks_server: LocalJwksServer) -> None:
    jwks_server.behaviour = redirect("302 Found")
    jwks_server.routes["/moved/jwks.json"] = keys(KEY)  # would allow, if it were followed
    with pytest.raises(JwksError):
        rig.decide(rig.token())
    assert [path for path, _ in jwks_server.seen] == [JWKS_PATH]


def test_refused_connection_is_a_real_refusal() -> None:
    """Guards the matrix itself: the reserved port really refuses."""
    with refusing_port() as port:
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            pass
        with pytest.raises(JwksFetchError, match="ConnectionError"):
            fetch_jwks(f"http://127.0.0.1:{port}{JWKS_PATH}")


@pytest.mark.slow
@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_trickling_endpoint_is_cut_off_in_time(
    rig: Rig, jwks_server: LocalJwksServer, headers_too: bool
) -> None:
    jwks_server.behaviour = trickle(headers_too=headers_too)
    with pytest.raises(JwksError):
        rig.decide(rig.token())
