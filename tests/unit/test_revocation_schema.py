"""The revocation list's item format, as writers encode it and the authorizer decodes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authorizer.tables import changelog, revocation
from authorizer.tables.revocation import (
    FAMILY,
    MAX_VALUE_BYTES,
    READ_ATTRIBUTES,
    USER,
    InvalidRevocation,
    Revocation,
    cursor,
    default_expires_at,
    parse_item,
    revocation_item,
    sort_key,
)
from tests.imports import imported_modules, imported_packages

JTI = "5c3f0b8e-8a1d-4c2e-9f7a-2b6d4e8c1a90"
SUB = "0b7e5a3c-1f2d-4c6b-9a8e-7d6c5b4a3f21"
T = 1_760_000_000.25


def test_item_is_exactly_the_contract() -> None:
    assert revocation_item(FAMILY, JTI, T, T + 3600) == {
        "pk": {"S": "revoked"},
        "sk": {"S": f"001760000000250#family#{JTI}"},
        "kind": {"S": "family"},
        "value": {"S": JTI},
        "revokedAt": {"N": "1760000000"},
        "expiresAt": {"N": "1760003601"},
    }


def test_user_item_rounds_the_sign_out_time_down() -> None:
    # A token issued before the sign-out has an iat no later than that whole second.
    item = revocation_item(USER, SUB, 1_760_000_000.999, 1_760_000_100)
    assert item["revokedAt"] == {"N": "1760000000"}
    assert item["sk"] == {"S": f"001760000000999#user#{SUB}"}
    assert item["expiresAt"] == {"N": "1760000100"}


def test_default_expiry_covers_the_longest_token_and_the_leeway() -> None:
    assert default_expires_at(T) == 1_760_000_001 + 86400 + 300
    assert revocation_item(USER, SUB, T)["expiresAt"] == {"N": str(1_760_000_001 + 86700)}


def test_round_trip() -> None:
    item = revocation_item(USER, SUB, T, T + 60)
    assert parse_item(item) == Revocation(
        f"001760000000250#user#{SUB}", USER, SUB, 1_760_000_000, 1_760_000_061
    )


def test_sort_keys_order_by_time_and_cursor_includes_its_own_millisecond() -> None:
    earlier = sort_key(USER, "zzz", T)
    later = sort_key(FAMILY, "aaa", T + 0.001)
    assert earlier < later
    assert cursor(T) < earlier < cursor(T + 0.001) < later
    # Fixed width: a ten-digit-seconds time still sorts before an eleven-digit one.
    assert cursor(9_999_999_999) < cursor(10_000_000_000)
    assert cursor(0) == "000000000000000"


@pytest.mark.parametrize("seconds", [-1, -0.0005, 10**12, 10**12 + 1, float("inf")])
def test_cursor_out_of_range(seconds: float) -> None:
    with pytest.raises((changelog.InvalidItem, OverflowError)):
        cursor(seconds)


def test_cursor_takes_every_time_its_fifteen_digits_hold() -> None:
    assert cursor(999_999_999_999.999) == "9" * 15
    assert cursor(0.0009) == "0" * 15
    with pytest.raises(changelog.InvalidItem, match=r"^time is outside the sort key's range$"):
        cursor(10**12)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("session", JTI),
        ("", JTI),
        (FAMILY, ""),
        (USER, "a\nb"),
        (USER, "a\x00b"),
        (USER, "x" * (MAX_VALUE_BYTES + 1)),
        (USER, "é" * (MAX_VALUE_BYTES // 2 + 1)),
    ],
)
def test_writer_refuses_what_is_not_a_revocation(kind: str, value: str) -> None:
    # The message says what a well-formed one is, never echoing what was given.
    message = (
        r"^kind must be one of family, user$"
        if kind not in (FAMILY, USER)
        else r"^value must be printable text of 1 to 256 bytes \(an origin_jti or a sub\)$"
    )
    with pytest.raises(InvalidRevocation, match=message):
        revocation_item(kind, value, T)


def test_largest_value_is_accepted() -> None:
    assert parse_item(revocation_item(USER, "x" * MAX_VALUE_BYTES, T)).value == "x" * 256


@pytest.mark.parametrize(
    ("revoked_at", "expires_at"),
    [(T, T - 1), (T, T - 0.75), (1_760_000_000, 1_760_000_000)],
)
def test_expiry_must_follow_the_revocation(revoked_at: float, expires_at: float) -> None:
    with pytest.raises(InvalidRevocation, match=r"^expiresAt must be after revokedAt$"):
        revocation_item(FAMILY, JTI, revoked_at, expires_at)
    # Whole seconds, rounded up: the next second after the revocation is enough.
    assert parse_item(revocation_item(FAMILY, JTI, T, T)).expires_at == 1_760_000_001
    assert parse_item(revocation_item(FAMILY, JTI, 1_760_000_000, 1_760_000_001)).expires_at == (
        1_760_000_001
    )


def _broken(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = revocation_item(FAMILY, JTI, T, T + 60)
    for name, value in changes.items():
        if value is None:
            del item[name]
        else:
            item[name] = value
    return item


@pytest.mark.parametrize(
    "item",
    [
        _broken(expiresAt=None),
        _broken(sk=None),
        _broken(kind={"S": "session"}),
        _broken(kind={"N": "1"}),
        _broken(revokedAt={"S": "1760000000"}),
        _broken(revokedAt={"N": "1760000001"}),
        _broken(expiresAt={"N": "1.5e9"}),
        _broken(sk={"S": f"001760000000250#user#{JTI}"}),
        _broken(sk={"S": f"00176000000025x#family#{JTI}"}),
        _broken(sk={"S": f"1#family#{JTI}"}),
        _broken(value={"S": "other"}),
        _broken(sk={"S": "001760000000250#family"}),
        _broken(sk={"S": "001760000000250#family#"}),
        _broken(sk={"S": "٠٠١٧٦٠٠٠٠٠٠٠٢٥٠#family#x"}),
        _broken(sk={"N": "1"}),
        _broken(sk={"S": 1}),
    ],
)
def test_reader_refuses_malformed_items(item: dict[str, Any]) -> None:
    with pytest.raises(InvalidRevocation) as caught:
        parse_item(item)
    # Fixed text: an item's value never reaches a log through the message.
    assert JTI not in str(caught.value)
    assert str(caught.value) in (
        "item lacks a field or has one of the wrong type",
        "sort key is not <epoch ms>#<kind>#<value>",
        "kind, value or revokedAt does not match the sort key",
        "value must be printable text of 1 to 256 bytes (an origin_jti or a sub)",
    )


@pytest.mark.parametrize("copy", ["kind", "value", "revokedAt"])
def test_each_copy_of_the_sort_keys_parts_is_checked_on_its_own(copy: str) -> None:
    """A reader may read any of them beside the sort key: each must agree with it."""
    item = revocation_item(FAMILY, JTI, T, T + 60)
    alone = {name: item[name] for name in (*READ_ATTRIBUTES, copy)}
    assert parse_item(alone) == parse_item(item)
    wrong = {"kind": {"S": USER}, "value": {"S": "other"}, "revokedAt": {"N": str(T + 1)}}
    with pytest.raises(InvalidRevocation, match=r"^kind, value or revokedAt does not match"):
        parse_item({**alone, copy: wrong[copy]})


def test_a_reader_may_read_only_the_sort_key_and_the_times() -> None:
    item = revocation_item(FAMILY, JTI, T, T + 60)
    projected = {name: item[name] for name in READ_ATTRIBUTES}
    assert set(projected) == {"sk", "expiresAt"}
    assert parse_item(projected) == parse_item(item)
    # A value may hold "#": only the first two separate the parts.
    odd = revocation_item(USER, "a#b", T)
    assert parse_item({name: odd[name] for name in READ_ATTRIBUTES}).value == "a#b"


def test_module_imports_only_the_standard_library() -> None:
    # Writers (another function) and the authorizer's cold start import it, and the
    # sort-key layout every table shares, which imports only the standard library too.
    source = Path(revocation.__file__).read_bytes()
    assert imported_modules(source) <= {
        "__future__",
        "math",
        "re",
        "typing",
        "authorizer.tables.changelog",
    }
    layout = Path(changelog.__file__).read_bytes()
    assert imported_packages(layout) <= {"__future__", "math", "typing"}
