"""Keys baked into the artifact at build time: no network on a cold start, rotation unchanged."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import responses

from authorizer.api.handler import build_authorizer
from scripts import bake_jwks
from tests.forge import JWKS_URL, POOL_ID, authorizer_event, claims, forged_key, jwks_body, sign
from tests.helpers import log_records, make_config


def write_baked(path: Path, *kids: str, age: float = 60.0, url: str = JWKS_URL) -> Path:
    document = json.loads(jwks_body(*(forged_key(k) for k in kids or ("key-1",))))
    baked = {"jwksUrl": url, "bakedAtEpoch": time.time() - age, "jwks": document}
    path.write_text(json.dumps(baked))
    return path


def test_baked_keys_mean_no_fetch_at_init_or_first_request(tmp_path: Path) -> None:
    baked = write_baked(tmp_path / "baked_jwks.json")
    with responses.RequestsMock() as mock:  # any request would fail: none is registered
        authorizer = build_authorizer(make_config(), baked=baked)
        assert authorizer.handle(authorizer_event(sign(claims())))["isAuthorized"] is True
        assert len(mock.calls) == 0


def test_unknown_kid_after_baking_refetches_at_once(tmp_path: Path) -> None:
    baked = write_baked(tmp_path / "baked_jwks.json")
    with responses.RequestsMock() as mock:
        mock.get(
            JWKS_URL,
            body=jwks_body(forged_key(), forged_key("key-2")),
            content_type="application/json",
        )
        authorizer = build_authorizer(make_config(), baked=baked)
        token = sign(claims(), forged_key("key-2"))
        assert authorizer.handle(authorizer_event(token))["isAuthorized"] is True
        assert len(mock.calls) == 1


@pytest.mark.parametrize(
    "content",
    [
        None,  # no file: fetched during initialisation
        "not json",
        json.dumps(
            {"jwksUrl": "https://elsewhere.example/jwks.json", "bakedAtEpoch": 0, "jwks": {}}
        ),
        json.dumps({"jwksUrl": JWKS_URL, "bakedAtEpoch": time.time(), "jwks": {"keys": []}}),
        jwks_body(forged_key()).decode(),  # a bare JWKS: no URL, no age
    ],
)
def test_missing_foreign_or_broken_baked_keys_fall_back_to_a_fetch(
    tmp_path: Path, content: str | None
) -> None:
    baked = tmp_path / "baked_jwks.json"
    if content is not None:
        baked.write_text(content)
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        authorizer = build_authorizer(make_config(), baked=baked)
        assert len(mock.calls) == 1  # during initialisation, not in the first request
        assert authorizer.handle(authorizer_event(sign(claims())))["isAuthorized"] is True
        assert len(mock.calls) == 1


def test_baked_keys_older_than_the_cache_period_are_refreshed_at_init(tmp_path: Path) -> None:
    baked = write_baked(tmp_path / "baked_jwks.json", age=3601)
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key("key-2")), content_type="application/json")
        authorizer = build_authorizer(make_config(), baked=baked)
        assert len(mock.calls) == 1  # during initialisation
        # the refreshed set replaced the baked one: key-1 is gone from the pool
        assert authorizer.handle(authorizer_event(sign(claims()))) == {"isAuthorized": False}


def test_stale_baked_keys_still_serve_when_the_refresh_fails(tmp_path: Path) -> None:
    baked = write_baked(tmp_path / "baked_jwks.json", age=7200)
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, status=503, body="{}", content_type="application/json")
        authorizer = build_authorizer(make_config(), baked=baked)
        assert authorizer.handle(authorizer_event(sign(claims())))["isAuthorized"] is True


OTHER_URL = "https://elsewhere.example/jwks.json"
KEYS_DOCUMENT = json.loads(jwks_body(forged_key()))


@pytest.mark.parametrize(
    ("content", "level", "message", "fields"),
    [
        ("not json", "WARNING", "baked key set is unreadable; fetching", {"path": "<path>"}),
        (
            {"jwksUrl": OTHER_URL, "bakedAtEpoch": 0, "jwks": KEYS_DOCUMENT},
            "INFO",
            "baked key set is for another JWKS URL; fetching",
            {"bakedFor": [OTHER_URL], "jwksUrl": JWKS_URL},
        ),
        (
            {"jwksUrl": JWKS_URL, "jwks": KEYS_DOCUMENT},
            "WARNING",
            "baked key set has no bakedAtEpoch; fetching",
            {},
        ),
        (
            {"jwksUrl": JWKS_URL, "bakedAtEpoch": True, "jwks": KEYS_DOCUMENT},
            "WARNING",
            "baked key set has no bakedAtEpoch; fetching",
            {},
        ),
        (
            {"jwksUrl": JWKS_URL, "bakedAtEpoch": time.time(), "jwks": {"keys": []}},
            "WARNING",
            "baked key set is unusable; fetching",
            {"reason": "jwks_invalid"},
        ),
    ],
    ids=["unreadable", "another-url", "no-bake-time", "boolean-bake-time", "unusable"],
)
def test_each_unusable_bake_says_why_in_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: Any,
    level: str,
    message: str,
    fields: dict[str, Any],
) -> None:
    baked = tmp_path / "baked_jwks.json"
    baked.write_text(content if isinstance(content, str) else json.dumps(content))
    capsys.readouterr()
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        build_authorizer(make_config(), baked=baked)
    records = log_records(capsys.readouterr().out)
    [line] = [record for record in records if record["message"].startswith("baked key set")]
    expected = {k: str(baked) if v == "<path>" else v for k, v in fields.items()}
    assert (line["level"], line["message"]) == (level, message)
    assert {key: line.get(key) for key in expected} == expected
    assert [r["source"] for r in records if r["message"] == "jwks loaded"] == ["fetch"]


def test_several_pools_baked_in_one_file_are_each_installed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_pool = "us-east-1_OtherPool"
    config = make_config(
        USER_POOL_ID="",
        APP_CLIENT_IDS="",
        USER_POOLS=json.dumps(
            [
                {"userPoolId": POOL_ID, "appClientIds": ["testclient123"]},
                {"userPoolId": other_pool, "appClientIds": ["otherclient456"]},
            ]
        ),
    )
    urls = [pool.jwks_url for pool in config.pools]
    baked = tmp_path / "baked_jwks.json"
    baked.write_text(
        json.dumps(
            {
                "bakedAtEpoch": time.time() - 60,
                "keySets": [{"jwksUrl": url, "jwks": KEYS_DOCUMENT} for url in urls],
            }
        )
    )
    capsys.readouterr()
    with responses.RequestsMock() as mock:  # any request would fail: none is registered
        authorizer = build_authorizer(config, baked=baked)
        assert authorizer.handle(authorizer_event(sign(claims())))["isAuthorized"] is True
        assert len(mock.calls) == 0
    loaded = [r for r in log_records(capsys.readouterr().out) if r["message"] == "jwks loaded"]
    assert sorted((r["source"], r["jwksUrl"]) for r in loaded) == sorted(
        ("baked", url) for url in urls
    )


# --- the build step ------------------------------------------------------------


def test_bake_writes_the_pools_key_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        assert bake_jwks.main(str(tmp_path), {"USER_POOL_ID": POOL_ID}) == 0
    baked = json.loads((tmp_path / "baked_jwks.json").read_text())
    assert baked["jwksUrl"] == JWKS_URL == make_config().pool.jwks_url
    assert abs(baked["bakedAtEpoch"] - time.time()) < 60
    assert [k["kid"] for k in baked["jwks"]["keys"]] == ["key-1"]
    assert "baked 1 key(s)" in capsys.readouterr().out
    # and the runtime accepts exactly what the build wrote
    with responses.RequestsMock():
        authorizer = build_authorizer(make_config(), baked=tmp_path / "baked_jwks.json")
        assert authorizer.handle(authorizer_event(sign(claims())))["isAuthorized"] is True


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PARAMS": f"AppClientIds=abc UserPoolId={POOL_ID} TokenUse=id"}, JWKS_URL),
        ({"PARAMS": "UserPoolId='' AppClientIds=abc"}, ""),
        ({"PARAMS": f"UserPoolId={POOL_ID}", "USER_POOL_ID": "eu-west-1_Stale"}, JWKS_URL),
        ({"BAKE_JWKS_URL": "http://127.0.0.1:9/x"}, "http://127.0.0.1:9/x"),
        (
            {
                "USER_POOL_ID": POOL_ID,
                "ISSUER": f"https://issuer-cognito-idp.us-east-1.amazonaws.com/{POOL_ID}",
            },
            f"https://issuer-cognito-idp.us-east-1.amazonaws.com/{POOL_ID}/.well-known/jwks.json",
        ),
    ],
)
def test_bake_finds_the_pool(
    env: dict[str, str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bake_jwks, "ROOT", Path("/nonexistent"))  # no samconfig.toml
    assert bake_jwks.jwks_url(env) == expected


def test_bake_reads_samconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "samconfig.toml").write_text(
        "version = 0.1\n[default.deploy.parameters]\n"
        f'parameter_overrides = "UserPoolId={POOL_ID} AppClientIds=abc"\n'
    )
    monkeypatch.setattr(bake_jwks, "ROOT", tmp_path)
    assert bake_jwks.jwks_url({}) == JWKS_URL


@pytest.mark.parametrize("env", [{}, {"USER_POOL_ID": "not-a-pool"}])
def test_bake_without_a_pool_writes_nothing(
    tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bake_jwks, "ROOT", tmp_path)
    assert bake_jwks.main(str(tmp_path), env) == 0
    assert not (tmp_path / "baked_jwks.json").exists()


def test_bake_with_an_unreachable_pool_writes_nothing(tmp_path: Path) -> None:
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, status=503, body="{}", content_type="application/json")
        assert bake_jwks.main(str(tmp_path), {"USER_POOL_ID": POOL_ID}) == 0
    assert not (tmp_path / "baked_jwks.json").exists()


def test_bake_writes_every_pool_of_user_pools(tmp_path: Path) -> None:
    pools = [
        {"userPoolId": POOL_ID, "appClientIds": ["testclient123"]},
        {"userPoolId": "eu-west-1_Other9", "appClientIds": ["other"]},
    ]
    other_url = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other9/.well-known/jwks.json"
    with responses.RequestsMock() as mock:
        mock.get(JWKS_URL, body=jwks_body(forged_key()), content_type="application/json")
        mock.get(other_url, body=jwks_body(forged_key("other")), content_type="application/json")
        params = f"UserPools='{json.dumps(pools)}'"
        assert bake_jwks.main(str(tmp_path), {"PARAMS": params}) == 0
    baked = json.loads((tmp_path / "baked_jwks.json").read_text())
    assert [entry["jwksUrl"] for entry in baked["keySets"]] == [JWKS_URL, other_url]
    assert [k["kid"] for k in baked["keySets"][1]["jwks"]["keys"]] == ["other"]
