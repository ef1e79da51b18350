"""Hypothesis budgets for the handler fuzz: fixed and bounded in make test, long in make fuzz.

``FUZZ_PROFILE`` picks the profile (``fuzz-ci``, the default, or ``fuzz-long``).
Profiles are registered, never loaded globally, so other hypothesis tests keep
their own settings; a fuzz test takes its budget from :func:`fuzz_settings`.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Final

from hypothesis import HealthCheck, settings

_SUPPRESSED: Final = [
    HealthCheck.too_slow,
    HealthCheck.data_too_large,
    HealthCheck.large_base_example,
    HealthCheck.function_scoped_fixture,  # one wired authorizer and log sink serve all examples
]
# make test: the same examples on every run (derandomize), no example database.
settings.register_profile(
    "fuzz-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SUPPRESSED,
)
# make fuzz: fresh random examples every run, failures remembered in .hypothesis/.
settings.register_profile(
    "fuzz-long", deadline=None, print_blob=True, suppress_health_check=_SUPPRESSED
)
PROFILE: Final = os.environ.get("FUZZ_PROFILE", "fuzz-ci")
# fuzz-long runs this many times each test's make-test budget.
LONG_FACTOR: Final = int(os.environ.get("FUZZ_FACTOR", "25"))

EXAMPLES: Counter[str] = Counter()


def fuzz_settings(examples: int) -> settings:
    """The current profile with ``examples`` (scaled up under fuzz-long) as the budget."""
    scale = LONG_FACTOR if PROFILE == "fuzz-long" else 1
    return settings(settings.get_profile(PROFILE), max_examples=examples * scale)
