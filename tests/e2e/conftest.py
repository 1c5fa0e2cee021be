"""The `local` stack through the Automation API (the real engine and dynamic-provider plugin) for the e2e tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.support.cli import copy_project
from tools.local_stack import open_stack

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".build" / "pulumi" / "bin" / "pulumi"
PROJECT = "dreamfactory-infra"

requires_cli = pytest.mark.skipif(not CLI.exists(), reason="no Pulumi CLI: run tools/pulumi-cli/build (.ci/run does)")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project (the stack file gets written to), sharing the real virtualenv."""
    return copy_project(tmp_path / "project")


@pytest.fixture
def stack(project: Path, tmp_path: Path, local_df) -> auto.Stack:
    (tmp_path / "state").mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }
    stack = open_stack(CLI, work_dir=project, env=env, pulumi_home=str(tmp_path / "pulumi-home"))
    stack.set_config("dreamfactory:url", auto.ConfigValue(local_df.url))
    stack.set_config("dreamfactory:password", auto.ConfigValue(local_df.password, secret=True))
    return stack
