from __future__ import annotations

from typing import Any

import pytest

from authorizer.exceptions import MalformedToken, MissingToken
from authorizer.verification.token import extract_token

JWT = "aaa.bbb.ccc"


@pytest.mark.parametrize(
    "event",
    [
        {"identitySource": [f"Bearer {JWT}"]},
        {"identitySource": [f"bearer {JWT}"]},
        {"identitySource": [f"BEARER   {JWT}  "]},
        {"identitySource": [JWT]},
        {"headers": {"authorization": f"Bearer {JWT}"}},
        {"headers": {"Authorization": f"Bearer {JWT}"}},
        {"headers": {"AUTHORIZATION": JWT}},
        {"identitySource": [], "headers": {"authorization": f"Bearer {JWT}"}},
        {"identitySource": [""], "headers": {"authorization": f"Bearer {JWT}"}},
        {"identitySource": [f"Bearer {JWT}"], "headers": {"authorization": "Bearer other"}},
    ],
)
def test_token_is_found(event: dict[str, Any]) -> None:
    assert extract_token(event) == JWT


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"identitySource": None, "headers": None},
        {"identitySource": ["  "]},
        {"headers": {"authorization": ""}},
        {"headers": {"x-authorization": JWT}},
        {"identitySource": [7]},
    ],
)
def test_missing(event: dict[str, Any]) -> None:
    with pytest.raises(MissingToken):
        extract_token(event)


@pytest.mark.parametrize(
    "value", ["Bearer", "Basic dXNlcjpwYXNz", f"Bearer {JWT} extra", "Bearer a b"]
)
def test_malformed(value: str) -> None:
    with pytest.raises(MalformedToken):
        extract_token({"identitySource": [value]})
