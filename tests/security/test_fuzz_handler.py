"""Property-based fuzz of the whole authorizer handler, from the event down to the decision log.

For every input, while the key set is available:

- the handler never raises: the answer is exactly ``{"isAuthorized": False}`` or an
  allow with a flat context;
- it allows only what an independent oracle allows: an untouched valid token, or a
  re-signed token that PyJWT plus Cognito's rules written out separately
  (``reference`` in tests/oracle.py) accept with the pool's
  key. A changed byte, a changed signature, a foreign key or a rule-breaking claim
  is a deny;
- it answers within BOUND_SECONDS of CPU time: a correctness bound against
  pathological input (quadratic parsing, unbounded recursion), not a benchmark.
  CPU time, not wall time: on a busy machine a request waits for a core, which
  says nothing about the work it does. A fetch per request is caught by the
  harness's fetch count instead;
- its log lines hold no piece of the token (tests/leakcheck.py).

``make test`` runs a fixed, bounded set of examples (profile ``fuzz-ci``);
``make fuzz`` runs many more, freshly random (``FUZZ_PROFILE=fuzz-long``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import assume, given
from hypothesis import strategies as st

from authorizer.verification.verify import MAX_TOKEN_CHARS
from tests.forge import authorizer_event, b64url, b64url_json, claims, forged_key, jwks_body
from tests.helpers import FakeClock, WiredAuthorizer, make_config, wire_authorizer
from tests.leakcheck import assert_clean
from tests.oracle import reference
from tests.security.fuzzing import EXAMPLES, fuzz_settings

KEY: Final = forged_key()
OTHER: Final = forged_key("impostor")
PUBLIC: Final = KEY.private_key.public_key()
PUBLIC_PEM: Final = PUBLIC.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
CONFIG: Final = make_config()
BOUND_SECONDS: Final = 0.5
DENY: Final = {"isAuthorized": False}
B64URL: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

Signer = Callable[[bytes], bytes]


def _valid_tokens() -> tuple[str, ...]:
    # exp is a day ahead: these stay valid however long a make-fuzz run takes.
    now = time.time()
    return tuple(
        assemble({"alg": "RS256", "kid": KEY.kid}, claims(use, now=now, exp=int(now) + 86400))
        for use in ("id", "access")
    )


def assemble(header: Any, payload: Any, signer: Signer = KEY.sign_bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


def assemble_text(header_json: str, payload_json: str, signer: Signer = KEY.sign_bytes) -> str:
    """From raw JSON text: for documents json.dumps cannot write (deep nesting)."""
    signing_input = f"{b64url(header_json.encode())}.{b64url(payload_json.encode())}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


VALID: Final = _valid_tokens()
VALID_CONTEXTS: Final = {token: reference(token, PUBLIC, CONFIG) for token in VALID}
VALID_SEGMENTS: Final = tuple({part for token in VALID for part in token.split(".")})


# --- the harness: one wired authorizer per test, shared by its examples ---------


@dataclass
class Harness:
    wired: WiredAuthorizer
    name: str
    fetched: list[str] = field(default_factory=list)

    def decide(self, event: Any, secrets: tuple[str, ...] = ()) -> dict[str, Any] | None:
        """Run one event; check shape, time bound and logs; the context if allowed, else None."""
        EXAMPLES[self.name] += 1
        self.wired.clock.now = time.time()
        log = io.StringIO()  # every product log line goes to stdout, as in Lambda
        with contextlib.redirect_stdout(log):
            started = time.thread_time()  # the handler does its work on this thread
            response = self.wired.handle(event)  # any exception fails the property
            used = time.thread_time() - started
        assert used < BOUND_SECONDS, f"took {used:.3f} s of CPU time"
        assert_clean(log.getvalue(), [s for s in secrets if s])
        return response["context"] if is_allow(response) else None


def is_allow(response: Any) -> bool:
    """The response is exactly a deny or a well-formed allow; True for an allow."""
    assert isinstance(response, dict)
    if response == DENY:
        return False
    assert set(response) == {"isAuthorized", "context"}
    assert response["isAuthorized"] is True
    context = response["context"]
    assert isinstance(context, dict)
    assert all(type(value) in (str, int, float, bool) for value in context.values())
    return True


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    fetched: list[str] = []

    def fetch(url: str) -> bytes:  # the key set is always available
        fetched.append(url)
        return jwks_body(KEY)

    started = time.monotonic()
    yield Harness(wire_authorizer(CONFIG, FakeClock(), fetch), request.node.name, fetched)
    # Keys come only from the configured URL (never jku/x5u), and a flood of unknown
    # kids costs at most one fetch per cooldown.
    assert set(fetched) <= {CONFIG.pool.jwks_url}
    cooldowns = (time.monotonic() - started) / CONFIG.jwks_miss_cooldown_seconds
    assert len(fetched) <= 2 + cooldowns


# --- strategies ---------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
CLAIM_NAMES: Final = (
    "exp", "iat", "nbf", "iss", "sub", "aud", "client_id", "token_use", "jti", "auth_time",
    "cognito:username", "username", "cognito:groups", "email", "scope", "origin_jti",
)  # fmt: skip
HEADER_NAMES: Final = (
    "alg", "kid", "typ", "cty", "crit", "b64", "jku", "x5u", "jwk", "x5c", "x5t", "zip", "enc",
)  # fmt: skip
OFFSETS: Final = (-100_000, -3600, -90, 90, 3600, 100_000)  # well away from the leeway edges

# (scheme, whether a valid token behind it must be accepted)
SCHEMES: Final = (
    ("Bearer ", True),
    ("bearer ", True),
    ("BEARER\t", True),
    ("Bearer   ", True),
    ("", True),
    ("Basic ", False),
    ("Bearer", False),
    ("Token ", False),
    ("Bearer Bearer ", False),
)

garbage_text = (
    st.text(max_size=300)
    | st.binary(max_size=300).map(lambda raw: raw.decode("latin-1"))
    | st.text(alphabet=B64URL + ".=", max_size=400)
    | st.from_regex(r"\A[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_=-]{0,60}\Z")
)
segment = (
    st.sampled_from(VALID_SEGMENTS)
    | st.text(alphabet=B64URL, max_size=80)
    | json_values.map(b64url_json)
    | st.builds(
        b64url_json,
        st.fixed_dictionaries(
            {"alg": st.sampled_from(["RS256", "none", "HS256"]), "kid": st.just(KEY.kid)}
        ),
    )
    | st.just("")
)
segmented = st.lists(segment, max_size=8).map(".".join)


def place(token: str, scheme: str, where: str) -> dict[str, Any]:
    """A recorded event with the token in the identity source or in one header spelling."""
    event = authorizer_event(f"{scheme}{token}", scheme="")
    if where != "identitySource":
        del event["identitySource"]
        del event["headers"]["authorization"]
        event["headers"][where] = f"{scheme}{token}"
    return event


placements = st.sampled_from(["identitySource", "authorization", "Authorization", "AUTHORIZATION"])


# --- properties ---------------------------------------------------------------------


@fuzz_settings(900)
@given(
    token=garbage_text | segmented | st.sampled_from(VALID),
    scheme=st.sampled_from(SCHEMES),
    where=placements,
)
def test_random_tokens_and_segment_counts(
    harness: Harness, token: str, scheme: tuple[str, bool], where: str
) -> None:
    prefix, scheme_ok = scheme
    context = harness.decide(place(token, prefix, where), (token,))
    assert context == (VALID_CONTEXTS[token] if token in VALID and scheme_ok else None)


# Not random text: API Gateway, not the caller, writes routeKey (and it is logged).
route_keys = st.sampled_from(["POST /hello", "GET /hello", "$default"]) | st.none() | st.integers()
header_maps = st.dictionaries(
    st.sampled_from(["authorization", "Authorization", "host"]) | st.text(max_size=10),
    json_values | garbage_text,
    max_size=6,
)
events = (
    json_values
    | st.fixed_dictionaries(
        {},
        optional={
            "version": st.sampled_from(["2.0", "1.0"]) | json_scalars,
            "type": st.sampled_from(["REQUEST", "TOKEN"]) | json_scalars,
            "routeKey": route_keys,
            "identitySource": st.lists(garbage_text | json_values, max_size=3) | json_values,
            "headers": header_maps | json_values,
            "requestContext": json_values,
        },
    )
    | st.dictionaries(st.text(max_size=15), json_values, max_size=8)
)


def strings_in(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(s for item in value for s in strings_in(item))
    if isinstance(value, dict):
        return tuple(s for item in value.values() for s in strings_in(item))
    return ()


@fuzz_settings(600)
@given(event=events)
def test_random_event_shapes_are_denied(harness: Harness, event: Any) -> None:
    secrets: tuple[str, ...] = ()
    if isinstance(event, dict):
        secrets = strings_in(event.get("identitySource")) + strings_in(event.get("headers"))
    assert harness.decide(event, secrets) is None


@st.composite
def one_byte_mutations(draw: st.DrawFn) -> tuple[str, str]:
    """A valid token and the same token with one character or one decoded bit changed."""
    base = draw(st.sampled_from(VALID))
    op = draw(st.sampled_from(["replace", "insert", "delete", "flip"]))
    if op == "flip":
        parts = base.split(".")
        which = draw(st.integers(0, 2))
        raw = bytearray(base64.urlsafe_b64decode(parts[which] + "=="))
        index = draw(st.integers(0, len(raw) - 1))
        raw[index] ^= 1 << draw(st.integers(0, 7))
        parts[which] = b64url(bytes(raw))
        return base, ".".join(parts)
    index = draw(st.integers(0, len(base) - (op != "insert")))
    char = draw(st.sampled_from(B64URL + ".=+/ \t\x00é") | st.characters())
    if op == "replace":
        return base, base[:index] + char + base[index + 1 :]
    if op == "insert":
        return base, base[:index] + char + base[index:]
    return base, base[:index] + base[index + 1 :]


@fuzz_settings(700)
@given(mutation=one_byte_mutations(), where=placements)
def test_one_changed_byte_is_denied(
    harness: Harness, mutation: tuple[str, str], where: str
) -> None:
    base, token = mutation
    context = harness.decide(place(token, "Bearer ", where), (token, base))
    # Whitespace around the token is not part of it; any other change is.
    assert context == (VALID_CONTEXTS[base] if token.strip() == base else None)


@st.composite
def claim_mutations(draw: st.DrawFn) -> tuple[str, bool]:
    """A re-signed token with one claim changed; whether it is signed by the pool's key."""
    now = int(time.time())
    payload: Any = claims(draw(st.sampled_from(["id", "access"])), now=now)
    name = draw(st.sampled_from(CLAIM_NAMES) | st.text(max_size=8))
    op = draw(st.sampled_from(["value", "value", "time", "drop", "whole"]))
    if op == "value":
        payload[name] = draw(json_values)
    elif op == "time":
        payload[draw(st.sampled_from(["exp", "iat", "nbf"]))] = now + draw(st.sampled_from(OFFSETS))
    elif op == "drop":
        payload.pop(name, None)
    else:
        payload = draw(json_values)
    ours = draw(st.integers(0, 9)) > 0
    token = assemble(
        {"alg": "RS256", "kid": KEY.kid}, payload, KEY.sign_bytes if ours else OTHER.sign_bytes
    )
    return token, ours


