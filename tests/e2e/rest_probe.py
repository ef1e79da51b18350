"""A naive REST authorizer for the offline REST API's tests: it decides by its X-Probe token.

``exact`` answers the way users often write a REST authorizer: an Allow for
exactly the methodArn that invoked it. Under API Gateway's result cache that
policy then refuses every other method for the same token: the pitfall the
product's own authorizer (authorizer/api/rest.py) is built to avoid.
"""

from __future__ import annotations

from typing import Any


def authorizer_handler(event: dict[str, Any], context: Any) -> Any:
    probe = event["authorizationToken"]
    if probe == "unauthorized":
        raise Exception("Unauthorized")  # exactly this message: API Gateway answers 401
    if probe == "raise":
        raise RuntimeError("probe authorizer asked to fail")
    if probe == "malformed":
        return {"principalId": "probe"}
    effect = "Deny" if probe == "deny" else "Allow"
    return {
        "principalId": "probe",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": effect, "Action": "execute-api:Invoke", "Resource": event["methodArn"]}
            ],
        },
        "context": {"probe": probe, "number": 7, "flag": True},
    }
