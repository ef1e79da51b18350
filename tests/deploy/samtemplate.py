"""The deploy path, checked offline: template.yaml transformed as `sam deploy` does
(by local/sam.py, the one template reader), a model of one deploy for one set of
parameters, and inspection of `sam build` artifacts.

Shared by the tests in this package and by ``python -m tests.deploy.report``.
"""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from local.cfn import REGION, Resolver, parameter_values, rule_failures
from local.sam import SamTemplate, TransformedTemplate, transform_nested

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# The authorizer application: deployed alone, or nested by TEMPLATE and the REST variant.
APP_TEMPLATE = ROOT / "authorizer" / "template.yaml"
STACK_NAME = "hello-stack"

# Where `sam build` of template.yaml puts each function: a nested application's
# functions under the application's logical id, beside its built template.
BUILT_ARTIFACTS = {
    "AuthorizerFunction": "Authorizer/AuthorizerFunction",
    # Built whatever Revocation is (sam build builds every function); deployed only with it.
    "SignOutFunction": "Authorizer/SignOutFunction",
    # Likewise with Revocation and ApiType websocket: sign-out that hangs up.
    "ConnectionsFunction": "Authorizer/ConnectionsFunction",
    "HangUpFunction": "Authorizer/HangUpFunction",
    "GreeterFunction": "GreeterFunction",
}

EM_AARCH64 = 183
EM_X86_64 = 62


def load_sam_template() -> dict[str, Any]:
    """template.yaml as written."""
    return SamTemplate.read(TEMPLATE).source


def load_app_template() -> dict[str, Any]:
    """The authorizer application's template as written."""
    return SamTemplate.read(APP_TEMPLATE).source


