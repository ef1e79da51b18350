"""The one reader of SAM templates: read, package and transform them as ``sam deploy`` does.

``SamTemplate.read`` parses the file once; ``transform`` gives every
parameter its value, swaps each function's local ``CodeUri`` for an S3
placeholder (as ``sam package`` does; the transform refuses local paths) and
runs samtranslator, as CloudFormation does on deploy. The offline stack
(``local/template.py``) reads its HTTP API from the result; the deploy
contract tests (``tests/deploy``) check the same result.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from local.cfn import REGION, STACK_NAME, Resolver, load_template, parameter_values
from local.exceptions import TemplateError

_PLACEHOLDER_BUCKET: Final = "local-offline"


@dataclass(frozen=True)
class TransformedTemplate:
    """What CloudFormation would hold after the SAM transform, for one set of parameter values."""

    template: dict[str, Any]
    parameters: dict[str, str]  # every declared parameter: the override, else the default
    code_dirs: dict[str, Path]  # each function's local CodeUri, by logical id

    def resolver(self, *, placeholders: bool = False, stack_name: str = STACK_NAME) -> Resolver:
        return Resolver(
            self.template, self.parameters, placeholders=placeholders, stack_name=stack_name
        )


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

    def transform(self, overrides: Mapping[str, str] | None = None) -> TransformedTemplate:
        parameters = parameter_values(self.source, overrides or {})
        packaged, code_dirs = self._packaged()
        return TransformedTemplate(_transform(packaged, parameters), parameters, code_dirs)

    def _packaged(self) -> tuple[dict[str, Any], dict[str, Path]]:
        """Local CodeUri paths swapped for S3 placeholders, as ``sam package`` would, remembered."""
        base_dir = self.path.resolve().parent
        packaged = copy.deepcopy(self.source)
        globals_function = packaged.get("Globals", {}).get("Function", {})
        default_uri = (
            globals_function.pop("CodeUri", ".") if isinstance(globals_function, dict) else "."
        )
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
            code_dirs[name] = (base_dir / uri).resolve()
            properties["CodeUri"] = f"s3://{_PLACEHOLDER_BUCKET}/{name}"
        return packaged, code_dirs


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
