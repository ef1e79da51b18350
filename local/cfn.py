"""Just enough CloudFormation to read a transformed template offline.

The template is parsed with CloudFormation's short-form tags (``!Ref``,
``!Sub``, ...) and the few intrinsic functions a Lambda's environment or an
API's authorizer settings use are evaluated against the stack's parameters
and conditions. Anything that needs a deployed resource (``!GetAtt X.Arn``, a
``!Ref`` to a resource) cannot be known offline: it raises ``Unresolvable``
naming where it was found, instead of guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

from local.exceptions import TemplateError, Unresolvable

ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"


class _CfnLoader(yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader plus CloudFormation's short-form tags, without touching SafeLoader itself."""


_CfnLoader.add_multi_constructor("!", intrinsics_multi_constructor)


def load_template(path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as err:
        raise TemplateError(f"cannot read {path}: {err}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation/SAM template (no Resources)")
    return document


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class Resolver:
    """Evaluates Ref, Fn::If, Fn::Sub, Fn::Join, Fn::Select, Fn::Split and conditions."""

    NO_VALUE: Final = object()

    def __init__(
        self,
        parameters: Mapping[str, str],
        conditions: Mapping[str, Any],
        *,
        stack_name: str = "local",
    ) -> None:
        self.parameters = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{stack_name}/offline"
            ),
            **parameters,
        }
        self._conditions = conditions
        self._condition_values: dict[str, bool] = {}

    def condition(self, name: str, where: str) -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"{where}: unknown condition {name!r}")
            self._condition_values[name] = self._truth(self._conditions[name], f"condition {name}")
        return self._condition_values[name]

    def _truth(self, node: Any, where: str) -> bool:
        if isinstance(node, bool):
            return node
        if isinstance(node, str) and node.lower() in ("true", "false"):
            return node.lower() == "true"
        if isinstance(node, dict) and len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Condition":
                return self.condition(str(args), where)
            if fn == "Fn::Equals":
                left, right = (self.resolve(arg, where) for arg in args)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self._truth(args[0], where)
            if fn == "Fn::And":
                return all(self._truth(arg, where) for arg in args)
            if fn == "Fn::Or":
                return any(self._truth(arg, where) for arg in args)
        raise Unresolvable(f"{where}: cannot evaluate condition {node!r} offline")

    def resolve(self, node: Any, where: str) -> Any:
        """The value of ``node``; ``Resolver.NO_VALUE`` for ``AWS::NoValue``."""
        if isinstance(node, list):
            values = [self.resolve(item, where) for item in node]
            return [value for value in values if value is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            resolved = {key: self.resolve(value, f"{where}.{key}") for key, value in node.items()}
            return {key: value for key, value in resolved.items() if value is not self.NO_VALUE}
        ((fn, args),) = node.items()
        if fn == "Ref":
            return self._ref(str(args), where)
        if fn == "Fn::If":
            condition, if_true, if_false = args
            chosen = if_true if self.condition(str(condition), where) else if_false
            return self.resolve(chosen, where)
        if fn == "Fn::Sub":
            return self._sub(args, where)
        if fn == "Fn::Join":
            separator, items = args
            return str(separator).join(str(item) for item in self.resolve(items, where))
        if fn == "Fn::Select":
            index, items = args
            return self.resolve(items, where)[int(self.resolve(index, where))]
        if fn == "Fn::Split":
            separator, text = args
            return str(self.resolve(text, where)).split(str(separator))
        if fn.startswith("Fn::") or fn == "Condition":
            raise Unresolvable(f"{where}: {fn} {args!r} has no value offline")
        return {fn: self.resolve(args, f"{where}.{fn}")}

    def _ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return self.NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        raise Unresolvable(
            f"{where}: !Ref {name} names a resource that exists only once deployed; "
            "pass a parameter for it instead"
        )

    def _sub(self, args: Any, where: str) -> str:
        if isinstance(args, list):
            text, variables = args[0], dict(args[1])
        else:
            text, variables = args, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1).strip()
            if name in variables:
                return str(self.resolve(variables[name], where))
            if "." in name:
                raise Unresolvable(f"{where}: ${{{name}}} has no value offline")
            return str(self._ref(name, where))

        return _SUB_VARIABLE.sub(replace, str(text)).replace("${!", "${")


def referenced_function(node: Any, resources: Mapping[str, Any]) -> str | None:
    """The logical id of the Lambda function an integration or authorizer URI names.

    samtranslator writes these as ``Fn::Sub`` over ``${Fn.Arn}`` or over a
    variable bound to ``Fn::GetAtt [Fn, Arn]``; an alias (AutoPublishAlias) is
    followed to its function.
    """
    candidates: list[str] = []
    if isinstance(node, dict) and "Fn::Sub" in node:
        sub = node["Fn::Sub"]
        text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
        for name in _SUB_VARIABLE.findall(str(text)):
            if name in variables:
                candidates.extend(_getatt_target(variables[name]))
            elif name.endswith(".Arn"):
                candidates.append(name[: -len(".Arn")])
            elif name in resources:
                candidates.append(name)
    else:
        candidates.extend(_getatt_target(node))
    for candidate in candidates:
        resource = resources.get(candidate)
        if not isinstance(resource, dict):
            continue
        if resource.get("Type") == "AWS::Lambda::Function":
            return candidate
        if resource.get("Type") == "AWS::Lambda::Alias":
            target = resource.get("Properties", {}).get("FunctionName")
            if isinstance(target, dict) and "Ref" in target:
                return str(target["Ref"])
    return None


def _getatt_target(node: Any) -> list[str]:
    if isinstance(node, dict) and "Fn::GetAtt" in node:
        target = node["Fn::GetAtt"]
        if isinstance(target, list) and target:
            return [str(target[0])]
        if isinstance(target, str):
            return [target.split(".", 1)[0]]
    if isinstance(node, dict) and "Ref" in node:
        return [str(node["Ref"])]
    return []
