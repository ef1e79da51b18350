"""The greeter's errors: a body it cannot greet from is the shared BadRequest (a 400)."""

from __future__ import annotations

from shared.exceptions import BadRequest

__all__ = ["BadRequest"]