def transform_template(parameter_values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """template.yaml as CloudFormation holds it after the SAM transform on `sam deploy`."""
    return SamTemplate.read(TEMPLATE).transform(parameter_values).template


class DeployModel:
    """One deploy of a transformed template with given parameter values: which
    resources and outputs exist, and what their properties resolve to. What only
    a deployed stack knows (a resource's id or ARN) resolves to a ``ResourceRef``.

    A nested application with a local template (the authorizer's) deploys with
    it: its resources are this deploy's too, each resolved in its own stack with
    the values the parent passes, and its outputs resolve to what they name."""

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, str],
        nested: Mapping[str, TransformedTemplate] | None = None,
        *,
        stack_name: str = STACK_NAME,
    ) -> None:
        self.template = template
        # Every parameter's value for this deploy: the given ones over the defaults.
        self.parameters = parameter_values(template, parameters)
        if nested is None:
            nested = transform_nested(template, self.parameters, ROOT)
        self.nested = dict(nested)
        self.attached: dict[str, tuple[str, str]] = {}  # attached applications: none here
        self._resolver = Resolver(
            template,
            self.parameters,
            placeholders=True,
            stack_name=stack_name,
            nested=self.nested,
        )
        # Each resource of this stack and its nested ones: its definition and resolver.
        self._owners: dict[str, tuple[dict[str, Any], Resolver]] = {}
        self._add_resources(template, self._resolver, self.nested)

    def _add_resources(
        self,
        template: Mapping[str, Any],
        resolver: Resolver,
        nested: Mapping[str, TransformedTemplate],
    ) -> None:
        for logical_id, resource in template["Resources"].items():
            assert logical_id not in self._owners, f"{logical_id} is defined twice"
            self._owners[logical_id] = (resource, resolver)
        for logical_id, child in nested.items():
            self._add_resources(child.template, resolver.child(logical_id), child.nested)

    def resource(self, logical_id: str) -> dict[str, Any]:
        """A resource as the (possibly nested) template defines it."""
        return self._owners[logical_id][0]

    def resolve_resource(self, logical_id: str) -> Any:
        """The whole resource resolved in its own stack (a dangling reference raises)."""
        resource, resolver = self._owners[logical_id]
        return resolver.resolve(resource, logical_id)

    @property
    def conditions(self) -> dict[str, bool]:
        return {name: self.condition(name) for name in self.template.get("Conditions", {})}

    def condition(self, name: str) -> bool:
        return self._resolver.condition(name)

    def exists(self, logical_id: str) -> bool:
        return self._owners[logical_id][1].exists(logical_id)

    def resolve(self, node: Any) -> Any:
        return self._resolver.resolve(node)

    def resources(self, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        """Every resource this deploy creates, nested stacks' included."""
        return {
            logical_id: resource
            for logical_id, (resource, _) in self._owners.items()
            if self.exists(logical_id)
            and (resource_type is None or resource["Type"] == resource_type)
        }

    def properties(self, logical_id: str) -> dict[str, Any]:
        resource, resolver = self._owners[logical_id]
        props: dict[str, Any] = resolver.resolve(resource["Properties"], logical_id)
        return props

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    def rule_failures(self) -> list[str]:
        """The rules this deploy breaks, a nested stack's (``Stack/Rule``) included."""
        return rule_failures(self, self._resolver)


# --- the HTTP API's OpenAPI body ---------------------------------------------


def api_body(template: Mapping[str, Any], api_id: str = "HelloApi") -> dict[str, Any]:
    body: dict[str, Any] = template["Resources"][api_id]["Properties"]["Body"]
    return body


def operations(body: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in body.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict):
                yield method.upper(), path, operation


# --- the SAM CLI and cfn-lint, run offline ---------------------------------------


# `make test` runs us under make: a make the SAM CLI or a test starts must not inherit them.
_MAKE_VARIABLES = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")


def offline_aws_env(home: Path) -> dict[str, str]:
    """This environment with a region, no credentials anywhere, no telemetry, ``home`` as HOME
    (and none of an enclosing make's variables)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k not in _MAKE_VARIABLES
    }
    env.update(
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        SAM_CLI_TELEMETRY="0",
        SAM_CLI_BETA_FEATURES="0",
        HOME=str(home),
    )
    return env


def run_tool(
    args: list[str], env: Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """A command run in the repository, its output kept for the assertion message."""
    return subprocess.run(
        args, cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout, check=False
    )


# --- artifacts -----------------------------------------------------------------


def elf_machine(path: Path) -> int:
    """e_machine from an ELF header (183 is AArch64, 62 is x86-64)."""
    header = path.read_bytes()[:20]
    if header[:4] != b"\x7fELF":
        raise ValueError(f"{path} is not an ELF file")
    byte_order = "<" if header[5] == 1 else ">"
    machine: int = struct.unpack(byte_order + "H", header[18:20])[0]
    return machine


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} B"


def artifact_report(artifact: Path) -> str:
    """A listing of one artifact: total, each top-level entry, compiled modules."""
    files = [p for p in artifact.rglob("*") if p.is_file()]
    lines = [
        f"{artifact.name}: {format_size(tree_size(artifact))} in {len(files)} files ({artifact})"
    ]
    for entry in sorted(artifact.iterdir()):
        suffix = "/" if entry.is_dir() else ""
        lines.append(f"  {format_size(tree_size(entry)):>10}  {entry.name}{suffix}")
    for so in sorted(artifact.rglob("*.so")):
        machine = elf_machine(so)
        name = {EM_AARCH64: "aarch64", EM_X86_64: "x86-64"}.get(machine, "other")
        lines.append(f"  ELF e_machine={machine} ({name})  {so.relative_to(artifact)}")
    return "\n".join(lines)


def authorizer_settings(template: Mapping[str, Any]) -> str:
    """The transformed authorizer wiring, as API Gateway will receive it."""
    import json

    model = DeployModel(template, {})
    body = api_body(template)
    scheme = body["components"]["securitySchemes"]["CognitoAuthorizer"]
    permissions = {
        logical_id: model.properties(logical_id)
        for logical_id in model.resources("AWS::Lambda::Permission")
        if str(model.properties(logical_id)["SourceArn"]).endswith("/authorizers/*")
    }
    routes = {f"{method} {path}": op.get("security") for method, path, op in operations(body)}
    function = model.resource("AuthorizerFunction")["Properties"]
    summary = {
        "securitySchemes.CognitoAuthorizer": scheme,
        "authorizer invoke permissions": permissions,
        "routes (security)": routes,
        "AuthorizerFunction (the nested application's)": {
            key: function.get(key)
            for key in ("Handler", "Runtime", "Architectures", "MemorySize", "Timeout")
        },
    }
    return json.dumps(summary, indent=2, sort_keys=False, default=str)
