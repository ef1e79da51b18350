"""Compile an artifact's Python modules to bytecode for Lambda's python3.13 (run by `make build`).

Without bytecode every cold start compiles each module it imports, PyJWT's and
cryptography's included: about half of the init time (see `make bench`). With
it, the runtime loads the compiled code instead.

The files are checked-hash pycs (PEP 552): they record a hash of their source,
not its modification time, which a zip does not keep exactly. The runtime
rehashes the source on import, so an edited source (say, in the Lambda
console) is compiled afresh rather than shadowed by stale bytecode, and
`/var/task` being read-only costs nothing more than that compile. The paths
inside are written as `/var/task/...`, Lambda's code directory, so the files
do not depend on where the build ran.

Bytecode belongs to one minor version of CPython. Only a CPython 3.13 can
write it for the python3.13 runtime; any other interpreter leaves the
artifact without bytecode (it still runs, each cold start compiling) and says so.
"""

from __future__ import annotations

import compileall
import py_compile
import sys
from pathlib import Path

LAMBDA_CACHE_TAG = "cpython-313"
LAMBDA_TASK_ROOT = "/var/task"


def compile_tree(root: Path) -> bool:
    """Write a checked-hash pyc beside every module under ``root``; False if this is no 3.13."""
    if sys.implementation.cache_tag != LAMBDA_CACHE_TAG:
        return False
    return compileall.compile_dir(
        root,
        quiet=1,
        stripdir=str(root),
        prependdir=LAMBDA_TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: compile_bytecode.py ARTIFACT_DIR", file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    if sys.implementation.cache_tag != LAMBDA_CACHE_TAG:
        print(
            f"warning: {sys.executable} is {sys.implementation.cache_tag}, not {LAMBDA_CACHE_TAG}:"
            " the artifact ships no bytecode, so each cold start compiles every module",
            file=sys.stderr,
        )
        return 0
    if not compile_tree(root):
        # compileall has named the file; importing it would fail the same way.
        print(f"warning: a module under {root} does not compile (above)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
