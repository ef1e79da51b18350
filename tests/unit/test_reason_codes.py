"""Docs = code for reason codes: docs/reference.md lists exactly what the authorizer can emit.

Every deny and error reason is a ``reason`` of a ``TokenError`` or ``JwksError``
class (``JwksError`` itself is only a base: the authorizer raises its two
subclasses) or of a ``TableUnavailable`` (the revocation list's, the tenant
registry's; the base itself is never raised), plus ``internal`` for a bug; an
allow's reason is ``ok``. The EMF ``Reason`` dimension takes exactly those
values and folds anything else into ``other``, as the docs state once.
README.md keeps a compact list of every code, the sign-out function's too,
that must name the same set.
"""

from __future__ import annotations

import re
from typing import Final

from authorizer import exceptions
from authorizer.operations import metrics
from shared.exceptions import MissingAuthContext, ProductError
from tests.docs.pages import CORPUS, collapsed, page, section, table_rows

REFERENCE: Final = section("docs/reference.md", "Reason codes")
# Bases whose own reason is never raised.
ABSTRACT: Final = {exceptions.JwksError, exceptions.TableUnavailable, exceptions.SignOutError}


def reasons_below(*bases: type[ProductError]) -> set[str]:
    codes = set()
    pending = list(bases)
    while pending:
        cls = pending.pop()
        if cls not in ABSTRACT:
            codes.add(cls.reason)
        pending.extend(cls.__subclasses__())
    return codes


def emitted_reasons() -> set[str]:
    return {metrics.INTERNAL_REASON} | reasons_below(
        exceptions.TokenError, exceptions.JwksError, exceptions.TableUnavailable
    )


def signout_reasons() -> set[str]:
    """What the sign-out function logs: its errors' reasons, and a request with no context."""
    return reasons_below(exceptions.SignOutError) | {MissingAuthContext.reason}


def reference_reason_list() -> set[str]:
    pattern = r"Reason codes \(from `authorizer/exceptions.py`\):(.*?)An allow's reason is `ok`"
    [paragraph] = re.findall(pattern, REFERENCE, re.S)
    return set(re.findall(r"`([a-z_]+)`", paragraph))


def test_the_reference_lists_exactly_the_reasons_the_authorizer_can_emit() -> None:
    assert reference_reason_list() == emitted_reasons()


def test_the_reference_table_explains_each_reason_once() -> None:
    explained = [
        code
        for row in table_rows(REFERENCE, "reason")
        for code in re.findall(r"`([a-z_]+)`", row[0])
    ]
    assert len(explained) == len(set(explained))
    assert set(explained) == emitted_reasons() | {metrics.ALLOW_REASON}


def test_the_readme_names_every_code_the_functions_log() -> None:
    [line] = re.findall(
        r"Every decision line names its reason:(.*?)What each one means",
        collapsed(page("README.md")),
    )
    named = set(re.findall(r"`([a-z_]+)`", line))
    bases = {
        exceptions.JwksError.reason,
        exceptions.TableUnavailable.reason,
        exceptions.SignOutError.reason,
    }
    assert named == emitted_reasons() | signout_reasons() | bases | {metrics.ALLOW_REASON}


def test_every_emitted_reason_is_its_own_emf_dimension_value_and_nothing_else_is() -> None:
    assert emitted_reasons() | {metrics.ALLOW_REASON} <= metrics.REASON_CODES
    emitter = metrics.MetricsEmitter()
    for reason in emitted_reasons():
        assert emitter.decision_document("deny", reason, 1.0, None)["Reason"] == reason
    assert emitter.decision_document("deny", "made_up", 1.0, None)["Reason"] == metrics.OTHER


def test_the_abstract_bases_are_named_as_never_emitted() -> None:
    text = collapsed(REFERENCE)
    assert f"(`{exceptions.JwksError.reason}` is only the code's common base" in text
    assert f"and `{exceptions.TableUnavailable.reason}` of the two table errors" in text
    assert {cls.reason for cls in exceptions.TableUnavailable.__subclasses__()} == {
        "revocation_unavailable",
        "tenant_registry_unavailable",
    }


def test_the_folding_rule_is_stated_once() -> None:
    assert len(re.findall(r"reported as `other`", CORPUS)) == 1