@fuzz_settings(900)
@given(mutation=claim_mutations())
def test_one_changed_claim_follows_the_rules(harness: Harness, mutation: tuple[str, bool]) -> None:
    token, ours = mutation
    expected = reference(token, PUBLIC, CONFIG) if ours else None
    assert harness.decide(authorizer_event(token), (token,)) == expected


def _hs256_with_public_key(data: bytes) -> bytes:
    """The classic confusion: HMAC keyed with the RSA public key the verifier holds."""
    return hmac.new(PUBLIC_PEM, data, hashlib.sha256).digest()


SIGNERS: Final[dict[str, Signer]] = {
    "pool": KEY.sign_bytes,
    "impostor": OTHER.sign_bytes,
    "hs256-public-key": _hs256_with_public_key,
    "empty": lambda _data: b"",
}
attack_header_values: dict[str, Any] = {
    "alg": st.sampled_from(["none", "None", "HS256", "RS512", "ES256", "PS256", "rs256", "RS256 "]),
    "kid": st.sampled_from(
        ["key-1 ", "KEY-1", "../key-1", "", "impostor", "key-1\x00", "x" * 5000]
    ),
    "jku": st.just("https://attacker.example/jwks.json"),
    "x5u": st.just("https://attacker.example/cert.pem"),
    "jwk": st.just(OTHER.jwk()),
    "crit": st.sampled_from([["exp"], ["b64"], [], "exp"]),
    "b64": st.booleans(),
}


