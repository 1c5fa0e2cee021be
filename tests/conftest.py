"""Fixtures shared by every suite: one local DreamFactory double per session, reset before each test."""

from __future__ import annotations

import os
import sys

import pytest

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PROJECT_ROOT not in sys.path:
    sys.path.insert(0, PROJECT_ROOT)

from tests.support.local_df import LocalDreamFactoryHandle, start_local_dreamfactory  # noqa: E402


@pytest.fixture(scope="session")
def local_df_server() -> LocalDreamFactoryHandle:
    handle = start_local_dreamfactory()
    yield handle
    handle.server.shutdown()
    handle.server.server_close()


@pytest.fixture
def local_df(local_df_server: LocalDreamFactoryHandle) -> LocalDreamFactoryHandle:
    local_df_server.reset()
    return local_df_server
