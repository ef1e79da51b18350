"""The lists the docs keep of the product's parts, against the parts: outputs, alarms,
metrics, the reasons the authorizer raises for, and the built-in authorizer's audience."""

from __future__ import annotations

import re
from typing import Final

from authorizer import exceptions
from authorizer.operations import metrics
from local.cfn import load_template
from tests.docs.pages import CORPUS, ROOT, collapsed, page, section, table_rows

APPLICATION: Final = load_template(ROOT / "authorizer" / "template.yaml")


def first_column(text: str, header: str) -> list[str]:
    return [name for row in table_rows(text, header) for name in re.findall(r"`(\w+)`", row[0])]


def test_the_demos_outputs_are_listed_as_the_templates_have_them() -> None:
    deploy = page("docs/deploy.md")
    listed = first_column(section("docs/deploy.md", "Outputs"), "output")
    assert sorted(listed) == sorted(load_template(ROOT / "template.yaml")["Outputs"])
    [rest] = re.findall(r"The REST demo's outputs are (.*?)\.\n\n", deploy, flags=re.S)
    rest_outputs = load_template(ROOT / "template-rest.yaml")["Outputs"]
    assert sorted(re.findall(r"`(\w+)`", rest)) == sorted(rest_outputs)


def test_the_alarm_table_is_the_applications_alarms() -> None:
    alarms = [
        name
        for name, resource in APPLICATION["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    ]
    listed = first_column(section("docs/operations.md", "Alarms"), "alarm")
    assert sorted(listed) == sorted(alarms)


def test_the_metric_table_is_every_metric_the_authorizer_writes() -> None:
    listed = first_column(section("docs/reference.md", "Metrics"), "metric")
    assert sorted(listed) == sorted(
        metrics.METRIC_NAMES | metrics.REVOCATION_METRIC_NAMES | metrics.TENANT_METRIC_NAMES
    )


def test_security_names_every_reason_the_authorizer_raises_for() -> None:
    """Not "in one case only": no key set, a stale table (the revocation list, the tenant
    registry), and a bug."""
    section_text = section("SECURITY.md", "When it denies, and when it raises")
    [raises] = [p for p in section_text.split("\n\n") if "**raises**" in p]
    named = set(re.findall(r"`([a-z_]+)`", raises))
    errors = {exceptions.JwksFetchError.reason, exceptions.JwksParseError.reason}
    errors |= {table.reason for table in exceptions.TableUnavailable.__subclasses__()}
    errors |= {metrics.INTERNAL_REASON}
    assert errors == named
    assert "one case only" not in CORPUS


def test_the_built_in_authorizers_audience_check_is_stated_as_aws_documents_it() -> None:
    """AWS's troubleshooting page: client_id is checked only when aud is absent."""
    comparison = collapsed(section("README.md", "Why not the built-in JWT authorizer?"))
    assert "| audience | `aud`, or `client_id` when `aud` is absent" in comparison
    security = collapsed(
        section("SECURITY.md", "Side by side with API Gateway's built-in JWT authorizer")
    )
    assert "`aud`, or `client_id` when `aud` is absent [6]" in security
    assert "`aud` only" not in CORPUS