@st.composite
def header_mutations(draw: st.DrawFn) -> tuple[str, Any, str]:
    header: Any = {"alg": "RS256", "kid": KEY.kid}
    op = draw(st.sampled_from(["value", "attack", "drop", "whole"]))
    if op == "value":
        header[draw(st.sampled_from(HEADER_NAMES) | st.text(max_size=6))] = draw(json_values)
    elif op == "attack":
        name = draw(st.sampled_from(sorted(attack_header_values)))
        header[name] = draw(attack_header_values[name])
    elif op == "drop":
        header.pop(draw(st.sampled_from(HEADER_NAMES)), None)
    else:
        header = draw(json_values)
    signer = draw(st.sampled_from(["pool"] * 6 + sorted(SIGNERS)))
    token = assemble(header, claims(now=time.time()), SIGNERS[signer])
    return token, header, signer


@fuzz_settings(700)
@given(mutation=header_mutations())
def test_one_changed_header_field_follows_the_rules(
    harness: Harness, mutation: tuple[str, Any, str]
) -> None:
    token, header, signer = mutation
    # The key is found by kid in the pool's set only; the reference is handed the key.
    finds_key = isinstance(header, dict) and header.get("kid") == KEY.kid
    expected = reference(token, PUBLIC, CONFIG) if signer == "pool" and finds_key else None
    assert harness.decide(authorizer_event(token), (token,)) == expected


