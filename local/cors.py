"""The HTTP API's CORS configuration, as API Gateway applies it.

With ``CorsConfiguration`` set, API Gateway answers a preflight (``OPTIONS``
with ``Origin`` and ``Access-Control-Request-Method``) itself, whether or not
a route matches and before any authorizer runs, and adds the CORS headers to
every response to an allowed origin, 401 and 403 from the authorizer
included, so a page can read why it was refused.
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.wrappers import Request, Response


@dataclass(frozen=True, slots=True)
class CorsConfig:
    allow_origins: tuple[str, ...]
    allow_headers: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    @classmethod
    def from_openapi(cls, resolved: Any) -> CorsConfig | None:
        """From the body's ``x-amazon-apigateway-cors``, already resolved; None when absent."""
        if not isinstance(resolved, Mapping):
            return None
        max_age = resolved.get("maxAge")
        return cls(
            allow_origins=tuple(resolved.get("allowOrigins", ())),
            allow_headers=tuple(resolved.get("allowHeaders", ())),
            allow_methods=tuple(resolved.get("allowMethods", ())),
            expose_headers=tuple(resolved.get("exposeHeaders", ())),
            max_age=int(max_age) if max_age is not None else None,
            allow_credentials=bool(resolved.get("allowCredentials", False)),
        )

    def allowed_origin(self, origin: str | None) -> str | None:
        if origin is None:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    @staticmethod
    def is_preflight(request: Request) -> bool:
        return (
            request.method == "OPTIONS"
            and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers
        )

    def preflight(self, request: Request) -> Response:
        response = Response(status=204)
        origin = self.allowed_origin(request.headers.get("Origin"))
        if origin is not None:
            self._add_origin(response, origin)
            if self.allow_methods:
                response.headers["Access-Control-Allow-Methods"] = ",".join(self.allow_methods)
            if self.allow_headers:
                response.headers["Access-Control-Allow-Headers"] = ",".join(self.allow_headers)
            if self.max_age is not None:
                response.headers["Access-Control-Max-Age"] = str(self.max_age)
        return response

    def decorate(self, request: Request, response: Response) -> None:
        """The CORS headers on an actual (non-preflight) response to an allowed origin."""
        origin = self.allowed_origin(request.headers.get("Origin"))
        if origin is None:
            return
        self._add_origin(response, origin)
        if self.expose_headers:
            response.headers["Access-Control-Expose-Headers"] = ",".join(self.expose_headers)

    def _add_origin(self, response: Response, origin: str) -> None:
        response.headers["Access-Control-Allow-Origin"] = origin
        if origin != "*":
            response.headers["Vary"] = "Origin"
        if self.allow_credentials:
            response.headers["Access-Control-Allow-Credentials"] = "true"
