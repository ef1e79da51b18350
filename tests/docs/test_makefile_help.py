"""`make help` lists every target a user types, and the Makefile's examples name real parameters."""

from __future__ import annotations

import re
from typing import Final

from local.cfn import load_template
from tests.docs.pages import ROOT

MAKEFILE: Final = (ROOT / "Makefile").read_text()
TEMPLATES: Final = ("template.yaml", "template-rest.yaml", "authorizer/template.yaml")


def phony_targets() -> set[str]:
    """The .PHONY targets, less the build-<LogicalId> recipes `sam build` runs itself."""
    [declared] = re.findall(r"^\.PHONY:((?:.*\\\n)*.*)$", MAKEFILE, flags=re.M)
    return {t for t in declared.replace("\\\n", " ").split() if not t.startswith("build-")}


def test_make_help_lists_every_target() -> None:
    helped = set(re.findall(r'^\t@echo "make ([\w-]+)', MAKEFILE, flags=re.M))
    assert helped == phony_targets() - {"help"}
    assert "format" in helped


def test_the_parameters_in_the_makefiles_examples_exist() -> None:
    parameters = set().union(*(load_template(ROOT / t)["Parameters"] for t in TEMPLATES))
    examples = re.findall(r'(?:PARAMS|RUN_PARAMS)="([^"]*)"', MAKEFILE)
    named = {name for example in examples for name in re.findall(r"\b([A-Z]\w+)=", example)}
    assert named
    assert named <= parameters, named - parameters
