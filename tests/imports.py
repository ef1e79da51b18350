"""What a Python module imports, read with ``ast`` (never by importing it)."""

from __future__ import annotations

import ast

_DYNAMIC_IMPORTERS = {"import_module", "__import__"}


def imported_packages(source: str | bytes) -> set[str]:
    """The top-level packages a module imports by absolute name, statically or by a literal name.

    Relative imports (``from . import x``) stay inside the module's own package
    and are not listed.
    """
    return {name.split(".")[0] for name in imported_modules(source)}


def imported_modules(source: str | bytes) -> set[str]:
    """The dotted names a module imports by absolute name, statically or by a literal name.

    ``from a.b import c`` names ``a.b`` (``c`` may be a module or a name in it).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Call) and node.args:
            function = node.func
            name = (
                function.attr
                if isinstance(function, ast.Attribute)
                else getattr(function, "id", "")
            )
            first = node.args[0]
            if (
                name in _DYNAMIC_IMPORTERS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                found.add(first.value)
    # make mutate runs the tests on mutmut's rewritten copy of the tree, where every
    # mutated module imports mutmut's trampoline; no module of ours imports mutmut.
    return {name for name in found if name.split(".")[0] != "mutmut"}
