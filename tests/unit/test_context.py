from __future__ import annotations

from typing import Any

import pytest

from shared.context import AuthContext, decode_context, encode_context
from shared.exceptions import MissingAuthContext


def wrap(values: Any) -> dict[str, Any]:
    return {"requestContext": {"authorizer": {"lambda": values}}}


def test_round_trip() -> None:
    ctx = AuthContext(
        sub="s",
        username="u",
        token_use="access",
        client_id="c",
        groups=("admins", "readers"),
        scopes=("openid", "hello/read"),
        email=None,
    )
    encoded = encode_context(ctx)
    assert all(isinstance(v, str) for v in encoded.values())
    assert encoded["groups"] == "admins readers"
    assert "email" not in encoded
    assert decode_context(wrap(encoded)) == ctx


def test_empty_lists_round_trip() -> None:
    ctx = AuthContext(sub="s", username="", token_use="id", client_id="c", email="e@x")
    encoded = encode_context(ctx)
    assert (encoded["groups"], encoded["scope"], encoded["email"]) == ("", "", "e@x")
    assert decode_context(wrap(encoded)) == ctx


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"requestContext": None},
        {"requestContext": {"authorizer": None}},
        {"requestContext": {"authorizer": {"jwt": {"claims": {}}}}},
        wrap({"sub": "s"}),
        wrap(
            {
                "sub": "",
                "username": "u",
                "tokenUse": "id",
                "clientId": "c",
                "groups": "",
                "scope": "",
            }
        ),
        wrap(
            {
                "sub": 1,
                "username": "u",
                "tokenUse": "id",
                "clientId": "c",
                "groups": "",
                "scope": "",
            }
        ),
    ],
)
def test_missing_or_broken_context(event: dict[str, Any]) -> None:
    with pytest.raises(MissingAuthContext):
        decode_context(event)
