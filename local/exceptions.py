"""The offline stack's errors (``make run``, and the settings check before a deploy): never
raised inside a Lambda, never shipped in one.

Each carries a stable ``reason`` code like the product's own errors; the
emulator's log lines print it (``GreeterFunction failed (timeout): ...``).
"""

from __future__ import annotations

from shared.exceptions import ProductError


class TemplateError(ProductError):
    """The template cannot be served offline; the message says where and why."""

    reason = "template"


class Unresolvable(TemplateError):
    """An intrinsic function whose value exists only in a deployed stack."""

    reason = "unresolvable"


class SettingsRefused(TemplateError):
    """CloudFormation (a parameter's constraint, a rule) or a function's cold start would
    refuse these settings: found before anything is built, deployed or started."""

    reason = "settings_refused"


class StartupError(ProductError):
    """The offline stack cannot start; the message says why."""

    reason = "startup"


class InvocationError(ProductError):
    """The function gave no usable result; API Gateway answers 500."""

    reason = "invocation_failed"


class FunctionTimeout(InvocationError):
    """The function ran past its Timeout."""

    reason = "timeout"


class FunctionCrashed(InvocationError):
    """The function's process died."""

    reason = "crashed"


class InitFailed(InvocationError):
    """The function failed during initialisation (import)."""

    reason = "init_failed"


class FunctionRaised(InvocationError):
    """The handler raised."""

    reason = "unhandled_error"
    # The function's own errorMessage: API Gateway reads "Unauthorized" from a REST authorizer.
    error_message: str | None = None
