"""The key set's life cycle after a fault: what the authorizer decides once the fault is over.

tests/security/test_jwks_faults.py shows that every fault is survived; this
file checks the state it leaves behind. After each fault of that matrix ends
(the endpoint serves keys again and a cooldown has passed), every kind of
token must get exactly the decision it would get had the fault never
happened: a valid token allowed, an unknown kid or a bad signature denied
(not a 500 that outlives the outage), and the refreshed set trusted for its
whole cache period again. Also the key-set edges that are no fault of the
endpoint: a baked set dated in the future, a JWK that carries private
members, one kid listed twice.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Final

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from authorizer.api.handler import build_authorizer
from authorizer.exceptions import JwksError
from authorizer.verification.jwks import JwksCache, jwks_keys
from tests.forge import JWKS_URL, authorizer_event, claims, forged_key, jwks_body, sign
from tests.helpers import FakeClock, make_config
from tests.security.test_jwks_faults import (
    CACHE_SECONDS,
    COOLDOWN_SECONDS,
    FAULTS,
    KEY,
    ROTATED,
    Behaviour,
    Fault,
    Rig,
    body,
)

UNKNOWN: Final = forged_key("key-unknown")
IMPOSTOR: Final = forged_key("impostor")


def decisions_are_normal(rig: Rig, *held: Any) -> None:
    """Every kind of token gets the decision it would get with no fault at all."""
    for key in held:
        assert rig.decide(rig.token(key))["isAuthorized"] is True
    assert rig.decide(rig.token(UNKNOWN)) == {"isAuthorized": False}
    forged = sign(claims(now=rig.wired.clock.now), IMPOSTOR, kid=KEY.kid)
    assert rig.decide(forged) == {"isAuthorized": False}
    expired = sign(claims(now=rig.wired.clock.now - 7200), KEY)
    assert rig.decide(expired) == {"isAuthorized": False}


def fetched_again_only_after_the_cache_period(rig: Rig) -> None:
    fetches = rig.server.fetches
    rig.wired.clock.advance(CACHE_SECONDS - 1)
    assert rig.decide(rig.token(KEY))["isAuthorized"] is True
    assert rig.server.fetches == fetches  # the recovered set is trusted for its whole period
    rig.wired.clock.advance(2)
    assert rig.decide(rig.token(KEY))["isAuthorized"] is True
    assert rig.server.fetches == fetches + 1


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_after_an_outage_with_no_keys_every_decision_is_normal_again(
    rig: Rig, fault: Fault
) -> None:
    rig.inject(fault)
    with pytest.raises(JwksError):
        rig.decide(rig.token(UNKNOWN))  # an unknown kid cannot be told apart either
    rig.recover(KEY)
    rig.wired.clock.advance(COOLDOWN_SECONDS + 1)
    # The first request after the outage is one for a kid the set lacks: still a deny.
    assert rig.decide(rig.token(UNKNOWN)) == {"isAuthorized": False}
    decisions_are_normal(rig, KEY)
    fetched_again_only_after_the_cache_period(rig)


@pytest.mark.parametrize("fault", FAULTS, ids=str)
def test_after_an_outage_with_stale_keys_every_decision_is_normal_again(
    rig: Rig, fault: Fault
) -> None:
    assert rig.decide(rig.token(KEY))["isAuthorized"] is True
    rig.inject(fault)
    rig.wired.clock.advance(CACHE_SECONDS + 1)
    assert rig.decide(rig.token(KEY))["isAuthorized"] is True  # stale keys serve
    with pytest.raises(JwksError):
        rig.decide(rig.token(UNKNOWN))  # the set cannot be had: no deny to be cached
    rig.recover(KEY, ROTATED)
    rig.wired.clock.advance(COOLDOWN_SECONDS + 1)
    decisions_are_normal(rig, KEY, ROTATED)
    fetched_again_only_after_the_cache_period(rig)


# --- key-set edges that are no fault of the endpoint -----------------------------------


def cache(clock: FakeClock, fetched: list[str], body: bytes = b"") -> JwksCache:
    def fetch(url: str) -> bytes:
        fetched.append(url)
        return body or jwks_body(KEY)

    return JwksCache(
        JWKS_URL,
        cache_seconds=CACHE_SECONDS,
        miss_cooldown_seconds=COOLDOWN_SECONDS,
        logger=logging.getLogger("authorizer"),
        fetch=fetch,
        clock=clock,
    )


@pytest.mark.parametrize("age", [-1.0, -CACHE_SECONDS * 100.0, 0.0])
def test_a_baked_set_dated_in_the_future_is_trusted_no_longer_than_a_fresh_one(age: float) -> None:
    clock, fetched = FakeClock(1000.0), list[str]()
    keys = cache(clock, fetched)
    keys.load(json.loads(jwks_body(KEY)), source="baked", age_seconds=age)
    clock.advance(CACHE_SECONDS - 1)
    assert keys.fresh_key(KEY.kid) is not None
    clock.advance(1)
    assert keys.fresh_key(KEY.kid) is None
    keys.get_key(KEY.kid)
    assert fetched == [JWKS_URL]


def test_an_artifact_baked_in_the_future_is_refreshed_after_one_cache_period(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    baked = tmp_path / "baked_jwks.json"
    document = {"keys": [KEY.jwk()]}
    # A build machine whose clock ran a day ahead.
    baked.write_text(
        json.dumps({"jwksUrl": JWKS_URL, "bakedAtEpoch": clock.now + 86400, "jwks": document})
    )
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return jwks_body(KEY)

    config = make_config(JWKS_CACHE_SECONDS=str(CACHE_SECONDS))
    authorizer = build_authorizer(config, warm=True, baked=baked, fetch=fetch, clock=clock)
    assert fetched == []
    clock.advance(CACHE_SECONDS + 1)
    response = authorizer.handle(authorizer_event(sign(claims(now=clock.now))))
    assert response["isAuthorized"] is True
    assert fetched == [JWKS_URL]


def serve(document: dict[str, Any]) -> Behaviour:
    return body(json.dumps(document).encode())


def private_jwk() -> dict[str, Any]:
    """KEY's JWK with the private members a careless export leaves in (RFC 7518 6.3.2)."""
    exported = json.loads(RSAAlgorithm.to_jwk(KEY.private_key))
    assert {"d", "p", "q", "dp", "dq", "qi"} <= set(exported)
    return {**exported, "kid": KEY.kid, "use": "sig", "alg": "RS256"}


