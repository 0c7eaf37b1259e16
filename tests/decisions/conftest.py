"""Fixtures of the engine's tests."""

from tests.decisions.support import shop

__all__ = ["shop"]
