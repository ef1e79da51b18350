"""The greeter's own error: a request body it cannot greet from."""

from __future__ import annotations

from shared.exceptions import ProductError


class BadRequest(ProductError):
    """The request body is not what the route accepts: answered with a 400."""

    reason = "bad_request"
