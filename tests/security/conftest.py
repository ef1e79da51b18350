"""The local JWKS endpoint and the authorizer rigged to it are defined with the
fault matrix and shared with the recovery tests. (How many fuzz examples ran is
printed by ``tests/conftest.py``, which the xdist controller loads too.)
"""

from __future__ import annotations

from tests.security.test_jwks_faults import jwks_server, rig

__all__ = ["jwks_server", "rig"]  # fixtures for every test module here
