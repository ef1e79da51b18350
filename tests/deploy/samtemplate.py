"""The deploy path, checked offline: transform template.yaml as `sam deploy` does,
evaluate the CloudFormation intrinsics that matter for one set of parameters,
and inspect `sam build` artifacts.

Shared by the tests in this package and by ``python -m tests.deploy.report``.
"""

from __future__ import annotations

import copy
import os
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
REGION = "us-east-1"

EM_AARCH64 = 183
EM_X86_64 = 62


class StubManagedPolicyLoader:
    """What samtranslator asks IAM for when a function uses `Policies`. Offline
    we know none: a template that needed one would fail on the KeyError."""

    def load(self) -> dict[str, str]:
        return {}


def load_sam_template() -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    parsed: dict[str, Any] = yaml_parse(TEMPLATE.read_text())
    return parsed


def packaged(template: Mapping[str, Any]) -> dict[str, Any]:
    """The template as `sam package` hands it to CloudFormation: local code
    locations replaced by S3 objects (the transform refuses local paths)."""
    result = copy.deepcopy(dict(template))
    for logical_id, resource in result["Resources"].items():
        if resource.get("Type") == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://deploy-bucket/{logical_id}.zip"
    return result


def transform_template(parameter_values: Mapping[str, str] | None = None) -> dict[str, Any]:
    """samtranslator's transform, as CloudFormation runs it on `sam deploy`."""
    from samtranslator.translator.transform import transform

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    result: dict[str, Any] = transform(
        packaged(load_sam_template()), dict(parameter_values or {}), StubManagedPolicyLoader()
    )
    return result


# --- a small CloudFormation intrinsic evaluator ------------------------------


@dataclass(frozen=True)
class ResourceRef:
    """A Ref or GetAtt to a resource: its value is only known after deploy."""

    logical_id: str
    attribute: str | None = None

    def __str__(self) -> str:
        return f"<{self.logical_id}{'.' + self.attribute if self.attribute else ''}>"


class Stack:
    """One deploy of a transformed template with given parameter values:
    which resources and outputs exist, and what their properties resolve to."""

    PSEUDO: ClassVar[dict[str, str | None]] = {
        "AWS::Region": REGION,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "hello-stack",
        "AWS::StackId": (
            "arn:aws:cloudformation:us-east-1:123456789012:stack/hello-stack/"
            "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
        ),
        "AWS::NoValue": None,
    }

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str]) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        unknown = set(parameters) - set(declared)
        if unknown:
            raise KeyError(f"not template parameters: {sorted(unknown)}")
        self.parameters: dict[str, str] = {
            name: str(parameters.get(name, spec.get("Default", "")))
            for name, spec in declared.items()
        }
        # Conditions may name other conditions: evaluate on first use.
        self._condition_exprs: dict[str, Any] = dict(template.get("Conditions", {}))
        self._condition_values: dict[str, bool] = {}

    @property
    def conditions(self) -> dict[str, bool]:
        return {name: self.condition(name) for name in self._condition_exprs}

    def condition(self, name: str) -> bool:
        if name not in self._condition_values:
            self._condition_values[name] = bool(self.resolve(self._condition_exprs[name]))
        return self._condition_values[name]

    def exists(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def resources(self, resource_type: str | None = None) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if self.exists(logical_id)
            and (resource_type is None or resource["Type"] == resource_type)
        }

    def properties(self, logical_id: str) -> dict[str, Any]:
        props: dict[str, Any] = self.resolve(self.template["Resources"][logical_id]["Properties"])
        return props

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output["Value"])
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }

    def rule_failures(self) -> list[str]:
        failures = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.resolve(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.resolve(assertion["Assert"]):
                    failures.append(f"{name}: {assertion.get('AssertDescription', '')}")
        return failures

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name in self.PSEUDO:
            return self.PSEUDO[name]
        if name in self.template["Resources"]:
            if not self.exists(name):
                raise LookupError(f"Ref to {name}, which this deploy does not create")
            return ResourceRef(name)
        raise KeyError(f"Ref to unknown name {name}")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                logical_id, attribute = name.split(".", 1)
                return str(ResourceRef(logical_id, attribute))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", value, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not None]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::If":
                name, if_true, if_false = arg
                return self.resolve(if_true if self.condition(name) else if_false)
            if key == "Fn::Equals":
                left, right = (self.resolve(x) for x in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(x) for x in self.resolve(items))
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                if not self.exists(logical_id):
                    raise LookupError(f"GetAtt on {logical_id}, which this deploy does not create")
                return ResourceRef(logical_id, attribute)
            if key == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else arg
                return self._sub(text, variables)
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not None}


# --- the HTTP API's OpenAPI body ---------------------------------------------


def api_body(template: Mapping[str, Any], api_id: str = "HelloApi") -> dict[str, Any]:
    body: dict[str, Any] = template["Resources"][api_id]["Properties"]["Body"]
    return body


def operations(body: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in body.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict):
                yield method.upper(), path, operation


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

    body = api_body(template)
    scheme = body["components"]["securitySchemes"]["CognitoAuthorizer"]
    permissions = {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    }
    routes = {f"{method} {path}": op.get("security") for method, path, op in operations(body)}
    function = template["Resources"]["AuthorizerFunction"]["Properties"]
    summary = {
        "securitySchemes.CognitoAuthorizer": scheme,
        "authorizer invoke permissions": permissions,
        "routes (security)": routes,
        "AuthorizerFunction": {
            key: function.get(key)
            for key in ("Handler", "Runtime", "Architectures", "MemorySize", "Timeout")
        },
    }
    return json.dumps(summary, indent=2, sort_keys=False)
