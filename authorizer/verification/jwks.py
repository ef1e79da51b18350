"""The user pool's signing keys: fetched, parsed once into key objects, and cached.

Rules:
- a set is trusted for ``cache_seconds``; after that the next request refreshes it;
- a ``kid`` missing from the set triggers a refetch, at most once per
  ``miss_cooldown_seconds`` (so a flood of made-up kids costs one fetch per cooldown);
- a failed refresh keeps serving the keys we have (stale-if-error, with a warning),
  and is retried by a request no sooner than the cooldown after the failure;
- when no key we have serves the token and the set cannot be had, ``JwksError``
  is raised: the authorizer cannot decide, API Gateway answers 500 and does not
  cache it, so an outage never becomes a cached deny for a valid user.

With a ``MetricsEmitter``, every fetch (its outcome and the keys held after
it) and every key served past its cache period is counted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from authorizer.exceptions import JwksError, JwksFetchError, JwksParseError, UnknownKeyId
from authorizer.operations.metrics import MetricsEmitter

USER_AGENT: Final = "cognito-lambda-authorizer/0.1 (+jwks-fetch)"
# Well under API Gateway's 10 s authorizer limit, including a slow trickle of bytes.
CONNECT_TIMEOUT_SECONDS: Final = 2.0
READ_TIMEOUT_SECONDS: Final = 3.0
TOTAL_FETCH_SECONDS: Final = 4.0
# API Gateway's built-in JWT authorizer caps the JWKS it reads at 150,000 bytes;
# a Cognito key set is about 1 KB.
MAX_JWKS_BYTES: Final = 150_000
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 8192

Fetcher = Callable[[str], bytes]


def fetch_jwks(url: str) -> bytes:
    """GET the key set with bounded time and size, no redirects, our User-Agent.

    The whole fetch, headers included, is bounded by TOTAL_FETCH_SECONDS of
    wall time: a connect and read timeout alone bound each wait for a byte,
    not the sum, so an endpoint trickling a byte at a time could hold a
    request far past API Gateway's 10 s. The fetch runs in a daemon thread we
    stop waiting for; that thread gives up at its own next read.
    """
    deadline = time.monotonic() + TOTAL_FETCH_SECONDS
    outcome: list[bytes | JwksError] = []

    def run() -> None:
        try:
            outcome.append(_fetch(url, deadline))
        except JwksError as err:
            outcome.append(err)
        except Exception as err:  # noqa: BLE001 - network, HTTP and decoding errors alike
            # The class name says what failed; the message may carry detail we do not need.
            outcome.append(JwksFetchError(f"{type(err).__name__} fetching {url}"))

    worker = threading.Thread(target=run, name="jwks-fetch", daemon=True)
    worker.start()
    worker.join(TOTAL_FETCH_SECONDS)
    if not outcome:
        raise _too_slow(url)
    if isinstance(outcome[0], JwksError):
        raise outcome[0]
    return outcome[0]


def _too_slow(url: str) -> JwksFetchError:
    return JwksFetchError(f"fetching {url} took over {TOTAL_FETCH_SECONDS} s")


def _too_big(url: str) -> JwksFetchError:
    return JwksFetchError(f"key set from {url} is over {MAX_JWKS_BYTES} bytes")


def _fetch(url: str, deadline: float) -> bytes:
    import requests  # only when a fetch is really needed: keeps it off the cold-start path

    with requests.get(
        url,
        # identity: the size cap must count the bytes we parse, not compressed ones.
        headers={
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Accept-Encoding": "identity",
        },
        timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
        allow_redirects=False,
        stream=True,
    ) as response:
        if response.status_code != 200:
            raise JwksFetchError(f"HTTP {response.status_code} from {url}")
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not (content_type == "application/json" or content_type.endswith("+json")):
            raise JwksFetchError(f"unexpected content type {content_type!r} from {url}")
        if response.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise JwksFetchError(f"{url} sent a compressed body although we asked for none")
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > MAX_JWKS_BYTES:
            raise _too_big(url)
        body = bytearray()
        # read1 returns what one read gives, so the deadline is checked at every byte batch.
        while chunk := response.raw.read1(16384, decode_content=False):
            body += chunk
            if len(body) > MAX_JWKS_BYTES:
                raise _too_big(url)
            if time.monotonic() > deadline:
                raise _too_slow(url)
        return bytes(body)


def parse_jwks(body: bytes) -> dict[str, jwt.PyJWK]:
    """A fetched key set's usable RS256 signing keys by kid (see ``jwks_keys``)."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise JwksParseError("key set is not valid JSON") from None
    return jwks_keys(document)


