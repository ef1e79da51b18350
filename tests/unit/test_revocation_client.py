"""The revocation list's DynamoDB client: botocore's own, its data loader made cheaper.

What it must keep: the very data botocore would load, from the same files in
the same order, and a client that talks to DynamoDB as botocore's does. What it
buys (a cheaper cold start) is measured by ``make bench``, never timed here;
here only that the work is skipped.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import botocore.loaders
import pytest

from authorizer.tables import mirror
from authorizer.tables.mirror import _DictFiles, _lighten
from authorizer.tables.revocation import FAMILY, USER, cursor, parse_item, revocation_item
from authorizer.tables.revocation_list import dynamodb_query
from tests.unit.test_revocation_list import aws  # noqa: F401 - moto's DynamoDB with the table

BOTOCORE_DATA = Path(botocore.loaders.__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch, region: None) -> dict[str, Any]:
    """Every data file making the client loaded, by path, as our loader returned it."""
    seen: dict[str, Any] = {}
    load = _DictFiles.load_file

    def recorded(self: _DictFiles, file_path: str) -> Any:
        seen[file_path] = load(self, file_path)
        return seen[file_path]

    monkeypatch.setattr(_DictFiles, "load_file", recorded)
    mirror._client("revocations")
    return seen


def test_the_client_loads_the_very_data_botocore_would(loaded: dict[str, Any]) -> None:
    names = {
        Path(path).relative_to(BOTOCORE_DATA).as_posix()
        for path, data in loaded.items()
        if data is not None
    }
    # The two largest: every client's endpoints, and DynamoDB's own model.
    assert {"endpoints", "dynamodb/2012-08-10/service-2"} <= names
    botocores = botocore.loaders.JSONFileLoader()
    ours = _DictFiles(botocores)
    for path, data in loaded.items():
        # Parsed without OrderedDict's cost; None for a file botocore only looks for.
        assert data is None or type(data) is dict, path
        # Read afresh: botocore changes some of what it loaded as it makes the client.
        assert ours.load_file(path) == botocores.load_file(path), path


def test_making_the_client_lists_no_other_services_data(
    monkeypatch: pytest.MonkeyPatch, region: None
) -> None:
    listed: list[str] = []
    listdir = os.listdir

    def recorded(path: Any = ".") -> list[str]:
        listed.append(os.fspath(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", recorded)  # the module botocore.loaders lists with
    client = mirror._client("revocations")
    assert client.meta.service_model.service_name == "dynamodb"
    # Only DynamoDB's directory, for its API versions; never the 400-odd others'.
    assert listed
    assert all(Path(path).name == "dynamodb" for path in listed), listed
    assert str(BOTOCORE_DATA) not in listed


class BotocoresFiles:
    """Stands for botocore's own file loader: what ours hands it."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def exists(self, file_path: str) -> bool:
        self.asked.append(file_path)
        return file_path.endswith("present")

    def load_file(self, file_path: str) -> Any:
        self.asked.append(file_path)
        return {"from": "botocore"}


def write(path: Path, document: Any, *, compressed: bool = False) -> None:
    data = json.dumps(document, ensure_ascii=False).encode("utf-8")
    path.write_bytes(gzip.compress(data) if compressed else data)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"x.json": {"a": 1}}, {"a": 1}),
        ({"x.json.gz": {"b": 2}}, {"b": 2}),
        # Both: .json first, as botocore reads them.
        ({"x.json": {"plain": True}, "x.json.gz": {"plain": False}}, {"plain": True}),
    ],
)
def test_the_same_file_is_read_as_botocore_reads_it(
    tmp_path: Path, files: dict[str, Any], expected: dict[str, Any]
) -> None:
    for name, document in files.items():
        write(tmp_path / name, document, compressed=name.endswith(".gz"))
    path = str(tmp_path / "x")
    ours = _DictFiles(BotocoresFiles())
    assert ours.load_file(path) == expected == botocore.loaders.JSONFileLoader().load_file(path)


def test_data_files_are_read_as_utf8_whatever_the_locale(tmp_path: Path) -> None:
    # As botocore's loader decodes them; a process in the C locale, without Python's
    # UTF-8 mode, would read text files as ASCII.
    write(tmp_path / "x.json", {"documentation": "Amazon DynamoDB é ü"})
    write(tmp_path / "y.json.gz", {"documentation": "ü"}, compressed=True)
    read = (
        "import sys; from authorizer.tables.mirror import _DictFiles; "
        "print(ascii([_DictFiles(None).load_file(p) for p in sys.argv[1:]]))"
    )
    ascii_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    answered = subprocess.run(
        [sys.executable, "-c", read, str(tmp_path / "x"), str(tmp_path / "y")],
        env={**os.environ, **ascii_locale},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert answered.stdout.strip() == ascii(
        [{"documentation": "Amazon DynamoDB é ü"}, {"documentation": "ü"}]
    )


def test_a_file_in_any_other_form_is_left_to_botocores_loader(tmp_path: Path) -> None:
    (tmp_path / "x.json.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    botocores = BotocoresFiles()
    ours = _DictFiles(botocores)
    assert ours.load_file(str(tmp_path / "x")) == {"from": "botocore"}
    assert ours.exists(str(tmp_path / "present")) is True
    assert ours.exists(str(tmp_path / "absent")) is False
    assert botocores.asked == [str(tmp_path / n) for n in ("x", "present", "absent")]


def test_whatever_botocore_asks_the_session_knows_only_dynamodb() -> None:
    loader = botocore.loaders.Loader()
    _lighten(loader)
    for type_name in ("service-2", "endpoint-rule-set-1", "paginators-1", "waiters-2"):
        assert loader.list_available_services(type_name) == ["dynamodb"]
    assert isinstance(loader.file_loader, _DictFiles)
    assert loader.load_data("endpoints") == botocore.loaders.Loader().load_data("endpoints")
    assert not isinstance(loader.load_data("endpoints"), OrderedDict)


def test_the_lightened_client_reads_the_list_from_dynamodb(aws: Any) -> None:  # noqa: F811
    written = [
        revocation_item(FAMILY, "family-1", 1_760_000_000),
        revocation_item(USER, "user-1", 1_760_000_001),
    ]
    for item in written:
        aws.put_item(TableName="revocations", Item=item)
    read = list(dynamodb_query("revocations")(cursor(1_759_999_999)))
    assert [parse_item(item) for item in read] == [parse_item(item) for item in written]
    assert list(dynamodb_query("revocations")(cursor(1_760_000_002))) == []
