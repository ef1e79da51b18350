"""make revoke against AWS (scripts/revoke.py): which stack, region, pool and table it
finds, and what it says when it cannot. The revocation itself is tested against moto
(tests/integration/test_local_revocation.py) and end to end (tests/e2e/test_revocation.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from scripts import revoke
from scripts.revoke import RevokeError, aws_target, main, samconfig_defaults


@dataclass
class FakeCloudFormation:
    outputs: dict[str, str]
    asked: list[str] = field(default_factory=list)

    def describe_stacks(self, *, StackName: str) -> dict[str, Any]:
        self.asked.append(StackName)
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.outputs.items()]
        return {"Stacks": [{"Outputs": outputs}]}


@dataclass
class FakeSession:
    region_name: str | None
    cloudformation: FakeCloudFormation

    def client(self, service: str) -> Any:
        return self.cloudformation if service == "cloudformation" else f"{service}-client"


def fake_aws(monkeypatch: pytest.MonkeyPatch, outputs: dict[str, str]) -> FakeCloudFormation:
    cloudformation = FakeCloudFormation(outputs)
    monkeypatch.setattr(
        boto3.session,
        "Session",
        lambda region_name=None: FakeSession(region_name, cloudformation),
    )
    return cloudformation


def test_the_stack_and_region_default_to_samconfigs() -> None:
    assert samconfig_defaults("default") == {
        "stack_name": "cognito-lambda-authorizer",
        "region": "us-east-1",
    }
    assert samconfig_defaults("rest")["stack_name"] == "cognito-lambda-authorizer-rest"


def test_the_pool_and_table_come_from_the_stacks_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_aws(monkeypatch, {"UserPoolId": "eu-west-1_Pool", "RevocationTableName": "t1"})
    target = aws_target(None, "eu-west-1", None, None, "default")
    assert (target.user_pool_id, target.table) == ("eu-west-1_Pool", "t1")
    assert (target.cognito, target.dynamodb) == ("cognito-idp-client", "dynamodb-client")
    assert asked.asked == ["cognito-lambda-authorizer"]
    assert target.where == "stack cognito-lambda-authorizer in eu-west-1"


def test_given_pool_and_table_the_stack_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = fake_aws(monkeypatch, {})
    target = aws_target("mine", None, "us-east-1_P", "t2", "default")
    assert (target.user_pool_id, target.table, asked.asked) == ("us-east-1_P", "t2", [])


@pytest.mark.parametrize("stack", [None, "mine"])
def test_given_pool_and_table_no_stack_is_named_and_the_pool_names_the_region(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], stack: str | None
) -> None:
    asked = fake_aws(monkeypatch, {})
    # samconfig.toml names a stack and us-east-1: neither was read for this pool.
    target = aws_target(stack, None, "eu-west-1_Pool", "t2", "default")
    assert target.where == "user pool eu-west-1_Pool in eu-west-1"
    assert aws_target(stack, "eu-central-1", "eu-west-1_Pool", "t2", "default").where == (
        "user pool eu-west-1_Pool in eu-central-1"
    )
    assert asked.asked == []
    done = {"username": "brian", "sub": "s-1", "revokedAt": 1_800_000_000}
    monkeypatch.setattr(revoke, "revoke_user", lambda target, user: done)
    argv = ["--user", "brian", "--user-pool-id", "eu-west-1_Pool", "--table", "t2"]
    assert main([*argv, *(["--stack", stack] if stack else [])]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("revoked brian (sub s-1) in user pool eu-west-1_Pool in eu-west-1: ")
    assert "stack" not in printed


def test_a_pool_id_without_a_region_prefix_leaves_the_region_to_samconfig(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_aws(monkeypatch, {})
    assert aws_target(None, None, "NoRegionPool", "t", "default").where == (
        "user pool NoRegionPool in us-east-1"
    )


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"UserPoolId": "us-east-1_P"}, "has no RevocationTableName output: deploy it with"),
        ({"UserPoolId": "", "RevocationTableName": "t"}, "names no single user pool"),
    ],
)
def test_a_stack_without_what_it_needs_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, outputs: dict[str, str], message: str
) -> None:
    fake_aws(monkeypatch, outputs)
    with pytest.raises(RevokeError, match=message):
        aws_target("s", None, None, None, "default")


def test_main_prints_what_it_did_and_exits_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_aws(monkeypatch, {"UserPoolId": "us-east-1_P", "RevocationTableName": "t"})
    done = {"username": "brian", "sub": "s-1", "revokedAt": 1_800_000_000}
    monkeypatch.setattr(revoke, "revoke_user", lambda target, user: done)
    assert main(["--user", "brian", "--stack", "s"]) == 0
    assert capsys.readouterr().out == (
        "revoked brian (sub s-1) in stack s in us-east-1: Cognito signed the user out "
        "everywhere, and every token issued up to 2027-01-15T08:00:00Z is on the revocation "
        "list (t)\n"
    )

    def refuse(target: Any, user: str) -> dict[str, Any]:
        raise RevokeError("no user 'brian' in us-east-1_P")

    monkeypatch.setattr(revoke, "revoke_user", refuse)
    assert main(["--user", "brian", "--stack", "s"]) == 1
    assert capsys.readouterr().err == "error: no user 'brian' in us-east-1_P\n"


# --- the revocation itself: Cognito first, then the list ----------------------------------


@dataclass
class Recorder:
    """A Cognito and a DynamoDB client in one, recording each call in order."""

    calls: list[str] = field(default_factory=list)
    sign_out_fails: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)

    def admin_get_user(self, **_: str) -> dict[str, Any]:
        self.calls.append("AdminGetUser")
        return {"UserAttributes": [{"Name": "sub", "Value": "s-1"}]}

    def admin_user_global_sign_out(self, **_: str) -> dict[str, Any]:
        self.calls.append("AdminUserGlobalSignOut")
        if self.sign_out_fails:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}},
                "AdminUserGlobalSignOut",
            )
        return {}

    def put_item(self, *, TableName: str, Item: dict[str, Any]) -> dict[str, Any]:
        self.calls.append("PutItem")
        self.items.append(Item)
        return {}


def test_the_user_is_signed_out_at_cognito_before_the_list_is_written() -> None:
    aws = Recorder()
    target = revoke.Target("us-east-1_P", "t", aws, aws, "a test")
    done = revoke.revoke_user(target, "brian", now=1_800_000_000.5)
    assert aws.calls == ["AdminGetUser", "AdminUserGlobalSignOut", "PutItem"]
    assert done == {"username": "brian", "sub": "s-1", "revokedAt": 1_800_000_000}
    [item] = aws.items
    assert (item["kind"], item["value"]) == ({"S": "user"}, {"S": "s-1"})


def test_when_cognito_cannot_sign_the_user_out_nothing_is_written() -> None:
    aws = Recorder(sign_out_fails=True)
    target = revoke.Target("us-east-1_P", "t", aws, aws, "a test")
    with pytest.raises(RevokeError, match=r"^AdminUserGlobalSignOut failed: TooManyRequests"):
        revoke.revoke_user(target, "brian", now=1_800_000_000.5)
    assert aws.items == []
