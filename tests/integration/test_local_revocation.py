"""The offline stack's AWS side of revocation: moto's Cognito taught RevokeToken, the template's
table created in moto's DynamoDB, and the sign-out function and make revoke writing to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from authorizer.signout.handler import SignOut, SignOutSettings
from authorizer.tables.revocation import FAMILY, USER, default_expires_at, parse_item
from local.cognito import LocalCognito, LocalPool, aws_client, bootstrap, cognito_client
from local.dynamodb import create_tables
from local.sam import SamTemplate
from scripts.revoke import RevokeError, Target, revoke_user
from tests.helpers import cognito_refreshes
from tests.unit.test_signout import signout_event

ROOT = Path(__file__).resolve().parents[2]
ON = {"Revocation": "true", "UserPoolId": "us-east-1_Local", "AppClientIds": "local"}


@dataclass(frozen=True)
class Offline:
    pool: LocalPool
    table: str

    def client(self, service: str) -> Any:
        return aws_client(service, self.pool.endpoint)

    def sign_in(self) -> dict[str, str]:
        result: dict[str, str] = self.client("cognito-idp").initiate_auth(
            ClientId=self.pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": self.pool.username, "PASSWORD": self.pool.password},
        )["AuthenticationResult"]
        return result

    def entries(self) -> list[Any]:
        items = self.client("dynamodb").scan(TableName=self.table)["Items"]
        return sorted((parse_item(item) for item in items), key=lambda e: e.sort_key)


@pytest.fixture(scope="module")
def offline() -> Iterator[Offline]:
    server = LocalCognito("127.0.0.1", 0)
    server.start()
    try:
        pool = bootstrap(server.endpoint)
        tables = create_tables(
            SamTemplate.read(ROOT / "template.yaml").transform(ON), server.endpoint
        )
        assert tables == {"RevocationTable": "local-Authorizer-RevocationTable"}
        yield Offline(pool, tables["RevocationTable"])
    finally:
        server.stop()


def refreshes(offline: Offline, refresh_token: str) -> bool:
    return cognito_refreshes(offline.pool.endpoint, offline.pool.client_id, refresh_token)


# --- RevokeToken, which moto lacks ---------------------------------------------------------


def test_revoke_token_ends_the_refresh_token_and_its_familys_access_tokens(
    offline: Offline,
) -> None:
    cognito = cognito_client(offline.pool.endpoint)
    mine, other = offline.sign_in(), offline.sign_in()
    cognito.revoke_token(Token=mine["RefreshToken"], ClientId=offline.pool.client_id)
    assert not refreshes(offline, mine["RefreshToken"])
    with pytest.raises(ClientError, match="NotAuthorizedException"):
        cognito.get_user(AccessToken=mine["AccessToken"])
    # Another sign-in of the same user is another family: untouched.
    assert refreshes(offline, other["RefreshToken"])
    assert cognito.get_user(AccessToken=other["AccessToken"])["Username"] == "brian"
    # Revoking a revoked token again succeeds, as revocation does (RFC 7009).
    cognito.revoke_token(Token=mine["RefreshToken"], ClientId=offline.pool.client_id)


def test_revoke_token_refuses_an_unknown_token_and_another_clients(offline: Offline) -> None:
    cognito = cognito_client(offline.pool.endpoint)
    with pytest.raises(ClientError, match="InvalidParameterException"):
        cognito.revoke_token(Token="not-a-refresh-token", ClientId=offline.pool.client_id)
    other_client = cognito.create_user_pool_client(
        UserPoolId=offline.pool.user_pool_id, ClientName="other"
    )["UserPoolClient"]["ClientId"]
    refresh_token = offline.sign_in()["RefreshToken"]
    with pytest.raises(ClientError, match="UnauthorizedException"):
        cognito.revoke_token(Token=refresh_token, ClientId=other_client)
    assert refreshes(offline, refresh_token)


# --- the table, as the template defines it -------------------------------------------------


def test_the_table_is_created_from_the_template_with_its_keys_ttl_and_recovery(
    offline: Offline,
) -> None:
    dynamodb = offline.client("dynamodb")
    table = dynamodb.describe_table(TableName=offline.table)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("pk", "HASH"),
        ("sk", "RANGE"),
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = dynamodb.describe_time_to_live(TableName=offline.table)["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expiresAt", "ENABLED")
    backups = dynamodb.describe_continuous_backups(TableName=offline.table)
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_without_revocation_the_template_creates_no_table(offline: Offline) -> None:
    transformed = SamTemplate.read(ROOT / "template.yaml").transform(
        {k: v for k, v in ON.items() if k != "Revocation"}
    )
    assert create_tables(transformed, offline.pool.endpoint) == {}


# --- the writers against it ----------------------------------------------------------------


def test_the_sign_out_function_revokes_at_moto_and_writes_the_family(offline: Offline) -> None:
    signed_in = offline.sign_in()
    claims = _claims(signed_in["IdToken"])
    signout = SignOut(
        SignOutSettings(offline.table, 30 * 86400, "INFO"),
        offline.client("cognito-idp"),
        offline.client("dynamodb"),
    )
    event = signout_event(
        {"refreshToken": signed_in["RefreshToken"]}, origin_jti=claims["origin_jti"]
    )
    event["requestContext"]["authorizer"]["lambda"]["clientId"] = offline.pool.client_id
    before = len(offline.entries())
    answer = signout.handle(event)
    assert answer["statusCode"] == 200, answer
    assert not refreshes(offline, signed_in["RefreshToken"])
    [entry] = [e for e in offline.entries()[before:] if e.value == claims["origin_jti"]]
    assert entry.kind == FAMILY
    # The refresh token is revoked: a day and the leeway, not its 30 days.
    assert entry.expires_at - default_expires_at(entry.revoked_at) in (0, 1)


def test_make_revoke_signs_the_user_out_at_moto_and_writes_the_user(offline: Offline) -> None:
    signed_in = offline.sign_in()
    target = Target(
        offline.pool.user_pool_id,
        offline.table,
        offline.client("cognito-idp"),
        offline.client("dynamodb"),
        "test",
    )
    sub = _claims(signed_in["IdToken"])["sub"]
    done = revoke_user(target, "brian", now=time.time())
    assert done["sub"] == sub
    assert not refreshes(offline, signed_in["RefreshToken"])
    assert any(e.kind == USER and e.value == sub for e in offline.entries())
    with pytest.raises(RevokeError, match="no user 'nobody'"):
        revoke_user(target, "nobody")


def _claims(token: str) -> dict[str, Any]:
    import jwt

    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims
