"""Key-forging helpers: generate RSA keys, publish them as a JWKS, sign Cognito-shaped tokens.

Also useful to users testing their own code against the authorizer offline.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.hashes import SHA256

POOL_ID = "us-east-1_TestPool1"
REGION = "us-east-1"
CLIENT_ID = "testclient123"
OTHER_CLIENT_ID = "otherclient456"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"
JWKS_URL = f"{ISSUER}/.well-known/jwks.json"
EVENTS = Path(__file__).parent / "events"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


@dataclass(frozen=True)
class ForgedKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        numbers = self.private_key.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        jwk = {
            "kid": self.kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": b64url(numbers.n.to_bytes(size, "big")),
            "e": b64url(numbers.e.to_bytes(3, "big")),
        }
        jwk.update(overrides)
        return {k: v for k, v in jwk.items() if v is not None}

    def sign_bytes(self, data: bytes) -> bytes:
        return self.private_key.sign(data, padding.PKCS1v15(), SHA256())


def forged_key(kid: str = "key-1", bits: int = 2048) -> ForgedKey:
    """Keys are cached per (kid, bits): generating RSA keys is the slow part of a test run."""
    return _forged_key(kid, bits)


@functools.cache
def _forged_key(kid: str, bits: int) -> ForgedKey:
    return ForgedKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=bits))


def jwks_body(*keys: ForgedKey | dict[str, Any]) -> bytes:
    entries = [k.jwk() if isinstance(k, ForgedKey) else k for k in keys]
    return json.dumps({"keys": entries}).encode()


def claims(token_use: str = "id", *, now: float | None = None, **overrides: Any) -> dict[str, Any]:
    """Valid Cognito-shaped claims; pass ``name=None`` to drop a claim."""
    issued = int(time.time() if now is None else now)
    base: dict[str, Any] = {
        "sub": "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21",
        "iss": ISSUER,
        "token_use": token_use,
        "iat": issued,
        "auth_time": issued,
        "exp": issued + 3600,
        "jti": str(uuid.uuid4()),
        "origin_jti": str(uuid.uuid4()),
        "cognito:groups": ["admins", "readers"],
    }
    if token_use == "id":
        base.update(
            {
                "aud": CLIENT_ID,
                "cognito:username": "brian",
                "email": "brian@example.com",
                "email_verified": True,
            }
        )
    else:
        base.update(
            {"client_id": CLIENT_ID, "username": "brian", "scope": "openid profile hello/read"}
        )
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: ForgedKey | None = None, **headers: Any) -> str:
    """A token signed with PyJWT (RS256, the key's kid unless overridden)."""
    key = key or forged_key()
    header = {"kid": key.kid, **headers}
    return jwt.encode(payload, key.private_key, algorithm="RS256", headers=header)


def sign_raw(
    header: dict[str, Any], payload: dict[str, Any], signer: Callable[[bytes], bytes]
) -> str:
    """A token assembled by hand, for what PyJWT refuses to make (alg none, odd headers)."""
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


def load_event(name: str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS / name).read_text()))


def authorizer_event(token: str | None, *, scheme: str = "Bearer ") -> dict[str, Any]:
    """A recorded payload-2.0 REQUEST event carrying ``token`` (None: no token at all)."""
    event = load_event("authorizer_request.json")
    if token is None:
        del event["identitySource"]
        del event["headers"]["authorization"]
    else:
        event["identitySource"] = [f"{scheme}{token}"]
        event["headers"]["authorization"] = f"{scheme}{token}"
    return event
