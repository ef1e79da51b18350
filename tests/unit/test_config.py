from __future__ import annotations

import pytest

from authorizer.verification.config import load_config
from shared.exceptions import ConfigurationError
from tests.helpers import BASE_ENV


def config_error(**overrides: str) -> ConfigurationError:
    env = {**BASE_ENV, **overrides}
    env = {k: v for k, v in env.items() if v != "<unset>"}
    with pytest.raises(ConfigurationError) as caught:
        load_config(env)
    return caught.value


def test_defaults() -> None:
    config = load_config({"USER_POOL_ID": "eu-west-2_AbC123xyz", "APP_CLIENT_IDS": "abc"})
    assert config.pool.region == "eu-west-2"
    assert config.pool.issuer == "https://cognito-idp.eu-west-2.amazonaws.com/eu-west-2_AbC123xyz"
    assert config.pool.jwks_url == config.pool.issuer + "/.well-known/jwks.json"
    assert config.pool.token_use == "any"
    assert config.pool.app_client_ids == frozenset({"abc"})
    assert (config.jwks_cache_seconds, config.jwks_miss_cooldown_seconds) == (3600, 10)
    assert config.leeway_seconds == 30
    assert config.log_level == "INFO"


def test_overrides() -> None:
    config = load_config(
        {
            "USER_POOL_ID": "us-gov-west-1_x1Y2z3",
            "APP_CLIENT_IDS": " a1 ,b2,c3 ",
            "TOKEN_USE": "Access",
            "ISSUER": "https://issuer-cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_x1Y2z3",
            "JWKS_URL": "http://127.0.0.1:9229/us-gov-west-1_x1Y2z3/.well-known/jwks.json",
            "JWKS_CACHE_SECONDS": "600",
            "JWKS_MISS_COOLDOWN_SECONDS": "30",
            "LEEWAY_SECONDS": "0",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.pool.region == "us-gov-west-1"
    assert config.pool.app_client_ids == frozenset({"a1", "b2", "c3"})
    assert config.pool.token_use == "access"
    assert config.pool.issuer.startswith("https://issuer-cognito-idp.")
    assert config.pool.jwks_url.startswith("http://127.0.0.1:9229/")
    assert (config.jwks_cache_seconds, config.jwks_miss_cooldown_seconds) == (600, 30)
    assert config.leeway_seconds == 0
    assert config.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"USER_POOL_ID": "<unset>"}, "USER_POOL_ID"),
        ({"USER_POOL_ID": "   "}, "USER_POOL_ID"),
        ({"USER_POOL_ID": "AbC123xyz"}, "USER_POOL_ID"),
        ({"USER_POOL_ID": "us-east-1-AbC123"}, "USER_POOL_ID"),
        ({"USER_POOL_ID": "us-east-1_"}, "USER_POOL_ID"),
        ({"APP_CLIENT_IDS": "<unset>"}, "APP_CLIENT_IDS"),
        ({"APP_CLIENT_IDS": "a,,b"}, "APP_CLIENT_IDS"),
        ({"APP_CLIENT_IDS": "a b"}, "APP_CLIENT_IDS"),
        ({"TOKEN_USE": "refresh"}, "TOKEN_USE"),
        ({"ISSUER": "cognito"}, "ISSUER"),
        ({"ISSUER": "http://cognito-idp.us-east-1.amazonaws.com/x"}, "ISSUER"),
        ({"JWKS_URL": "http://example.com/jwks.json"}, "JWKS_URL"),
        ({"JWKS_URL": "http://10.0.0.1/jwks.json"}, "JWKS_URL"),
        ({"JWKS_URL": "ftp://127.0.0.1/jwks.json"}, "JWKS_URL"),
        ({"JWKS_CACHE_SECONDS": "ten"}, "JWKS_CACHE_SECONDS"),
        ({"JWKS_CACHE_SECONDS": "0"}, "JWKS_CACHE_SECONDS"),
        ({"JWKS_CACHE_SECONDS": "1.5"}, "JWKS_CACHE_SECONDS"),
        ({"JWKS_MISS_COOLDOWN_SECONDS": "-1"}, "JWKS_MISS_COOLDOWN_SECONDS"),
        ({"LEEWAY_SECONDS": "301"}, "LEEWAY_SECONDS"),
        ({"ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}, "ISSUER"),
        ({"LEEWAY_SECONDS": "x"}, "LEEWAY_SECONDS"),
        ({"LOG_LEVEL": "TRACE"}, "LOG_LEVEL"),
    ],
)
def test_invalid_settings_name_the_variable(overrides: dict[str, str], variable: str) -> None:
    error = config_error(**overrides)
    assert error.variable == variable
    assert str(error).startswith(f"{variable}: ")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "[::1]"])