def jwks_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """Usable RS256 signing keys by kid. Unusable entries are skipped; none usable is an error.

    An entry that is not a usable RSA signing key is skipped, even when it shares
    a kid with a usable one; a kid listed twice with different usable keys is
    dropped: we will not guess which one a token meant.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksParseError('key set has no "keys" list')

    keys: dict[str, jwt.PyJWK] = {}
    ambiguous: set[str] = set()
    for jwk in document["keys"]:
        try:
            kid, key = _parse_jwk(jwk)
        except JwksParseError:
            continue
        if kid in keys and not same_key(keys[kid], key):
            ambiguous.add(kid)
        keys.setdefault(kid, key)
    for kid in ambiguous:
        del keys[kid]
    if not keys:
        raise JwksParseError("key set holds no usable RSA signing key")
    return keys


def same_key(a: jwt.PyJWK, b: jwt.PyJWK) -> bool:
    return bool(a.key.public_numbers() == b.key.public_numbers())


def _parse_jwk(jwk: Any) -> tuple[str, jwt.PyJWK]:
    if not isinstance(jwk, dict):
        raise JwksParseError("key is not an object")
    kid, n, e = jwk.get("kid"), jwk.get("n"), jwk.get("e")
    if not isinstance(kid, str) or not kid:
        raise JwksParseError("key has no kid")
    if jwk.get("kty") != "RSA":
        raise JwksParseError("key is not RSA")
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
        raise JwksParseError("key is not an RS256 signing key")
    if not isinstance(n, str) or not isinstance(e, str):
        raise JwksParseError("key lacks n or e")
    try:
        # Only the public members: PyJWT would build a private key from "d".
        key = jwt.PyJWK({"kty": "RSA", "n": n, "e": e}, algorithm="RS256")
    except (jwt.PyJWTError, ValueError, TypeError):
        raise JwksParseError("key material is invalid") from None
    if not isinstance(key.key, RSAPublicKey):
        raise JwksParseError("key material is invalid")
    if not MIN_RSA_BITS <= key.key.key_size <= MAX_RSA_BITS:
        raise JwksParseError("key size is outside 2048..8192 bits")
    return kid, key


class JwksCache:
    """One user pool's key set, shared by every request a Lambda instance serves."""

    def __init__(
        self,
        url: str,
        *,
        cache_seconds: float,
        miss_cooldown_seconds: float,
        logger: logging.Logger,
        fetch: Fetcher = fetch_jwks,
        clock: Callable[[], float] = time.monotonic,
        metrics: MetricsEmitter | None = None,
    ) -> None:
        self.url = url
        self._metrics = metrics
        self._cache_seconds = cache_seconds
        self._cooldown = miss_cooldown_seconds
        self._logger = logger
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: Mapping[str, jwt.PyJWK] = {}
        self._expires_at = float("-inf")
        self._next_fetch_at = float("-inf")
        self._last_error: JwksError | None = None

    def fresh_key(self, kid: str) -> jwt.PyJWK | None:
        """The key for ``kid`` if the held set is inside its cache period; never fetches."""
        key = self._keys.get(kid)
        return key if key is not None and self._clock() < self._expires_at else None

    def get_key(self, kid: str) -> jwt.PyJWK:
        """The key for ``kid``; UnknownKeyId (deny) or JwksError (cannot decide) otherwise."""
        key = self.fresh_key(kid)
        if key is not None:
            return key
        with self._lock:
            now = self._clock()
            key = self._keys.get(kid)
            if (key is None or now >= self._expires_at) and now >= self._next_fetch_at:
                self._refresh(now)
                key = self._keys.get(kid)
        if key is not None:
            if self._metrics is not None and now >= self._expires_at:
                # Past its cache period: the refresh failed or waits out its cooldown.
                self._metrics.stale_keys_served()
            return key
        if self._last_error is not None:
            # A new instance each time: re-raising one object would chain tracebacks forever.
            raise type(self._last_error)(str(self._last_error))
        raise UnknownKeyId("kid is not in the user pool's key set")

    def warm(self) -> None:
        """Fetch during initialisation so the first request does not wait for the network.

        A failure here is logged, not raised; like any failed fetch it is
        retried by a request once the cooldown has passed (retrying at once
        would make the first request wait for a second timeout, close to API
        Gateway's 10 s, for the same 500).
        """
        with self._lock:
            self._refresh(self._clock())

    def load(self, document: Any, *, source: str, age_seconds: float) -> None:
        """Install a key set (parsed JWKS JSON) fetched elsewhere ``age_seconds`` ago (baked).

        It is trusted like a set we fetched then: for what is left of
        ``cache_seconds``, then refreshed (and still served if that fails).
        An unknown kid may refetch at once: these keys were not fetched now.
        """
        with self._lock:
            now = self._clock()
            self._install(jwks_keys(document), now - max(0.0, age_seconds), source=source)
            self._next_fetch_at = float("-inf")

    @property
    def is_fresh(self) -> bool:
        """Whether the held set is inside its ``cache_seconds``."""
        return self._clock() < self._expires_at

    def _refresh(self, now: float) -> None:
        self._next_fetch_at = now + self._cooldown
        try:
            keys = parse_jwks(self._fetch(self.url))
        except JwksError as err:
            self._last_error = err
            self._logger.warning(
                "jwks refresh failed",
                extra={
                    "reason": err.reason,
                    "error": str(err),
                    "jwksUrl": self.url,
                    "cachedKids": sorted(self._keys),
                    "servingStale": bool(self._keys),
                },
            )
            if self._metrics is not None:
                self._metrics.jwks_fetch(ok=False, keys_available=len(self._keys))
            return
        self._install(keys, now, source="fetch")
        if self._metrics is not None:
            self._metrics.jwks_fetch(ok=True, keys_available=len(keys))

    def _install(self, keys: dict[str, jwt.PyJWK], fetched_at: float, *, source: str) -> None:
        # Keep the very objects of unchanged keys: the verified-token cache
        # recognises its key set by identity.
        for kid, key in keys.items():
            old = self._keys.get(kid)
            if old is not None and same_key(old, key):
                keys[kid] = old
        self._keys = keys
        self._expires_at = fetched_at + self._cache_seconds
        self._last_error = None
        self._logger.info(
            "jwks loaded",
            extra={"source": source, "jwksUrl": self.url, "kids": sorted(keys)},
        )

    def held_keys(self) -> list[jwt.PyJWK]:
        """The keys held right now, fresh or stale, without fetching."""
        return list(self._keys.values())
