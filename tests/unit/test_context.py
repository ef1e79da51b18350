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


def test_the_token_family_round_trips_under_origin_jti() -> None:
    ctx = AuthContext(sub="s", username="u", token_use="id", client_id="c", origin_jti="f-1")
    encoded = encode_context(ctx)
    assert encoded["originJti"] == "f-1"
    assert decode_context(wrap(encoded)) == ctx
    # Absent when the token has none, and an empty or non-text value reads as none.
    assert "originJti" not in encode_context(ctx._replace(origin_jti=None))
    for value in ("", 7, None):
        assert decode_context(wrap({**encoded, "originJti": value})).origin_jti is None


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


def test_the_tenant_round_trips_under_tenant_id_and_its_attributes_under_tenant_prefix() -> None:
    ctx = AuthContext(
        sub="s",
        username="u",
        token_use="id",
        client_id="c",
        tenant_id="acme",
        tenant_attributes=(("plan", "gold"), ("region", "eu")),
    )
    encoded = encode_context(ctx)
    assert encoded["tenantId"] == "acme"
    assert (encoded["tenant:plan"], encoded["tenant:region"]) == ("gold", "eu")
    assert decode_context(wrap(encoded)) == ctx
    # No tenant (the registry off, or a configured pool's token): no tenant keys at all.
    untenanted = encode_context(ctx._replace(tenant_id=None))
    assert not [key for key in untenanted if key.startswith("tenant")]
    # A REST API hands every value over as text: the attributes still read back.
    assert decode_context(wrap({**encoded, "tenant:tier": "3"})).tenant_attributes == (
        ("plan", "gold"),
        ("region", "eu"),
        ("tier", "3"),
    )
    for value in ("", 7, None):
        assert decode_context(wrap({**encoded, "tenantId": value})).tenant_id is None


def rest(values: dict[str, Any]) -> dict[str, Any]:
    """A REST proxy or WebSocket event: the context beside principalId, every value as text."""
    return {"requestContext": {"authorizer": {"principalId": values["sub"], **values}}}


def test_the_token_s_issue_time_travels_as_a_number_and_reads_back_as_text_too() -> None:
    ctx = AuthContext(sub="s", username="u", token_use="id", client_id="c", issued_at=1_800_000_000)
    encoded = encode_context(ctx)
    assert encoded["issuedAt"] == 1_800_000_000  # a flat number, the one among the fixed keys
    assert decode_context(wrap(encoded)) == ctx  # an HTTP API passes it as it is
    as_text = {key: str(value) for key, value in encoded.items()}
    assert decode_context(rest(as_text)) == ctx  # REST and WebSocket integrations: text
    assert decode_context(wrap({**encoded, "issuedAt": 0})).issued_at == 0
    # Absent (a context from before it): none, and the key is left out when there is none.
    assert "issuedAt" not in encode_context(ctx._replace(issued_at=None))
    assert decode_context(wrap(encode_context(ctx._replace(issued_at=None)))).issued_at is None
    assert decode_context(wrap({**encoded, "issuedAt": None})).issued_at is None


@pytest.mark.parametrize(
    "value", [-1, "-1", 1.5, "1.5", "", " 7", "7 ", "\u0667", "1e9", True, [1], "9" * 5000]
)
def test_an_issue_time_that_is_not_a_whole_number_of_seconds_is_a_broken_context(
    value: Any,
) -> None:
    encoded = encode_context(AuthContext(sub="s", username="u", token_use="id", client_id="c"))
    event = wrap({**encoded, "issuedAt": value})
    with pytest.raises(MissingAuthContext, match=r"^issuedAt is not a whole number of seconds$"):
        decode_context(event)
