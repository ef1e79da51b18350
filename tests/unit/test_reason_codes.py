"""Docs = code for reason codes: README lists exactly what the authorizer can emit.

Every deny and error reason is a ``reason`` of a ``TokenError`` or ``JwksError``
class (``JwksError`` itself is only a base: the authorizer raises its two
subclasses) or of ``RevocationUnavailable``, plus ``internal`` for a bug; an
allow's reason is ``ok``. The EMF ``Reason`` dimension takes exactly those
values and folds anything else into ``other``, as README states once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

from authorizer import exceptions
from authorizer.operations import metrics
from shared.exceptions import ProductError

README: Final = (Path(__file__).parents[2] / "README.md").read_text()
# Bases whose own reason is never raised.
ABSTRACT: Final = {exceptions.JwksError}


def emitted_reasons() -> set[str]:
    codes = {metrics.INTERNAL_REASON}
    pending: list[type[ProductError]] = [
        exceptions.TokenError,
        exceptions.JwksError,
        exceptions.RevocationUnavailable,
    ]
    while pending:
        cls = pending.pop()
        if cls not in ABSTRACT:
            codes.add(cls.reason)
        pending.extend(cls.__subclasses__())
    return codes


def readme_reason_list() -> set[str]:
    pattern = r"Reason codes \(from `authorizer/exceptions.py`\):(.*?)An allow's reason is `ok`"
    [paragraph] = re.findall(pattern, README, re.S)
    return set(re.findall(r"`([a-z_]+)`", paragraph))


def test_readme_lists_exactly_the_reasons_the_authorizer_can_emit() -> None:
    assert readme_reason_list() == emitted_reasons()


def test_every_emitted_reason_is_its_own_emf_dimension_value_and_nothing_else_is() -> None:
    assert emitted_reasons() | {metrics.ALLOW_REASON} <= metrics.REASON_CODES
    emitter = metrics.MetricsEmitter()
    for reason in emitted_reasons():
        assert emitter.decision_document("deny", reason, 1.0, None)["Reason"] == reason
    assert emitter.decision_document("deny", "made_up", 1.0, None)["Reason"] == metrics.OTHER


def test_the_abstract_base_is_named_as_never_emitted() -> None:
    assert f"(`{exceptions.JwksError.reason}` is only the code's common base" in " ".join(
        README.split()
    )


def test_the_folding_rule_is_stated_once() -> None:
    assert len(re.findall(r"reported as `other`", README)) == 1
