"""The IaC security scan of `make lint`: checkov over template.yaml and over what it
becomes for each operations variant (SnapStart, Tracing and AlarmEmail all off, all on;
all on with Revocation, and with the tenant registry too),
over template-rest.yaml (the REST API variant) and template-websocket.yaml (the
WebSocket API variant, revocation off and on) and what they become, and over the
authorizer application (authorizer/template.yaml) and what it becomes alone, per variant,
and over the consumer templates of examples/ and what they become.

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
from tests.deploy.samtemplate import APP_TEMPLATE, TEMPLATE, transform_template

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
    # With operations on too: the sign-out function's traces and alarm topic.
    "revocation-on": {**OPERATIONS_ON, **REVOCATION_ON},
    # Everything on: the tenant registry's table, role statement, alarm and dashboard row.
    "tenants-on": {**OPERATIONS_ON, **REVOCATION_ON, "TenantRegistry": "true"},
}
REST_TEMPLATE: Final = TEMPLATE.with_name("template-rest.yaml")
WEBSOCKET_TEMPLATE: Final = TEMPLATE.with_name("template-websocket.yaml")
# The WebSocket demo's pool (it creates none), with revocation off and on.
WEBSOCKET_POOL: Final[dict[str, str]] = {
    "UserPoolId": "us-east-1_AbC123xyz",
    "AppClientIds": "1example23456789",
}
# The application for a WebSocket API with sign-out that hangs up, operations on too.
APP_WEBSOCKET: Final[dict[str, str]] = {
    **OPERATIONS_ON,
    **REVOCATION_ON,
    "ApiType": "websocket",
    "WebSocketApi": "a1b2c3d4e5/prod",
}
EXAMPLES: Final = sorted((TEMPLATE.parent / "examples").glob("*.yaml"))
# What an example is given for the authorizer it names by ARN.
EXAMPLE_AUTHORIZER_ARN: Final = "arn:aws:lambda:us-east-1:123456789012:function:authorizer:live"
# Offline: no guideline download, no platform, no network.
CHECKOV_ARGS: Final = ("--framework", "cloudformation", "--quiet", "--compact", "--skip-download")


def transformed_variant(parameters: Mapping[str, str]) -> dict[str, Any]:
    """The transformed template with the variant's values as parameter defaults,
    so a scanner that evaluates conditions sees this deploy's branch."""
    template = transform_template(parameters)
    for name, value in parameters.items():
        template["Parameters"][name]["Default"] = value
    return template


# The application's own settings, deployed alone: one pool, and a REST API to invoke it.
APP_ALONE: Final[dict[str, str]] = {
    "UserPoolId": "us-east-1_AbC123xyz",
    "AppClientIds": "1example23456789",
    "InvokingApis": "a1b2c3d4e5",
}


def transformed_app(parameters: Mapping[str, str]) -> dict[str, Any]:
    """The authorizer application transformed alone, the variant's values as defaults."""
    values = {**APP_ALONE, **parameters}
    template = SamTemplate.read(APP_TEMPLATE).transform(values).template
    for name, value in values.items():
        template["Parameters"][name]["Default"] = value
    return template


def transformed_example(path: Path) -> dict[str, Any]:
    """An example transformed, with each REST API's skips also on its stage."""
    arn = {"AuthorizerArn": EXAMPLE_AUTHORIZER_ARN}
    template = SamTemplate.read(path).transform(arn).template
    template["Parameters"]["AuthorizerArn"]["Default"] = EXAMPLE_AUTHORIZER_ARN
    return with_stage_skips(template)


def as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Each nested stack's local template named by an S3 URL, as `sam package` leaves it
    (the local path means nothing beside a copy of the transformed template)."""
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            url = f"https://s3.amazonaws.com/packaged-templates/{name}.template"
            resource["Properties"]["TemplateURL"] = url
    return template


def write_variants(directory: Path) -> list[Path]:
    written = {f"{name}.json": transformed_variant(values) for name, values in VARIANTS.items()}
    written["rest.json"] = transformed_rest()
    written |= {f"app-{name}.json": transformed_app(values) for name, values in VARIANTS.items()}
    written["app-websocket.json"] = transformed_app(APP_WEBSOCKET)
    written |= {
        f"websocket-{name}.json": SamTemplate.read(WEBSOCKET_TEMPLATE)
        .transform({**WEBSOCKET_POOL, **values})
        .template
        for name, values in (("revocation-off", {}), ("revocation-on", REVOCATION_ON))
    }
    written |= {f"example-{path.stem}.json": transformed_example(path) for path in EXAMPLES}
    paths = []
    for name, template in written.items():
        path = directory / name
        path.write_text(json.dumps(as_packaged(template), indent=1))
        paths.append(path)
    return paths


def transformed_rest() -> dict[str, Any]:
    """template-rest.yaml transformed, with each REST API's justified skips also on its stage."""
    return with_stage_skips(SamTemplate.read(REST_TEMPLATE).transform().template)


def with_stage_skips(template: dict[str, Any]) -> dict[str, Any]:
    """Each REST API's checkov skips copied to its stage.

    samtranslator keeps an ``AWS::Serverless::Api``'s Metadata on the RestApi it
    makes but not on the Stage it generates, where checkov reports the stage
    settings (access logs, tracing, caching) that the Api's skips justify.
    """
    resources = template["Resources"]
    for resource in resources.values():
        if resource["Type"] == "AWS::ApiGateway::Stage":
            api = resources[resource["Properties"]["RestApiId"]["Ref"]]
            if "Metadata" in api:
                resource["Metadata"] = api["Metadata"]
    return template


def scan(checkov: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="template-scan-") as tmp:
        files = [
            TEMPLATE,
            REST_TEMPLATE,
            WEBSOCKET_TEMPLATE,
            APP_TEMPLATE,
            *EXAMPLES,
            *write_variants(Path(tmp)),
        ]
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
