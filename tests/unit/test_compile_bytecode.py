"""scripts/compile_bytecode.py: python3.13 bytecode for an artifact, or none and a warning."""

from __future__ import annotations

import importlib.util
import marshal
import sys
from pathlib import Path

import pytest

from scripts import compile_bytecode

needs_313 = pytest.mark.skipif(
    sys.implementation.cache_tag != "cpython-313", reason="writes python3.13 bytecode"
)


def artifact(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("def where():\n    return 1\n")
    return tmp_path


@needs_313
def test_writes_checked_hash_bytecode_with_lambda_paths(tmp_path: Path) -> None:
    root = artifact(tmp_path)
    assert compile_bytecode.main([str(root)]) == 0
    source = root / "pkg" / "mod.py"
    data = (root / "pkg" / "__pycache__" / "mod.cpython-313.pyc").read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 0b11  # hash-based, checked
    assert data[8:16] == importlib.util.source_hash(source.read_bytes())
    # Written as Lambda will see it, not as the build directory.
    assert marshal.loads(data[16:]).co_filename == "/var/task/pkg/mod.py"  # noqa: S302 - a pyc we just wrote
    assert (root / "pkg" / "__pycache__" / "__init__.cpython-313.pyc").is_file()


def test_another_python_writes_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = artifact(tmp_path)
    monkeypatch.setattr(compile_bytecode, "LAMBDA_CACHE_TAG", "cpython-399")
    assert compile_bytecode.main([str(root)]) == 0
    assert list(root.rglob("*.pyc")) == []
    assert "ships no bytecode" in capsys.readouterr().err


@needs_313
def test_a_module_that_does_not_compile_is_named_and_the_rest_compiled(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = artifact(tmp_path)
    (root / "pkg" / "broken.py").write_text("def (:\n")
    assert compile_bytecode.main([str(root)]) == 0
    printed = capsys.readouterr()
    assert "broken.py" in printed.out + printed.err
    assert (root / "pkg" / "__pycache__" / "mod.cpython-313.pyc").is_file()


@pytest.mark.parametrize("argv", [[], ["a", "b"], ["/no/such/directory"]])
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert compile_bytecode.main(argv) == 2
    assert capsys.readouterr().err
