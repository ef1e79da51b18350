"""docs/your-api.md, the authorizer application's own page, pinned to what it describes.

Every snippet is read back and compared with the template, the example, the
Makefile or the AWS API model it stands for: a change on one side fails here
until the other follows.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Final

import pytest
import yaml

from local.cfn import load_template
from tests.deploy.samtemplate import APP_TEMPLATE, ROOT, load_app_template
from tests.docs.pages import page, section, table_rows

PAGE_PATH: Final = "docs/your-api.md"
PAGE: Final = page(PAGE_PATH)
USE: Final = section(PAGE_PATH, "Attach it")
PUBLISH: Final = section(PAGE_PATH, "Publish to SAR")


def yaml_blocks(text: str) -> list[Any]:
    from local.cfn import _CfnLoader  # the reader's own loader: !Ref, !Sub, ...

    return [
        yaml.load(block, Loader=_CfnLoader)  # noqa: S506
        for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    ]


def shell_commands(text: str) -> list[list[str]]:
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n", " ", block)
        for line in joined.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line))
    return commands


def test_the_sections_exist_with_each_way_in() -> None:
    for title in ("HTTP API", "REST API", "Console", "AWS CLI", "Terraform, CDK and other tools"):
        assert f"\n### {title}\n" in USE, title
    for title in ("Deploy it", "Grant the invoke permission", "Publish to SAR"):
        assert f"\n## {title}\n" in PAGE, title


def test_the_parameters_named_are_the_applications_own() -> None:
    listed = section(PAGE_PATH, "Parameters")
    named = re.findall(r"`(\w+)`", listed.split("configuration.md#template-parameters")[1])
    assert sorted(named) == sorted(load_app_template()["Parameters"])


def test_the_outputs_table_is_the_applications_outputs() -> None:
    rows = table_rows(section(PAGE_PATH, "Outputs"), "output")
    named = [name for row in rows for name in re.findall(r"`(\w+)`", row[0])]
    assert sorted(named) == sorted(load_app_template()["Outputs"])


def test_the_capabilities_named_are_those_the_applications_resources_need() -> None:
    """The Serverless Application Repository asks for each capability its resources need."""
    types = {r["Type"] for r in load_app_template()["Resources"].values()}
    deploy = section(PAGE_PATH, "Deploy it")
    assert "AWS::IAM::Role" in types
    assert "`CAPABILITY_IAM`" in deploy
    assert "AWS::Lambda::Permission" in types
    assert "`CAPABILITY_RESOURCE_POLICY`" in deploy
    nested = section(PAGE_PATH, "Nested, from the Serverless Application Repository")
    for capability in ("CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY", "CAPABILITY_AUTO_EXPAND"):
        assert f"`{capability}`" in nested, capability


def test_the_fields_for_other_tools_are_create_authorizers_own() -> None:
    import botocore.session

    model = botocore.session.get_session().get_service_model("apigatewayv2")
    shape = model.operation_model("CreateAuthorizer").input_shape
    assert shape is not None
    rows = table_rows(section(PAGE_PATH, "Terraform, CDK and other tools"), "what")
    fields = {backticked for row in rows for backticked in re.findall(r"`(\w+)`", row[1])}
    assert len(fields) == len(rows) == 6
    assert fields <= set(shape.members)


def test_the_permission_snippet_is_scoped_as_the_application_scopes_its_own() -> None:
    grant = section(PAGE_PATH, "Grant the invoke permission")
    (permission,) = [b for b in yaml_blocks(grant) if "AuthorizerInvokePermission" in b]
    props = permission["AuthorizerInvokePermission"]["Properties"]
    app = load_app_template()["Resources"]["InvokingApi1Permission"]["Properties"]
    assert props["Principal"] == app["Principal"] == "apigateway.amazonaws.com"
    assert props["Action"] == app["Action"]
    ours = props["SourceArn"]["Fn::Sub"]
    _, _, an_id = app["SourceArn"]["Fn::If"]  # an API id (an ARN is taken as it is)
    assert ours.replace("${MyApi}", "${Api}") == an_id["Fn::Sub"][0]


def authorizer_of(example: str) -> dict[str, Any]:
    template = load_template(ROOT / "examples" / example)
    [api] = [
        r
        for r in template["Resources"].values()
        if r["Type"].startswith("AWS::Serverless::") and r["Type"].endswith("Api")
    ]
    auth: dict[str, Any] = api["Properties"]["Auth"]
    return auth


@pytest.mark.parametrize(
    ("title", "example"), [("HTTP API", "http-api.yaml"), ("REST API", "rest-api.yaml")]
)
def test_each_snippet_is_its_examples_authorizer(title: str, example: str) -> None:
    (block,) = yaml_blocks(section(PAGE_PATH, title))
    snippet, expected = block["Auth"], authorizer_of(example)
    # The example takes the TTL as a parameter; the snippet writes the default.
    for authorizer in (snippet, expected):
        identity = authorizer["Authorizers"]["CognitoAuthorizer"]["Identity"]
        identity.pop("ReauthorizeEvery")
    expected.pop("AddDefaultAuthorizerToCorsPreflight", None)
    assert snippet == expected


def test_the_cli_lines_use_only_options_the_apis_have() -> None:
    import botocore.session

    session = botocore.session.get_session()
    checked = set()
    for command in shell_commands(USE):
        if command[0] != "aws" or len(command) < 3 or command[1] == "sts":
            continue
        service, operation = command[1], command[2]
        model = session.get_service_model(service)
        names = {
            "".join(part.title() for part in name.split("-")).lower()
            for name in (arg[2:] for arg in command if arg.startswith("--"))
            if name not in ("query", "output")
        }
        op = next(o for o in model.operation_names if _kebab(o) == operation)
        shape = model.operation_model(op).input_shape
        assert shape is not None
        members = {m.lower() for m in shape.members}
        assert names <= members, (operation, names - members)
        checked.add(f"{service} {operation}")
    assert checked == {
        "lambda add-permission",
        "apigatewayv2 create-authorizer",
        "apigateway create-authorizer",
    }


def _kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def test_the_make_targets_and_paths_named_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("deploy-authorizer", "destroy-authorizer", "package"):
        assert re.search(rf"^{target}:", makefile, flags=re.M), target
        assert f"make {target}" in PAGE, target
    assert "PACKAGE_DIR ?= .aws-sam/package" in makefile
    assert ".aws-sam/package/packaged-authorizer.yaml" in PUBLISH
    assert 'stack_name = "cognito-jwt-authorizer"' in (ROOT / "samconfig.toml").read_text()
    assert "`cognito-jwt-authorizer`" in section(PAGE_PATH, "Deploy it")
    assert "make run TEMPLATE=examples/http-api.yaml" in USE


def test_publish_names_the_metadata_as_the_template_has_it() -> None:
    metadata = load_app_template()["Metadata"]["AWS::ServerlessRepo::Application"]
    assert f"name `{metadata['Name']}`" in PUBLISH
    assert f"licence `{metadata['SpdxLicenseId']}`" in PUBLISH
    (nested,) = [b for b in yaml_blocks(PAGE) if "Authorizer" in b and len(b) == 1]
    location = nested["Authorizer"]["Properties"]["Location"]
    assert location["SemanticVersion"] == metadata["SemanticVersion"]
    assert location["ApplicationId"].endswith(f"/{metadata['Name']}")
    parameters = set(nested["Authorizer"]["Properties"]["Parameters"])
    assert parameters <= set(load_app_template()["Parameters"])
    assert APP_TEMPLATE.relative_to(ROOT).as_posix() in PUBLISH


# What a deploy from the Serverless Application Repository must acknowledge, by
# resource type ("Application Capabilities: IAM Roles, Resource Policies, and
# Nested Applications":
# https://docs.aws.amazon.com/serverlessrepo/latest/devguide/acknowledging-application-capabilities.html).
SAR_CAPABILITIES: Final = {
    "CAPABILITY_IAM": {
        "AWS::IAM::Group", "AWS::IAM::InstanceProfile", "AWS::IAM::Policy", "AWS::IAM::Role",
    },
    "CAPABILITY_RESOURCE_POLICY": {
        "AWS::Lambda::LayerVersionPermission", "AWS::Lambda::Permission",
        "AWS::Events::EventBusPolicy", "AWS::IAM::Policy",
        "AWS::ApplicationAutoScaling::ScalingPolicy", "AWS::S3::BucketPolicy",
        "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy",
    },
    "CAPABILITY_AUTO_EXPAND": {"AWS::Serverless::Application"},
}  # fmt: skip


def test_the_capabilities_a_sar_deploy_needs_are_the_ones_named() -> None:
    """Every resource the application may create counts (SAR reads the template, not
    one deploy's conditions): its roles and its invoke permissions."""
    types = {resource["Type"] for resource in load_app_template()["Resources"].values()}
    needed = {name for name, kinds in SAR_CAPABILITIES.items() if kinds & types}
    assert needed == {"CAPABILITY_IAM", "CAPABILITY_RESOURCE_POLICY"}
    sentence = re.search(
        r"Deployed on its own from the Serverless Application Repository.*?\.\n", USE, re.S
    )
    assert sentence is not None
    assert set(re.findall(r"CAPABILITY_[A-Z_]+", sentence[0])) == needed
