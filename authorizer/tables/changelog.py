"""The sort key every table kept in memory shares: a change's time first.

Each table the authorizer keeps in memory (the revocation list, the tenant
registry) is a change log in one partition: an item's sort key starts with
the time of the change, in epoch milliseconds as 15 digits, then ``#`` and
what the table adds. So "what changed since T" is one Query, ``sk >
cursor(T)``, read by ``authorizer/tables/mirror.py``. This module imports
nothing beyond the standard library: a writer pays nothing for it.
"""

from __future__ import annotations

import math
from typing import Final

SORT_KEY: Final = "sk"
MS_DIGITS: Final = 15
# Epoch milliseconds in 15 digits: up to the year 33658.
MAX_MS: Final = 10**MS_DIGITS - 1


class InvalidItem(ValueError):
    """An item or an argument that is not well-formed for its table (fixed text, no values)."""


def cursor(epoch_seconds: float) -> str:
    """The sort-key prefix of ``epoch_seconds``: ``sk > cursor(T)`` is everything written since T.

    Every item stamped at or after T sorts after it (``"...#"`` > ``"..."``),
    including those in T's very millisecond.
    """
    milliseconds = math.floor(epoch_seconds * 1000)
    if not 0 <= milliseconds <= MAX_MS:
        raise InvalidItem("time is outside the sort key's range")
    return f"{milliseconds:0{MS_DIGITS}d}"


def stamped_seconds(sort_key: str) -> int:
    """The whole epoch seconds a sort key's time names (its milliseconds, rounded down)."""
    return int(sort_key[:MS_DIGITS]) // 1000
