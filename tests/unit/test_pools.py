"""Several trusted user pools (USER_POOLS): issuer forms, replicas, per-pool keys and outages."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from authorizer.api.handler import Authorizer, build_authorizer
from authorizer.exceptions import JwksFetchError
from authorizer.verification.config import load_config
from shared.exceptions import ConfigurationError
from tests.forge import authorizer_event, claims, forged_key, jwks_body, sign

STAFF = "eu-west-1_Staff1"
CUSTOMERS = "us-east-1_Custom2"
STAFF_CLIENT = "staffclient1"
CUSTOMER_CLIENT = "customerclient2"
STAFF_KEY = forged_key("staff-key")
CUSTOMER_KEY = forged_key("customer-key")


def original(region: str, pool: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool}"


def updated(region: str, pool: str) -> str:
    return f"https://issuer-cognito-idp.{region}.amazonaws.com/{pool}"


STAFF_ISSUER = original("eu-west-1", STAFF)
CUSTOMER_ISSUER = original("us-east-1", CUSTOMERS)
# Keys are always fetched from the original host in the pool's own region.
STAFF_JWKS = f"{STAFF_ISSUER}/.well-known/jwks.json"
CUSTOMER_JWKS = f"{CUSTOMER_ISSUER}/.well-known/jwks.json"

USER_POOLS = [
    {"userPoolId": STAFF, "appClientIds": [STAFF_CLIENT], "replicaRegions": ["eu-central-1"]},
    {"userPoolId": CUSTOMERS, "appClientIds": [CUSTOMER_CLIENT], "tokenUse": "access"},
]
ENV = {"USER_POOLS": json.dumps(USER_POOLS), "LOG_LEVEL": "DEBUG"}


def staff_token(**overrides: Any) -> str:
    defaults = {"iss": STAFF_ISSUER, "aud": STAFF_CLIENT}
    return sign(claims("id", **{**defaults, **overrides}), STAFF_KEY)


def customer_token(**overrides: Any) -> str:
    defaults = {"iss": CUSTOMER_ISSUER, "client_id": CUSTOMER_CLIENT}
    return sign(claims("access", **{**defaults, **overrides}), CUSTOMER_KEY)


@pytest.fixture
def endpoints() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(STAFF_JWKS, body=jwks_body(STAFF_KEY), content_type="application/json")
        mock.get(CUSTOMER_JWKS, body=jwks_body(CUSTOMER_KEY), content_type="application/json")
        yield mock


@pytest.fixture
def two_pools(endpoints: responses.RequestsMock, tmp_path: Path) -> Authorizer:
    return build_authorizer(load_config(ENV), baked=tmp_path / "none.json")


def decide(authorizer: Authorizer, token: str) -> dict[str, Any]:
    return authorizer.handle(authorizer_event(token))


def deny_line(
    authorizer: Authorizer, token: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    capsys.readouterr()
    assert decide(authorizer, token) == {"isAuthorized": False}
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [line] = [x for x in lines if x.get("message") == "authorization decision"]
    assert isinstance(line, dict)
    return line


def reason(authorizer: Authorizer, token: str, capsys: pytest.CaptureFixture[str]) -> str:
    return str(deny_line(authorizer, token, capsys)["reason"])


# --- configuration ----------------------------------------------------------------


def test_each_pool_accepts_its_issuer_forms_and_is_fetched_from_the_original_host() -> None:
    config = load_config(ENV)
    staff, customers = config.pools
    assert staff.issuers == {
        STAFF_ISSUER,
        updated("eu-west-1", STAFF),
        original("eu-central-1", STAFF),
    }
    assert customers.issuers == {CUSTOMER_ISSUER, updated("us-east-1", CUSTOMERS)}
    assert (staff.jwks_url, customers.jwks_url) == (STAFF_JWKS, CUSTOMER_JWKS)
    assert (staff.token_use, customers.token_use) == ("any", "access")


def test_one_pool_variables_accept_both_issuer_forms() -> None:
    config = load_config({"USER_POOL_ID": STAFF, "APP_CLIENT_IDS": STAFF_CLIENT})
    assert config.pool.issuers == {STAFF_ISSUER, updated("eu-west-1", STAFF)}
    assert config.pool.jwks_url == f"{STAFF_ISSUER}/.well-known/jwks.json"


def test_the_issuer_override_pins_exactly_one_issuer() -> None:
    newer = updated("eu-west-1", STAFF)
    config = load_config({"USER_POOL_ID": STAFF, "APP_CLIENT_IDS": STAFF_CLIENT, "ISSUER": newer})
    assert config.pool.issuers == {newer}
    assert config.pool.jwks_url == f"{newer}/.well-known/jwks.json"


@pytest.mark.parametrize(
    "pools",
    [
        "not json",
        "{}",
        "[]",
        json.dumps([{"appClientIds": ["a"]}]),
        json.dumps([{"userPoolId": "nonsense", "appClientIds": ["a"]}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": []}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a b"]}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a"], "tokenUse": "refresh"}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a"], "replicaRegions": ["mars"]}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a"], "replicaRegions": ["eu-west-1"]}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a"], "issuer": "https://x"}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a"], "jwksUrl": "http://evil/x"}]),
        json.dumps([{"userPoolId": STAFF, "appClientIds": ["a"]}] * 2),
        json.dumps([{"userPoolId": f"us-east-1_P{i}", "appClientIds": ["a"]} for i in range(11)]),
    ],
)
def test_bad_user_pools_name_the_variable(pools: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_config({"USER_POOLS": pools})
    assert caught.value.variable == "USER_POOLS"


def test_user_pools_and_the_one_pool_variables_are_exclusive() -> None:
    with pytest.raises(ConfigurationError, match="USER_POOL_ID must not be"):
        load_config({**ENV, "USER_POOL_ID": STAFF})


# --- matching a token to its pool ------------------------------------------------------


def test_each_pool_accepts_its_own_tokens(two_pools: Authorizer) -> None:
    staff = decide(two_pools, staff_token())
    assert (staff["isAuthorized"], staff["context"]["clientId"]) == (True, STAFF_CLIENT)
    customer = decide(two_pools, customer_token())
    assert (customer["isAuthorized"], customer["context"]["tokenUse"]) == (True, "access")


def test_a_token_is_checked_with_its_own_pools_key_and_clients(
    two_pools: Authorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    # The customer pool's issuer, signed by the staff key (its kid known to staff only).
    forged = sign(claims("access", iss=CUSTOMER_ISSUER, client_id=CUSTOMER_CLIENT), STAFF_KEY)
    # Matched by iss to the customer pool, whose key set has no such kid...
    assert reason(two_pools, forged, capsys) == "unknown_kid"
    # ...and the same once that header is known and the staff pool holds its kid
    # fresh: a token's reason never depends on what the instance saw before.
    assert decide(two_pools, staff_token())["isAuthorized"] is True
    assert reason(two_pools, forged, capsys) == "unknown_kid"
    # The customer pool's kid, but the staff key's signature.
    impostor = sign(
        claims("access", iss=CUSTOMER_ISSUER, client_id=CUSTOMER_CLIENT),
        STAFF_KEY,
        kid=CUSTOMER_KEY.kid,
    )
    assert reason(two_pools, impostor, capsys) == "bad_signature"
    # Each pool's own clients only.
    assert reason(two_pools, staff_token(aud=CUSTOMER_CLIENT), capsys) == "wrong_audience"
    assert reason(two_pools, customer_token(client_id=STAFF_CLIENT), capsys) == "wrong_audience"
    # Each pool's own token use (customers: access tokens only).
    id_token = sign(claims("id", iss=CUSTOMER_ISSUER, aud=CUSTOMER_CLIENT), CUSTOMER_KEY)
    assert reason(two_pools, id_token, capsys) == "wrong_token_use"


def test_the_updated_issuer_form_is_accepted(two_pools: Authorizer) -> None:
    assert decide(two_pools, staff_token(iss=updated("eu-west-1", STAFF)))["isAuthorized"]
    assert decide(two_pools, customer_token(iss=updated("us-east-1", CUSTOMERS)))["isAuthorized"]


def test_a_declared_replica_regions_issuer_is_accepted_and_no_other(
    two_pools: Authorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert decide(two_pools, staff_token(iss=original("eu-central-1", STAFF)))["isAuthorized"]
    undeclared = staff_token(iss=original("ap-south-1", STAFF))
    assert reason(two_pools, undeclared, capsys) == "wrong_issuer"
    # The updated form names the primary region only.
    replica_updated = staff_token(iss=updated("eu-central-1", STAFF))
    assert reason(two_pools, replica_updated, capsys) == "wrong_issuer"


def test_an_untrusted_pool_with_a_valid_signature_is_denied_without_a_fetch(
    endpoints: responses.RequestsMock, two_pools: Authorizer, capsys: pytest.CaptureFixture[str]
) -> None:
    fetched = len(endpoints.calls)
    stranger_key = forged_key("stranger-key")
    stranger = sign(claims("id", iss=original("us-east-1", "us-east-1_Stranger")), stranger_key)
    line = deny_line(two_pools, stranger, capsys)
    assert (line["reason"], line["kid"]) == ("wrong_issuer", "stranger-key")
    assert len(endpoints.calls) == fetched  # matched by iss first: no key lookup at all


@pytest.mark.parametrize(
    "issuer",
    [
        STAFF_ISSUER.upper(),
        STAFF_ISSUER.replace("cognito-idp", "Cognito-idp"),
        STAFF_ISSUER + "/",
        STAFF_ISSUER + "/extra",
        STAFF_ISSUER + "x",
        STAFF_ISSUER[:-1],
        "http" + STAFF_ISSUER.removeprefix("https"),
        f"https://cognito-idp.eu-west-1.amazonaws.com.evil.example/{STAFF}",
    ],
)
def test_an_issuer_that_almost_matches_is_denied(
    two_pools: Authorizer, issuer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reason(two_pools, staff_token(iss=issuer), capsys) == "wrong_issuer"


def test_one_pools_outage_leaves_the_other_pools_tokens_passing(tmp_path: Path) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(STAFF_JWKS, body=jwks_body(STAFF_KEY), content_type="application/json")
        mock.get(CUSTOMER_JWKS, status=503, body="{}", content_type="application/json")
        # The cold start survives the customer pool's outage.
        authorizer = build_authorizer(load_config(ENV), baked=tmp_path / "none.json")
        assert decide(authorizer, staff_token())["isAuthorized"] is True
        # The customer pool's tokens cannot be decided: a 500, never a cached deny.
        with pytest.raises(JwksFetchError):
            decide(authorizer, customer_token())
        assert decide(authorizer, staff_token())["isAuthorized"] is True


def test_every_pool_is_baked_and_loaded_without_a_fetch(tmp_path: Path) -> None:
    baked = tmp_path / "baked_jwks.json"
    baked.write_text(
        json.dumps(
            {
                "bakedAtEpoch": time.time() - 60,
                "keySets": [
                    {"jwksUrl": STAFF_JWKS, "jwks": json.loads(jwks_body(STAFF_KEY))},
                    {"jwksUrl": CUSTOMER_JWKS, "jwks": json.loads(jwks_body(CUSTOMER_KEY))},
                ],
            }
        )
    )
    with responses.RequestsMock() as mock:  # no request is registered: any would fail
        authorizer = build_authorizer(load_config(ENV), baked=baked)
        assert decide(authorizer, staff_token())["isAuthorized"] is True
        assert decide(authorizer, customer_token())["isAuthorized"] is True
        assert len(mock.calls) == 0


def test_a_pools_own_issuer_is_its_primary_regions_whatever_the_replicas() -> None:
    pool_id = "ap-southeast-2_Primary1"
    pools = [{"userPoolId": pool_id, "appClientIds": ["c"], "replicaRegions": ["us-east-1"]}]
    [pool] = load_config({"USER_POOLS": json.dumps(pools)}).pools
    assert pool.issuer == original("ap-southeast-2", pool_id)
    assert original("us-east-1", pool_id) in pool.issuers
