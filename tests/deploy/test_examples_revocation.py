"""The examples with revocation on, as deployed: POST /signout behind the authorizer, to the
application's sign-out function, and an authorizer cache no longer than the refresh.

Apart from tests/deploy/test_application.py (whose `make package` needs the
repository's .venv) so that the semantic mutants of the examples run these alone.
"""

from __future__ import annotations

import pytest

from tests.deploy.test_application import (
    AUTHORIZER_ARN,
    REVOCATION,
    SIGN_OUT_ARN,
    deploy,
    example_authorizer,
)
from tests.deploy.test_application import (
    EXAMPLES as ALL_EXAMPLES,
)

# The examples with an authorizer cache and POST /signout: a WebSocket API has
# neither (it signs out by closing connections: test_websocket_template.py).
EXAMPLES = {name: path for name, path in ALL_EXAMPLES.items() if name != "websocket"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize(
    ("asked", "cached"), [("300", "7"), ("5", "7"), ("0", "0")], ids=["300", "5", "off"]
)
def test_with_revocation_an_example_caches_for_the_refresh_interval(
    name: str, asked: str, cached: str
) -> None:
    """The bound a revocation holds within is one refresh plus one TTL: with Revocation on,
    the TTL is the refresh interval whatever was asked, and no cache stays no cache."""
    parameters = {**REVOCATION, "RevocationRefreshSeconds": "7", "AuthorizerCacheTtlSeconds": asked}
    model = deploy(EXAMPLES[name], parameters)
    _, settings = example_authorizer(dict(model.template))
    assert str(model.resolve(settings)["authorizerResultTtlInSeconds"]) == cached
    off = deploy(
        EXAMPLES[name], {"AuthorizerArn": AUTHORIZER_ARN, "AuthorizerCacheTtlSeconds": asked}
    )
    _, settings = example_authorizer(dict(off.template))
    assert off.resolve(settings)["authorizerResultTtlInSeconds"] == asked


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_with_revocation_an_example_routes_sign_out_behind_the_authorizer(name: str) -> None:
    model = deploy(EXAMPLES[name], REVOCATION)
    assert model.rule_failures() == []
    [api] = [r for r in model.template["Resources"].values() if "Body" in r.get("Properties", {})]
    body = model.resolve(api["Properties"]["Body"])
    operation = body["paths"]["/signout"]["post"]
    assert SIGN_OUT_ARN in operation["x-amazon-apigateway-integration"]["uri"]
    assert operation.get("security", body.get("security")) not in (None, [])
    assert model.outputs()["SignOutUrl"].endswith("/signout")
    # Off: no route, no permission, no output; on without the function: refused.
    off = deploy(EXAMPLES[name], {"AuthorizerArn": AUTHORIZER_ARN})
    [api] = [r for r in off.template["Resources"].values() if "Body" in r.get("Properties", {})]
    assert "/signout" not in off.resolve(api["Properties"]["Body"])["paths"]
    assert "SignOutUrl" not in off.outputs()
    assert not off.exists("SignOutPermission")
    unnamed = deploy(EXAMPLES[name], {"AuthorizerArn": AUTHORIZER_ARN, "Revocation": "true"})
    assert unnamed.rule_failures() == [
        "RevocationNeedsTheSignOutFunction: Revocation needs SignOutFunctionArn,"
        " the application's output of that name."
    ]