def test_plain_http_is_allowed_for_loopback(host: str) -> None:
    config = load_config({**BASE_ENV, "JWKS_URL": f"http://{host}:9229/pool/.well-known/jwks.json"})
    assert config.pool.jwks_url.startswith("http://")


def test_config_is_frozen() -> None:
    config = load_config({**BASE_ENV, "ROUTE_RULES": '{"GET /hello": {"groups": ["admins"]}}'})
    with pytest.raises(AttributeError):
        config.pool.issuer = "https://evil.example"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.leeway_seconds = 3600  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.pools[0].issuers = frozenset({"https://evil.example"})  # type: ignore[misc]
    with pytest.raises(AttributeError):
        config.route_rules["GET /hello"].groups = frozenset()  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.route_rules["GET /hello"] = config.route_rules["GET /hello"]  # type: ignore[index]


# --- revocation: REVOCATION_TABLE, REVOCATION_REFRESH_SECONDS, REVOCATION_MAX_STALE_SECONDS ---

TABLE_RULE = "must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -) or ARN"


def test_revocation_is_off_unless_a_table_is_named() -> None:
    config = load_config(BASE_ENV)
    assert (config.revocation_table, config.revocation_refresh_seconds) == ("", 10)
    assert config.revocation_max_stale_seconds == 120


@pytest.mark.parametrize(
    "table",
    [
        "abc",
        "hello-stack-RevocationTable-1AB2C3D4E5F6",
        "a.b_c-d",
        "t" * 255,
        "arn:aws:dynamodb:eu-west-1:123456789012:table/revocations",
        "arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/revocations",
    ],
)
def test_revocation_table_names_and_arns(table: str) -> None:
    config = load_config({**BASE_ENV, "REVOCATION_TABLE": f" {table} "})
    assert config.revocation_table == table


def test_revocation_settings() -> None:
    config = load_config(
        {
            **BASE_ENV,
            "REVOCATION_TABLE": "revocations",
            "REVOCATION_REFRESH_SECONDS": "30",
            "REVOCATION_MAX_STALE_SECONDS": "30",
        }
    )
    assert (config.revocation_refresh_seconds, config.revocation_max_stale_seconds) == (30, 30)
    # Left out, the stale bound is 120 s, or the refresh interval when that is longer.
    longer = load_config({**BASE_ENV, "REVOCATION_REFRESH_SECONDS": "300"})
    assert longer.revocation_max_stale_seconds == 300


@pytest.mark.parametrize(
    ("overrides", "variable", "message"),
    [
        ({"REVOCATION_TABLE": "ab"}, "REVOCATION_TABLE", TABLE_RULE),
        ({"REVOCATION_TABLE": "t" * 256}, "REVOCATION_TABLE", TABLE_RULE),
        ({"REVOCATION_TABLE": "my table"}, "REVOCATION_TABLE", TABLE_RULE),
        ({"REVOCATION_TABLE": "arn:aws:s3:::bucket"}, "REVOCATION_TABLE", TABLE_RULE),
        (
            {"REVOCATION_REFRESH_SECONDS": "0"},
            "REVOCATION_REFRESH_SECONDS",
            "must be between 1 and 300 seconds",
        ),
        (
            {"REVOCATION_REFRESH_SECONDS": "301"},
            "REVOCATION_REFRESH_SECONDS",
            "must be between 1 and 300 seconds",
        ),
        (
            {"REVOCATION_REFRESH_SECONDS": "2.5"},
            "REVOCATION_REFRESH_SECONDS",
            "must be a whole number of seconds, got '2.5'",
        ),
        (
            {"REVOCATION_MAX_STALE_SECONDS": "3601"},
            "REVOCATION_MAX_STALE_SECONDS",
            "must be between 10 and 3600 seconds",
        ),
        (
            {"REVOCATION_MAX_STALE_SECONDS": "9"},
            "REVOCATION_MAX_STALE_SECONDS",
            "must be between 10 and 3600 seconds",
        ),
        (
            {"REVOCATION_REFRESH_SECONDS": "60", "REVOCATION_MAX_STALE_SECONDS": "59"},
            "REVOCATION_MAX_STALE_SECONDS",
            "must be between 60 and 3600 seconds",
        ),
    ],
)
def test_invalid_revocation_settings_name_the_variable(
    overrides: dict[str, str], variable: str, message: str
) -> None:
    # Checked with the table unset too: a typo does not wait for the day revocation is switched on.
    error = config_error(**overrides)
    assert (error.variable, str(error)) == (variable, f"{variable}: {message}")