def _recursion_boundary() -> int:
    """The smallest nesting depth this interpreter's json refuses (varies by version)."""
    low, high = 1, 1 << 17
    while low < high:
        middle = (low + high) // 2
        try:
            json.loads("[" * middle + "]" * middle)
        except RecursionError:
            high = middle
        else:
            low = middle + 1
    return low


RECURSION_BOUNDARY: Final = _recursion_boundary()
VALID_PAYLOAD_JSON: Final = json.dumps(claims(now=time.time(), exp=int(time.time()) + 86400))


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except RecursionError:
        return False
    return True


@st.composite
def huge_or_deep(draw: st.DrawFn) -> tuple[str, bool]:
    """A token that is huge or deeply nested; whether it may be allowed."""
    kind = draw(st.sampled_from(["deep-claim", "deep-header", "big-claim", "garbage"]))
    if kind == "garbage":
        size = draw(st.integers(0, 2_000_000))
        unit = draw(st.sampled_from(["A", ".", "a.", "[", "eyJ", "=", " "]))
        return (unit * size)[:size] or "x", False
    if kind == "big-claim":
        size = draw(st.integers(0, 40_000))
        payload = VALID_PAYLOAD_JSON[:-1] + f', "pad": "{"x" * size}"}}'
        token = assemble_text(json.dumps({"alg": "RS256", "kid": KEY.kid}), payload)
        return token, len(token) <= MAX_TOKEN_CHARS
    depth = draw(st.integers(1, 400) | st.integers(400, 60_000))
    assume(abs(depth - RECURSION_BOUNDARY) > 100)  # the two call stacks differ a little
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    nested = opener * depth + ("1" if opener != "[" else "") + closer * depth
    header = json.dumps({"alg": "RS256", "kid": KEY.kid})
    payload = VALID_PAYLOAD_JSON
    if kind == "deep-claim":
        payload = payload[:-1] + f', "nest": {nested}}}'
    else:
        header = header[:-1] + f', "nest": {nested}}}'
    if len(header) + len(payload) > 4 * MAX_TOKEN_CHARS:
        return "x" * (MAX_TOKEN_CHARS + 1), False  # over the cap either way; skip the signing
    token = assemble_text(header, payload)
    return token, len(token) <= MAX_TOKEN_CHARS and parses(header) and parses(payload)


@fuzz_settings(300)
@given(case=huge_or_deep(), where=placements)
def test_huge_and_deeply_nested_tokens(
    harness: Harness, case: tuple[str, bool], where: str
) -> None:
    token, may_allow = case
    assert (harness.decide(place(token, "Bearer ", where), (token,)) is not None) == may_allow


@fuzz_settings(100)
@given(
    headers=st.integers(0, 20_000),
    sources=st.integers(0, 20_000),
    value_size=st.integers(0, 1_000_000),
)
def test_huge_events(harness: Harness, headers: int, sources: int, value_size: int) -> None:
    """Big header maps, long identity-source lists and megabyte values still answer in time."""
    token = VALID[0]
    event = authorizer_event(token)
    event["headers"].update({f"x-noise-{i}": "v" for i in range(headers)})
    event["headers"]["x-big"] = "B" * value_size
    event["identitySource"] += ["C" * min(value_size, 1000)] * sources
    assert harness.decide(event, (token,)) == VALID_CONTEXTS[token]


def test_leak_check_is_not_vacuous() -> None:
    token = VALID[0]
    payload = token.split(".")[1]
    with pytest.raises(AssertionError, match="part of a token"):
        assert_clean(f'{{"message":"authorization decision","x":"{payload[40:60]}"}}', [token])


def test_fuzz_covers_allows_and_denies(harness: Harness) -> None:
    """The oracle says allow for the untouched tokens, so the properties are not all-deny."""
    for token in VALID:
        assert VALID_CONTEXTS[token] is not None
        assert harness.decide(authorizer_event(token), (token,)) == VALID_CONTEXTS[token]
