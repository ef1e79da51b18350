"""The offline stack from tests/e2e/templates/offline.yaml, started once for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stackproc import PARENT_CANARIES, TEMPLATES, StackProcess, start_stack_process


@pytest.fixture(scope="session")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    running = start_stack_process(
        tmp_path_factory.mktemp("offline"),
        TEMPLATES / "offline.yaml",
        parameters={"AuthorizerCacheTtlSeconds": "2"},
        extra_env=PARENT_CANARIES,
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def id_token(offline: StackProcess) -> str:
    return offline.token("id")
