"""The IaC security scan of `make lint`: checkov over template.yaml and over what it
becomes for each operations variant (SnapStart, Tracing and AlarmEmail all off, all on;
and all on with Revocation),
and over template-rest.yaml (the REST API variant) and what it becomes.

checkov reads the SAM source as it is, every resource whatever its Condition;
the transformed variants add what samtranslator generates (the alias, the
version, the API stage, permissions). Every finding is either fixed or skipped
in template.yaml with a one-line justification (Metadata.checkov.skip), which
samtranslator carries over to the generated functions.

    python -m tests.deploy.scan --checkov .venv-scan/bin/checkov
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from local.sam import SamTemplate
from tests.deploy.samtemplate import TEMPLATE, transform_template

OPERATIONS_OFF: Final[dict[str, str]] = {}
OPERATIONS_ON: Final[dict[str, str]] = {
    "SnapStart": "true",
    "Tracing": "Active",
    "AlarmEmail": "ops@example.com",
}
REVOCATION_ON: Final[dict[str, str]] = {"Revocation": "true"}
VARIANTS: Final[dict[str, dict[str, str]]] = {
    "operations-off": OPERATIONS_OFF,
    "operations-on": OPERATIONS_ON,
    # With operations on too: the sign-out function's alias-free wiring, traces and alarm topic.
    "revocation-on": {**OPERATIONS_ON, **REVOCATION_ON},
}
REST_TEMPLATE: Final = TEMPLATE.with_name("template-rest.yaml")
# Offline: no guideline download, no platform, no network.
CHECKOV_ARGS: Final = ("--framework", "cloudformation", "--quiet", "--compact", "--skip-download")


def transformed_variant(parameters: Mapping[str, str]) -> dict[str, Any]:
    """The transformed template with the variant's values as parameter defaults,
    so a scanner that evaluates conditions sees this deploy's branch."""
    template = transform_template(parameters)
    for name, value in parameters.items():
        template["Parameters"][name]["Default"] = value
    return template


def write_variants(directory: Path) -> list[Path]:
    paths = []
    for name, parameters in VARIANTS.items():
        path = directory / f"{name}.json"
        path.write_text(json.dumps(transformed_variant(parameters), indent=1))
        paths.append(path)
    rest = directory / "rest.json"
    rest.write_text(json.dumps(transformed_rest(), indent=1))
    return [*paths, rest]


def transformed_rest() -> dict[str, Any]:
    """template-rest.yaml transformed, with each REST API's justified skips also on its stage.

    samtranslator keeps an ``AWS::Serverless::Api``'s Metadata on the RestApi it
    makes but not on the Stage it generates, where checkov reports the stage
    settings (access logs, tracing, caching) that the Api's skips justify.
    """
    template = SamTemplate.read(REST_TEMPLATE).transform().template
    resources = template["Resources"]
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGateway::Stage":
            api = resources[resource["Properties"]["RestApiId"]["Ref"]]
            if "Metadata" in api:
                resource["Metadata"] = api["Metadata"]
    return template


def scan(checkov: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="template-scan-") as tmp:
        files = [TEMPLATE, REST_TEMPLATE, *write_variants(Path(tmp))]
        args = [str(checkov), *CHECKOV_ARGS]
        for path in files:
            args += ["--file", str(path)]
        return subprocess.run(args, check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkov", type=Path, required=True, help="the checkov executable")
    return scan(parser.parse_args(argv).checkov)


if __name__ == "__main__":
    sys.exit(main())
