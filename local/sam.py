"""The one reader of SAM templates: read, package and transform them as ``sam deploy`` does.

``SamTemplate.read`` parses the file once; ``transform`` gives every
parameter its value, swaps each function's local ``CodeUri`` for an S3
placeholder (as ``sam package`` does; the transform refuses local paths) and
runs samtranslator, as CloudFormation does on deploy. The offline stack
(``local/template.py``) reads its HTTP API from the result; the deploy
contract tests (``tests/deploy``) check the same result.

A nested application with a local ``Location`` (``AWS::Serverless::Application``,
which samtranslator turns into an ``AWS::CloudFormation::Stack`` whose
``TemplateURL`` is that path, until ``sam package`` uploads it) is read and
transformed the same way, with the parameter values its parent passes; so is
an application *attached* by a parameter that takes its ARN (``make run`` of
a template that names the authorizer by ARN). A function is then found
through the nested stack's outputs, wherever it is defined.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from local.cfn import (
    REGION,
    STACK_NAME,
    Resolver,
    load_template,
    parameter_values,
)
from local.exceptions import TemplateError, Unresolvable

_PLACEHOLDER_BUCKET: Final = "local-offline"
_NESTED_STACK: Final = "AWS::CloudFormation::Stack"
_REMOTE_PREFIXES: Final = ("https://", "http://", "s3://")


@dataclass(frozen=True)
class Attachment:
    """An application a template names by ARN, run beside it offline.

    ``parameter`` is the template's parameter that takes the ARN; it gets
    ``arn``, and the application's ``output`` names the function behind it.
    ``also`` binds more of the template's parameters the same way, each to
    (the application's output, the ARN it gets): its sign-out function's.
    """

    parameter: str
    template: SamTemplate
    parameters: Mapping[str, str]
    output: str
    arn: str
    also: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def bindings(self) -> dict[str, tuple[str, str]]:
        """Each parameter of the template bound to the application: (its output, the ARN)."""
        return {self.parameter: (self.output, self.arn), **self.also}


@dataclass(frozen=True)
class TransformedTemplate:
    """What CloudFormation would hold after the SAM transform, for one set of parameter values."""

    template: dict[str, Any]
    parameters: dict[str, str]  # every declared parameter: the override, else the default
    code_dirs: dict[str, Path]  # each function's local CodeUri, by logical id
    # Nested stacks with a local template (and attached applications), by logical id.
    nested: dict[str, TransformedTemplate] = field(default_factory=dict)
    # Parameter name -> (key in nested, output) for each attached application.
    attached: dict[str, tuple[str, str]] = field(default_factory=dict)

    def resolver(
        self, *, placeholders: bool = False, stand_ins: bool = False, stack_name: str = STACK_NAME
    ) -> Resolver:
        return Resolver(
            self.template,
            self.parameters,
            placeholders=placeholders,
            stand_ins=stand_ins,
            stack_name=stack_name,
            nested=self.nested,
        )

    def function_paths(self) -> dict[str, tuple[str, ...]]:
        """Every Lambda function of this stack and its nested ones: the nested stacks'
        logical ids that lead to it, by its own logical id (unique across them all)."""
        found: dict[str, tuple[str, ...]] = {
            name: ()
            for name, resource in self.template.get("Resources", {}).items()
            if resource.get("Type") == "AWS::Lambda::Function"
        }
        for stack, child in self.nested.items():
            for name, path in child.function_paths().items():
                if name in found:
                    raise TemplateError(
                        f"two functions are named {name}: run offline, each needs its own name"
                    )
                found[name] = (stack, *path)
        return found

    def owner(self, path: tuple[str, ...]) -> TransformedTemplate:
        owner = self
        for stack in path:
            owner = owner.nested[stack]
        return owner


@dataclass(frozen=True)
class SamTemplate:
    path: Path
    source: dict[str, Any]  # the template as written

    @classmethod
    def read(cls, path: Path) -> SamTemplate:
        return cls(path, load_template(path))

    @property
    def parameter_names(self) -> set[str]:
        return set(self.source.get("Parameters") or {})

    def transform(
        self,
        overrides: Mapping[str, str] | None = None,
        attachments: tuple[Attachment, ...] = (),
    ) -> TransformedTemplate:
        arns = {
            parameter: arn
            for attachment in attachments
            for parameter, (_, arn) in attachment.bindings.items()
        }
        parameters = parameter_values(self.source, {**(overrides or {}), **arns})
        packaged, code_dirs = self._packaged()
        template = _transform(packaged, parameters)
        nested = transform_nested(template, parameters, self.path.resolve().parent)
        attached: dict[str, tuple[str, str]] = {}
        for attachment in attachments:
            # Never a resource's logical id (alphanumeric), and a valid stack name part.
            key = f"{attachment.parameter}-attached"
            nested[key] = attachment.template.transform(attachment.parameters)
            for parameter, (output, _) in attachment.bindings.items():
                attached[parameter] = (key, output)
        return TransformedTemplate(template, parameters, code_dirs, nested, attached)

    def _packaged(self) -> tuple[dict[str, Any], dict[str, Path]]:
        """Local CodeUri paths swapped for S3 placeholders, as ``sam package`` would, remembered."""
        base_dir = self.path.resolve().parent
        packaged = copy.deepcopy(self.source)
        globals_function = packaged.get("Globals", {}).get("Function", {})
        if not isinstance(globals_function, dict):
            globals_function = {}
        default_uri = globals_function.pop("CodeUri", ".")
        code_dirs: dict[str, Path] = {}
        for name, resource in packaged["Resources"].items():
            if (
                not isinstance(resource, dict)
                or resource.get("Type") != "AWS::Serverless::Function"
            ):
                continue
            properties = resource.setdefault("Properties", {})
            if "InlineCode" in properties or properties.get("PackageType") == "Image":
                raise TemplateError(f"{name}: only CodeUri functions can run offline")
            uri = properties.get("CodeUri", default_uri)
            if not isinstance(uri, str) or uri.startswith("s3://"):
                raise TemplateError(
                    f"{name}: CodeUri must be a local path to run offline, got {uri!r}"
                )
            handler = properties.get("Handler", globals_function.get("Handler"))
            code_dirs[name] = _import_root((base_dir / uri).resolve(), resource, handler)
            properties["CodeUri"] = f"s3://{_PLACEHOLDER_BUCKET}/{name}"
        return packaged, code_dirs


def _import_root(code_dir: Path, resource: Mapping[str, Any], handler: Any) -> Path:
    """Where the function's handler is imported from offline: its CodeUri, or the folder above.

    A makefile build (the repository's Makefile) copies the CodeUri folder into the
    artifact as a package: CodeUri authorizer/ with the handler
    authorizer.app.lambda_handler runs from the artifact's root, which offline
    is the folder above authorizer/.
    """
    metadata = resource.get("Metadata")
    package = handler.split(".", 1)[0] if isinstance(handler, str) else ""
    if (
        isinstance(metadata, dict)
        and metadata.get("BuildMethod") == "makefile"
        and package == code_dir.name
        and not (code_dir / package).is_dir()
    ):
        return code_dir.parent
    return code_dir


def transform_nested(
    template: Mapping[str, Any], parameters: Mapping[str, str], base_dir: Path
) -> dict[str, TransformedTemplate]:
    """Each nested stack whose template is a local file, transformed with the values the
    parent passes it (a value known only once deployed: the nested template's default)."""
    resolver = Resolver(template, parameters)
    nested: dict[str, TransformedTemplate] = {}
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        location = properties.get("TemplateURL")
        if resource.get("Type") != _NESTED_STACK or not isinstance(location, str):
            continue
        if location.startswith(_REMOTE_PREFIXES):
            continue  # already uploaded: nothing of it runs here
        passed = {}
        for key, expression in (properties.get("Parameters") or {}).items():
            with contextlib.suppress(Unresolvable):
                passed[key] = str(resolver.resolve(expression, name))
        nested[name] = SamTemplate.read(base_dir / location).transform(passed)
    return nested


def _transform(template: dict[str, Any], parameters: Mapping[str, str]) -> dict[str, Any]:
    import boto3
    from samtranslator.metrics.metrics import Metrics
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    # The region and partition pseudo parameters come from this session; no call is made.
    session = boto3.session.Session(
        region_name=REGION,
        aws_access_key_id="offline",
        aws_secret_access_key="offline",  # noqa: S106
    )
    metrics = Metrics()
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    try:
        result: dict[str, Any] = translator.translate(
            template,
            parameter_values=dict(parameters),
            # Managed policy names would be looked up in IAM; offline we know none, and a
            # template that named one would fail the transform.
            get_managed_policy_map=lambda: {},
        )
    except InvalidDocumentException as err:
        problems = "; ".join(str(cause) for cause in err.causes)
        raise TemplateError(f"samtranslator rejected the template: {problems}") from None
    finally:
        metrics.publish()  # to its dummy publisher: nothing leaves this machine
    return result
