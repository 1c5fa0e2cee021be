"""The host lab needs root (namespaces, mounts, chroot) and the Debian packages `.ci/run` installs."""

from __future__ import annotations

import os

import pytest

from tests.lab.hostlab import LAB_PACKAGES, missing_tools


def pytest_collection_modifyitems(config, items):
    reason = None
    if os.geteuid() != 0:
        reason = "host lab needs root (mount and network namespaces, overlayfs, chroot); `.ci/run` runs it as root"
    elif missing := missing_tools():
        reason = f"host lab needs {', '.join(missing)}: apt-get install {' '.join(LAB_PACKAGES)}"
    if reason:
        print(f"\nSKIPPING the host lab: {reason}")
        for item in items:
            if "tests/lab/" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))
