"""Just enough CloudFormation to read a template offline: its YAML, its parameters, its intrinsics.

The template is parsed with CloudFormation's short-form tags (``!Ref``,
``!Sub``, ...); parameters get their values as CloudFormation gives them
(override, else default, then AllowedValues/AllowedPattern/Min/MaxValue);
the intrinsic functions and conditions are evaluated against those values
and one set of pseudo parameters (account 123456789012 in us-east-1).

What exists only once a stack is deployed (``!Ref`` to a resource,
``!GetAtt X.Arn``) has no value offline, except a DynamoDB table's name
(``!Ref`` to an ``AWS::DynamoDB::Table``): the offline stack creates the
table under that name (its ``TableName``, else ``<stack>-<logical id>``);
and a WebSocket API's id, which the offline stack serves it under.
A ``Resolver`` either raises ``Unresolvable`` naming where it was found (the
offline stack: it must not guess a function's environment), or, with
``placeholders=True``, stands in a ``ResourceRef`` (the deploy contract
tests: they check what refers to what), or, with ``stand_ins=True``, gives a
user pool or app client the stack creates an id of the form Cognito gives it
(the check before a deploy: what the parameters say is checked, the ids
CloudFormation makes are not).

A template's ``Rules`` are evaluated as CloudFormation evaluates them before
it touches any resource (``rule_failures``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import yaml
from samtranslator.yaml_helper import intrinsics_multi_constructor

from local.exceptions import TemplateError, Unresolvable

ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"
STACK_NAME: Final = "local"
# The unique part of a stack id (a UUID, as CloudFormation makes it).
STACK_UUID: Final = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
TABLE_TYPE: Final = "AWS::DynamoDB::Table"
# What !Ref gives for a resource only a deploy creates, in the form AWS gives it:
# a user pool id is <region>_<id>, an app client id is word characters.
_STAND_IN_IDS: Final = {
    "AWS::Cognito::UserPool": lambda logical_id: f"{REGION}_{_alphanumeric(logical_id)}",
    "AWS::Cognito::UserPoolClient": lambda logical_id: _alphanumeric(logical_id),
}


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", text)


# What !Ref gives a WebSocket API offline (an API id's form: 10 lower-case letters or
# digits): the id the offline stack serves it under (local/websocket.py).
WEBSOCKET_API_TYPE: Final = "AWS::ApiGatewayV2::Api"
OFFLINE_WEBSOCKET_API_ID: Final = "offline0ws"


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


class StackTemplate(Protocol):
    """A transformed template and the stacks it nests (local/sam.py's TransformedTemplate)."""

    @property
    def template(self) -> Mapping[str, Any]: ...

    @property
    def nested(self) -> Mapping[str, StackTemplate]: ...

    @property
    def attached(self) -> Mapping[str, tuple[str, str]]: ...

    @property
    def parameters(self) -> Mapping[str, str]: ...


def parameter_values(
    template: Mapping[str, Any],
    overrides: Mapping[str, str],
    *,
    known_once_deployed: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every declared parameter's value (the override, else the default), checked as
    CloudFormation checks it before any resource is touched.

    ``known_once_deployed`` are values a parent stack passes that exist only once it
    is deployed (a resource's id): taken as they are, with nothing to check offline.
    """
    later = dict(known_once_deployed or {})
    declared = template.get("Parameters") or {}
    unknown = sorted((set(overrides) | set(later)) - set(declared))
    if unknown:
        raise TemplateError(f"no such template parameter: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    missing = []
    for name, spec in declared.items():
        if name in overrides:
            values[name] = str(overrides[name])
        elif name in later:
            continue
        elif isinstance(spec, dict) and "Default" in spec:
            default = spec["Default"]
            values[name] = (
                ",".join(map(str, default)) if isinstance(default, list) else str(default)
            )
        else:
            missing.append(name)
    if missing:
        raise TemplateError(f"parameters without a default need a value: {', '.join(missing)}")
    for name, value in values.items():
        _check_parameter(name, value, declared[name])
    return {**values, **later}


def _check_parameter(name: str, value: str, spec: Any) -> None:
    """The constraints CloudFormation enforces before any resource is touched."""
    if not isinstance(spec, dict):
        return
    allowed = spec.get("AllowedValues")
    if isinstance(allowed, list) and value not in [str(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = spec.get("AllowedPattern")
    if isinstance(pattern, str) and not re.fullmatch(pattern, value):
        raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value} is below {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value} is above {spec['MaxValue']}")


@dataclass(frozen=True)
class ResourceRef:
    """A Ref or GetAtt to a resource: its value is known only after deploy."""

    logical_id: str
    attribute: str | None = None

    def __str__(self) -> str:
        return f"<{self.logical_id}{'.' + self.attribute if self.attribute else ''}>"


_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
_CONDITION_FUNCTIONS: Final = ("Condition", "Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or")


class Resolver:
    """Evaluates Ref, GetAtt, Fn::If, Fn::Sub, Fn::Join, Fn::Select, Fn::Split and conditions
    over one template and one set of parameter values."""

    NO_VALUE: Final = object()

    def __init__(
        self,
        template: Mapping[str, Any],
        parameters: Mapping[str, Any],
        *,
        placeholders: bool = False,
        stand_ins: bool = False,
        stack_name: str = STACK_NAME,
        nested: Mapping[str, StackTemplate] | None = None,
        offline_ids: bool = True,
    ) -> None:
        # Whether !Ref gives a WebSocket API the id the offline stack serves it under.
        self._offline_ids = offline_ids
        self.parameters = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{stack_name}/{STACK_UUID}"
            ),
            **parameters,
        }
        self._resources: Mapping[str, Any] = template.get("Resources") or {}
        self._conditions: Mapping[str, Any] = template.get("Conditions") or {}
        self._condition_values: dict[str, bool] = {}
        self._placeholders = placeholders
        self._stand_ins = stand_ins
        self._stack_name = stack_name
        self._nested: Mapping[str, StackTemplate] = nested or {}
        self._children: dict[str, Resolver] = {}
        self.template = template

    def child(self, logical_id: str) -> Resolver:
        """The resolver of a nested stack, its parameters given as this stack passes them."""
        if logical_id not in self._children:
            nested = self._nested[logical_id]
            if logical_id in self._resources:
                passed = self._resources[logical_id].get("Properties", {}).get("Parameters")
                values = self._nested_parameters(logical_id, nested.template, passed or {})
            else:  # an attached application: deployed on its own, with its own values
                values = dict(nested.parameters)
            self._children[logical_id] = Resolver(
                nested.template,
                values,
                placeholders=self._placeholders,
                stand_ins=self._stand_ins,
                stack_name=f"{self._stack_name}-{logical_id}",
                nested=nested.nested,
            )
        return self._children[logical_id]

    def _nested_parameters(
        self, logical_id: str, child: Mapping[str, Any], passed: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What CloudFormation gives a nested stack: each value passed (resolved here and
        checked against the child's constraints), else the child's default."""
        known: dict[str, str] = {}
        later: dict[str, Any] = {}
        for name, expression in passed.items():
            value = self.resolve(expression, f"{logical_id}.Parameters.{name}")
            if isinstance(value, ResourceRef) or self._deploy_time(expression):
                later[name] = value
            else:
                known[name] = str(value)
        try:
            return parameter_values(child, known, known_once_deployed=later)
        except TemplateError as err:
            raise TemplateError(f"{logical_id}: {err}") from None

    def _deploy_time(self, node: Any) -> bool:
        """Whether ``node``'s value holds what only a deployed stack knows (placeholders)."""
        if not self._placeholders:
            return False
        strict = Resolver(self.template, self.parameters, nested=self._nested, offline_ids=False)
        try:
            strict.resolve(node)
        except Unresolvable:
            return True
        return False

    def output(self, name: str, where: str = "template") -> Any:
        """The value of one of this stack's outputs."""
        outputs = self.template.get("Outputs") or {}
        if name not in outputs:
            raise TemplateError(f"{where}: the stack has no output {name!r}")
        condition = outputs[name].get("Condition")
        if condition is not None and not self.condition(str(condition), where):
            raise TemplateError(f"{where}: output {name} is not created with these parameters")
        return self.resolve(outputs[name]["Value"], f"{where}: output {name}")

    def condition(self, name: str, where: str = "template") -> bool:
        if name not in self._condition_values:
            if name not in self._conditions:
                raise TemplateError(f"{where}: unknown condition {name!r}")
            self._condition_values[name] = self.truth(self._conditions[name], f"condition {name}")
        return self._condition_values[name]

    def exists(self, logical_id: str) -> bool:
        """Whether these parameters create the resource (its Condition, if any, is true)."""
        condition = self._resources[logical_id].get("Condition")
        return condition is None or self.condition(str(condition), logical_id)

    def truth(self, node: Any, where: str = "template") -> bool:
        """A condition, a rule's condition or an assertion, evaluated to true or false."""
        value = self.resolve(node, where)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise Unresolvable(f"{where}: cannot evaluate condition {node!r} offline")

    def resolve(self, node: Any, where: str = "template") -> Any:
        """The value of ``node``; ``Resolver.NO_VALUE`` for ``AWS::NoValue``."""
        if isinstance(node, list):
            values = [self.resolve(item, where) for item in node]
            return [value for value in values if value is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, args),) = node.items()
            if fn == "Ref":
                return self._ref(str(args), where)
            if fn in _CONDITION_FUNCTIONS:
                return self._condition_function(fn, args, where)
            if fn == "Fn::GetAtt":
                logical_id, attribute = args if isinstance(args, list) else args.split(".", 1)
                return self._resource(str(logical_id), str(attribute), where)
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
            if fn.startswith("Fn::"):
                raise Unresolvable(f"{where}: {fn} {args!r} has no value offline")
        resolved = {key: self.resolve(value, f"{where}.{key}") for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not self.NO_VALUE}

    def _condition_function(self, fn: str, args: Any, where: str) -> bool:
        if fn == "Condition":
            return self.condition(str(args), where)
        if fn == "Fn::Equals":
            left, right = (self.resolve(arg, where) for arg in args)
            return str(left) == str(right)
        if fn == "Fn::Not":
            return not self.truth(args[0], where)
        if fn == "Fn::And":
            return all(self.truth(arg, where) for arg in args)
        return any(self.truth(arg, where) for arg in args)  # Fn::Or

    def _ref(self, name: str, where: str) -> Any:
        if name == "AWS::NoValue":
            return self.NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name not in self._resources:
            raise TemplateError(f"{where}: !Ref {name} names no parameter or resource")
        return self._resource(name, None, where)

    def table_name(self, logical_id: str) -> str:
        """The name of a table the template creates: its TableName, else ``<stack>-<logical id>``.

        CloudFormation makes up a unique name when there is no TableName; offline
        there is one stack (a nested one is ``<parent>-<its logical id>``), and
        this name says which table it is.
        """
        if not self.exists(logical_id):
            raise TemplateError(f"{logical_id} is not created with these parameters")
        properties = self._resources[logical_id].get("Properties") or {}
        if "TableName" in properties:
            return str(self.resolve(properties["TableName"], f"{logical_id}.TableName"))
        return f"{self.parameters['AWS::StackName']}-{logical_id}"

    def _resource(self, logical_id: str, attribute: str | None, where: str) -> Any:
        if logical_id not in self._resources:
            raise TemplateError(f"{where}: {logical_id} is not a resource of the template")
        if logical_id in self._nested and attribute and attribute.startswith("Outputs."):
            return self.child(logical_id).output(attribute.removeprefix("Outputs."), where)
        if (
            not self._placeholders
            and attribute is None
            and self._resources[logical_id].get("Type") == TABLE_TYPE
        ):
            return self.table_name(logical_id)
        stand_in = _STAND_IN_IDS.get(self._resources[logical_id].get("Type"))
        if self._stand_ins and stand_in is not None and attribute is None:
            if not self.exists(logical_id):
                raise TemplateError(f"{where}: {logical_id} is not created with these parameters")
            return stand_in(logical_id)
        if (
            self._offline_ids
            and not self._placeholders
            and attribute is None
            and self._is_websocket_api(logical_id)
        ):
            return OFFLINE_WEBSOCKET_API_ID
        if not self._placeholders:
            if attribute is None:
                raise Unresolvable(
                    f"{where}: !Ref {logical_id} names a resource that exists only once "
                    "deployed; pass a parameter for it instead"
                )
            raise Unresolvable(f"{where}: Fn::GetAtt {logical_id}.{attribute} has no value offline")
        if not self.exists(logical_id):
            raise TemplateError(f"{where}: {logical_id} is not created with these parameters")
        return ResourceRef(logical_id, attribute)

    def _is_websocket_api(self, logical_id: str) -> bool:
        resource = self._resources[logical_id]
        protocol = str(resource.get("Properties", {}).get("ProtocolType", "")).upper()
        return bool(resource.get("Type") == WEBSOCKET_API_TYPE and protocol == "WEBSOCKET")

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
                logical_id, attribute = name.split(".", 1)
                return str(self._resource(logical_id, attribute, where))
            return str(self._ref(name, where))

        return _SUB_VARIABLE.sub(replace, str(text)).replace("${!", "${")


def rule_failures(stack: StackTemplate, resolver: Resolver, prefix: str = "") -> list[str]:
    """The template's Rules these values break, each as ``Rule: AssertDescription``, and those
    of each nested stack it creates (``Stack/Rule: ...``), with the values passed to it.

    CloudFormation evaluates every assertion of a rule whose RuleCondition holds, and
    refuses the stack before it touches any resource if one is false.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/rules-section-structure.html
    """
    failures = []
    for name, rule in (stack.template.get("Rules") or {}).items():
        where = f"rule {prefix}{name}"
        if "RuleCondition" in rule and not resolver.truth(rule["RuleCondition"], where):
            continue
        for assertion in rule.get("Assertions") or []:
            if not resolver.truth(assertion["Assert"], where):
                described = assertion.get("AssertDescription", "an assertion is false")
                failures.append(f"{prefix}{name}: {described}")
    resources = stack.template.get("Resources") or {}
    for logical_id, child in stack.nested.items():
        if logical_id in resources and not resolver.exists(logical_id):
            continue
        failures += rule_failures(child, resolver.child(logical_id), f"{prefix}{logical_id}/")
    return failures


def referenced_function(node: Any, stack: StackTemplate) -> str | None:
    """The logical id of the Lambda function an integration or authorizer URI names.

    samtranslator writes these as ``Fn::Sub`` over ``${Fn.Arn}`` (routes) or over
    a variable bound to ``Fn::GetAtt [Fn, Arn]`` (authorizers), or to an
    ``Fn::If`` between that and the function's published alias (the template's
    SnapStart switch): offline, either branch runs the same function. The
    function may be a nested stack's, named by one of its outputs
    (``Fn::GetAtt [App, Outputs.AuthorizerArn]``), or an attached application's,
    named by the parameter that takes its ARN.
    """
    if not (isinstance(node, dict) and "Fn::Sub" in node):
        return None
    sub = node["Fn::Sub"]
    text, variables = (sub[0], sub[1]) if isinstance(sub, list) else (sub, {})
    for name in _SUB_VARIABLE.findall(str(text)):
        default = {"Ref": name} if "." not in name else {"Fn::GetAtt": name.split(".", 1)}
        function = _function_behind(variables.get(name, default), stack)
        if function is not None:
            return function
    return None


def _function_behind(node: Any, stack: StackTemplate) -> str | None:
    """The function a GetAtt, a Ref (to the function, to one of its aliases, to a parameter
    that takes an attached application's ARN, or that ARN itself, which samtranslator
    writes in for a REST API), an If or a nested stack's output names."""
    if isinstance(node, str):
        for parameter, (application, output) in stack.attached.items():
            if stack.parameters.get(parameter) == node:
                return _output_function(stack.nested[application], output)
        return None
    if not isinstance(node, dict):
        return None
    if isinstance(node.get("Fn::If"), list) and len(node["Fn::If"]) == 3:
        branches = [_function_behind(branch, stack) for branch in node["Fn::If"][1:]]
        return branches[0] if branches[0] is not None and branches[0] == branches[1] else None
    target = node.get("Fn::GetAtt", [node.get("Ref")])
    if isinstance(target, str):
        target = target.split(".", 1)
    if not isinstance(target, list) or not target:
        return None
    name = str(target[0])
    if name in stack.attached and len(target) == 1:
        application, output = stack.attached[name]
        return _output_function(stack.nested[application], output)
    resource = (stack.template.get("Resources") or {}).get(name)
    if not isinstance(resource, dict):
        return None
    attribute = str(target[1]) if len(target) > 1 else ""
    if name in stack.nested and attribute.startswith("Outputs."):
        return _output_function(stack.nested[name], attribute.removeprefix("Outputs."))
    if resource.get("Type") == "AWS::Lambda::Function":
        return name
    if resource.get("Type") == "AWS::Lambda::Alias":
        return _function_behind(resource.get("Properties", {}).get("FunctionName"), stack)
    return None


def _output_function(stack: StackTemplate, output: str) -> str | None:
    value = ((stack.template.get("Outputs") or {}).get(output) or {}).get("Value")
    return _function_behind(value, stack)