def test_a_jwk_with_private_members_is_used_for_its_public_part_only() -> None:
    [(kid, key)] = jwks_keys({"keys": [private_jwk()]}).items()
    assert kid == KEY.kid
    assert isinstance(key.key, RSAPublicKey)
    assert key.key.public_numbers() == KEY.private_key.public_key().public_numbers()


def test_a_token_verifies_against_a_jwk_that_carried_private_members(rig: Rig) -> None:
    rig.server.behaviour = serve({"keys": [private_jwk()]})
    assert rig.decide(rig.token(KEY))["isAuthorized"] is True
    assert rig.decide(rig.token(UNKNOWN)) == {"isAuthorized": False}


def test_the_same_kid_twice_with_different_material_trusts_neither(rig: Rig) -> None:
    for order in ([KEY.jwk(), IMPOSTOR.jwk(kid=KEY.kid)], [IMPOSTOR.jwk(kid=KEY.kid), KEY.jwk()]):
        rig.server.behaviour = serve({"keys": [*order, ROTATED.jwk()]})
        rig.wired.clock.advance(CACHE_SECONDS + 1)
        assert rig.decide(rig.token(KEY)) == {"isAuthorized": False}
        forged = sign(claims(now=rig.wired.clock.now), IMPOSTOR, kid=KEY.kid)
        assert rig.decide(forged) == {"isAuthorized": False}
        assert rig.decide(rig.token(ROTATED))["isAuthorized"] is True


def test_the_same_key_listed_twice_is_one_key(rig: Rig) -> None:
    rig.server.behaviour = serve({"keys": [KEY.jwk(), KEY.jwk(), KEY.jwk(use=None, alg=None)]})
    assert rig.decide(rig.token(KEY))["isAuthorized"] is True
