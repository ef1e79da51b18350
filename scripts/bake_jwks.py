"""Bake the user pool's current JWKS into the authorizer's artifact (run by `make build`).

A cold start then verifies tokens without a network call; the baked keys are
treated like a fetched set (same TTL, same unknown-kid refresh), so rotation
still works. Baking is best effort: when the pool is not known yet (the stack
creates it) or its JWKS cannot be fetched, nothing is written and the
authorizer fetches during initialisation, as without baking.

Which key sets: BAKE_JWKS_URL if set; else every pool of UserPools in PARAMS
(`make deploy PARAMS=...`) or in samconfig.toml's parameter_overrides, each from
the JWKS URL the authorizer itself derives for it; else the pool named by
UserPoolId in PARAMS, or by USER_POOL_ID, or by UserPoolId in samconfig.toml.
ISSUER, when set, replaces the default issuer host exactly as it does for the
authorizer. One pool's file is {"jwksUrl", "bakedAtEpoch", "jwks"}; several
pools' is {"bakedAtEpoch", "keySets": [{"jwksUrl", "jwks"}, ...]}. A pool
whose keys cannot be had is left out (the authorizer fetches it at init).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shlex
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from authorizer.exceptions import JwksError  # noqa: E402
from authorizer.verification.config import load_config  # noqa: E402 - needs ROOT on sys.path
from authorizer.verification.jwks import fetch_jwks, parse_jwks  # noqa: E402
from shared.exceptions import ConfigurationError  # noqa: E402

BAKED_NAME = "baked_jwks.json"


def parameter_value(text: str, name: str) -> str:
    """A parameter's value in sam-style overrides: ``Name=Value Other='quoted value'``."""
    for item in shlex.split(text):
        match = re.fullmatch(rf"{name}=(.*)", item, flags=re.S)
        if match:
            return match[1].strip("\"'")
    return ""


def pool_id_from_parameters(text: str) -> str:
    return parameter_value(text, "UserPoolId")


def samconfig_parameter(path: Path, name: str) -> str:
    try:
        config = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    for section in ("deploy", "build"):
        overrides = config.get("default", {}).get(section, {}).get("parameters", {})
        found = overrides.get("parameter_overrides", "")
        if isinstance(found, list):
            found = " ".join(found)
        value = parameter_value(found, name) if isinstance(found, str) else ""
        if value:
            return value
    return ""


def samconfig_pool_id(path: Path) -> str:
    return samconfig_parameter(path, "UserPoolId")


def jwks_urls(env: dict[str, str]) -> list[str]:
    """Every key set to bake: one per trusted pool."""
    if env.get("BAKE_JWKS_URL"):
        return [env["BAKE_JWKS_URL"]]
    pools = parameter_value(env.get("PARAMS", ""), "UserPools") or samconfig_parameter(
        ROOT / "samconfig.toml", "UserPools"
    )
    if pools:
        return [pool.jwks_url for pool in load_config({"USER_POOLS": pools}).pools]
    url = jwks_url(env)
    return [url] if url else []


def jwks_url(env: dict[str, str]) -> str:
    if env.get("BAKE_JWKS_URL"):
        return env["BAKE_JWKS_URL"]
    # What this deploy passes wins over a USER_POOL_ID left in the shell.
    pool = (
        pool_id_from_parameters(env.get("PARAMS", ""))
        or env.get("USER_POOL_ID")
        or samconfig_pool_id(ROOT / "samconfig.toml")
    )
    if not pool:
        return ""
    # The authorizer's own rules derive the URL, so build time and run time agree.
    settings = {"USER_POOL_ID": pool, "APP_CLIENT_IDS": "bake", "ISSUER": env.get("ISSUER", "")}
    return load_config(settings).pool.jwks_url


def main(out_dir: str, env: dict[str, str]) -> int:
    try:
        urls = jwks_urls(env)
    except ConfigurationError as err:
        print(f"bake: nothing baked: {err}")
        return 0
    if not urls:
        print(
            "bake: nothing baked: no UserPoolId yet (the stack creates the pool); "
            "the authorizer fetches its keys during initialisation"
        )
        return 0
    key_sets = []
    for url in urls:
        try:
            body = fetch_jwks(url)
            kids = sorted(parse_jwks(body))
        except JwksError as err:
            print(f"bake: not baked: {err}; the authorizer fetches these keys at initialisation")
            continue
        key_sets.append({"jwksUrl": url, "jwks": json.loads(body)})
        print(f"bake: baked {len(kids)} key(s) {kids} from {url}")
    if not key_sets:
        print("bake: nothing baked; the authorizer fetches its keys during initialisation")
        return 0
    now = time.time()
    stamp = {
        "bakedAt": datetime.datetime.fromtimestamp(now, datetime.UTC).isoformat(timespec="seconds"),
        # What the authorizer reads: the keys are trusted for JWKS_CACHE_SECONDS from here.
        "bakedAtEpoch": now,
    }
    baked = {**key_sets[0], **stamp} if len(urls) == 1 else {**stamp, "keySets": key_sets}
    target = Path(out_dir) / BAKED_NAME
    target.write_text(json.dumps(baked, indent=1) + "\n")
    print(f"bake: wrote {len(key_sets)} key set(s) into {target}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: bake_jwks.py <authorizer artifact dir>")
    sys.exit(main(sys.argv[1], dict(os.environ)))
