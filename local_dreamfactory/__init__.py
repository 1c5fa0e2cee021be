"""A local DreamFactory-compatible API server: a test double for tests and the `local` stack.

Not part of `components/`: production code never imports it.
"""

from .server import LocalDreamFactory
from .state import ADMIN_APP_KEY, DreamFactoryState

__all__ = ["ADMIN_APP_KEY", "DreamFactoryState", "LocalDreamFactory"]
