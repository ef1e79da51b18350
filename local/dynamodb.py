"""The template's DynamoDB tables, created in moto's DynamoDB (served beside the local Cognito).

Each ``AWS::DynamoDB::Table`` the template creates with the given parameters
is created offline from its own properties (keys, billing, encryption, TTL,
point-in-time recovery), under the name ``!Ref`` gives it offline
(``Resolver.table_name``). The functions reach it the way they reach AWS:
through the SDK's endpoint setting (``AWS_ENDPOINT_URL``, see
``local/stack.py``), not through any code of theirs that knows it is offline.
"""

from __future__ import annotations

from typing import Any

from local.cfn import TABLE_TYPE, Resolver
from local.cognito import aws_client
from local.exceptions import StartupError
from local.sam import TransformedTemplate

# create_table's own arguments, as the resource's properties spell them.
_CREATE_ARGUMENTS = (
    "KeySchema",
    "AttributeDefinitions",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
)


def create_tables(transformed: TransformedTemplate, endpoint: str) -> dict[str, str]:
    """Create every table the template, its nested applications and the applications attached
    to it create; their names by logical id."""
    created: dict[str, str] = {}
    _create_in(transformed, transformed.resolver(), aws_client("dynamodb", endpoint), created)
    return created


def _create_in(
    transformed: TransformedTemplate, resolver: Resolver, client: Any, created: dict[str, str]
) -> None:
    resources: dict[str, Any] = transformed.template.get("Resources", {})
    for logical_id, nested in transformed.nested.items():
        # A nested stack when its condition holds; an application attached by ARN
        # (no resource here: deployed on its own) always.
        if logical_id not in resources or resolver.exists(logical_id):
            _create_in(nested, resolver.child(logical_id), client, created)
    for logical_id, resource in resources.items():
        if resource.get("Type") != TABLE_TYPE or not resolver.exists(logical_id):
            continue
        properties = resolver.resolve(resource.get("Properties") or {}, logical_id)
        name = resolver.table_name(logical_id)
        arguments = {key: properties[key] for key in _CREATE_ARGUMENTS if key in properties}
        stream = properties.get("StreamSpecification")
        if isinstance(stream, dict) and stream.get("StreamViewType"):
            arguments["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        sse = properties.get("SSESpecification")
        if isinstance(sse, dict):
            arguments["SSESpecification"] = {"Enabled": _true(sse.get("SSEEnabled"))}
        try:
            client.create_table(TableName=name, **arguments)
            ttl = properties.get("TimeToLiveSpecification")
            if isinstance(ttl, dict) and _true(ttl.get("Enabled")):
                client.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={
                        "AttributeName": ttl["AttributeName"],
                        "Enabled": True,
                    },
                )
            recovery = properties.get("PointInTimeRecoverySpecification")
            if isinstance(recovery, dict) and _true(recovery.get("PointInTimeRecoveryEnabled")):
                client.update_continuous_backups(
                    TableName=name,
                    PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
                )
        except Exception as err:  # noqa: BLE001 - botocore's errors: say which table and why
            raise StartupError(f"cannot create table {logical_id} ({name}): {err}") from None
        created[logical_id] = name


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
