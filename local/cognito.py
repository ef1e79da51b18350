"""A local Cognito: moto's emulator on loopback, with a pool, an app client and a demo user.

moto signs tokens with the AWS-style issuer
``https://cognito-idp.us-east-1.amazonaws.com/<pool>`` and serves the pool's
key set at ``/<pool>/.well-known/jwks.json``, so the authorizer runs with
only ``JWKS_URL`` pointed here.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from typing import Any, Final

from local.cfn import REGION

DEMO_USERNAME: Final = "brian"
DEMO_PASSWORD: Final = "Offline-Demo-Passw0rd!"  # a throwaway user in a throwaway local pool
DEMO_EMAIL: Final = "brian@example.com"
DEMO_GROUP: Final = "greeters"
POOL_NAME: Final = "offline-pool"
CLIENT_NAME: Final = "offline-client"
# moto accepts any credentials; this only keeps boto3 from looking for real ones.
DUMMY_KEY: Final = "offline"


@dataclass(frozen=True, slots=True)
class LocalPool:
    endpoint: str
    user_pool_id: str
    client_id: str
    username: str
    password: str
    group: str
    email: str

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json"

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{REGION}.amazonaws.com/{self.user_pool_id}"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class LocalCognito:
    """moto's server app on a werkzeug server bound to loopback, in a background thread.

    The server socket is bound in ``__init__`` (not in the thread, as
    ``ThreadedMotoServer`` does), so a port already in use fails loudly here.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 9229) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            host, port, app, threaded=True, request_handler=MotoRequestHandler
        )
        self.host = host
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="local-cognito", daemon=True
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def cognito_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "cognito-idp",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=DUMMY_KEY,
        aws_secret_access_key=DUMMY_KEY,
    )


def bootstrap(endpoint: str, name: str = POOL_NAME) -> LocalPool:
    """A user pool, an app client for password login, a group and a confirmed demo user."""
    client = cognito_client(endpoint)
    pool_id = client.create_user_pool(PoolName=name)["UserPool"]["Id"]
    app_client_id = client.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=CLIENT_NAME,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["email"],
    )["UserPoolClient"]["ClientId"]
    client.create_group(GroupName=DEMO_GROUP, UserPoolId=pool_id)
    client.admin_create_user(
        UserPoolId=pool_id,
        Username=DEMO_USERNAME,
        UserAttributes=[
            {"Name": "email", "Value": DEMO_EMAIL},
            {"Name": "email_verified", "Value": "true"},
        ],
        MessageAction="SUPPRESS",
    )
    client.admin_set_user_password(
        UserPoolId=pool_id, Username=DEMO_USERNAME, Password=DEMO_PASSWORD, Permanent=True
    )
    client.admin_add_user_to_group(UserPoolId=pool_id, Username=DEMO_USERNAME, GroupName=DEMO_GROUP)
    return LocalPool(
        endpoint=endpoint,
        user_pool_id=pool_id,
        client_id=app_client_id,
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        group=DEMO_GROUP,
        email=DEMO_EMAIL,
    )


def trusted_pools_setting(pools: list[LocalPool]) -> str:
    """The authorizer's USER_POOLS for these local pools, each with its key set here."""
    return json.dumps(
        [
            {"userPoolId": p.user_pool_id, "appClientIds": [p.client_id], "jwksUrl": p.jwks_url}
            for p in pools
        ]
    )


def login(pool: LocalPool, token_use: str) -> str:
    """A fresh token for the demo user, by USER_PASSWORD_AUTH as a real client would log in."""
    client = cognito_client(pool.endpoint)
    result = client.initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": pool.username, "PASSWORD": pool.password},
    )["AuthenticationResult"]
    key = "AccessToken" if token_use == "access" else "IdToken"
    return str(result[key])
