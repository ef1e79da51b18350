"""The errors both Lambdas share: the base error and those either side raises.

Each class carries a stable ``reason`` code: it is what the decision log
prints, what tests assert on, and what an operator greps for. Messages are
fixed text chosen here: they never echo a token, a claim value or a secret.
Errors only one package raises live in that package: the authorizer's token,
key-set and sign-out errors in ``authorizer/exceptions.py``, the offline
stack's in ``local/exceptions.py``.
"""

from __future__ import annotations

from typing import ClassVar


class ProductError(Exception):
    """Base of every deliberate error in this product."""

    reason: ClassVar[str] = "error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__ or self.reason)


class ConfigurationError(ProductError):
    """A setting is missing or invalid; raised once, at cold start."""

    reason = "configuration"

    def __init__(self, variable: str, problem: str) -> None:
        self.variable = variable
        super().__init__(f"{variable}: {problem}")


class BadRequest(ProductError):
    """The request body is not what the route accepts: answered with a 400."""

    reason = "bad_request"


class MissingAuthContext(ProductError):
    """A request reached a protected function without an authorizer context."""

    reason = "missing_auth_context"
