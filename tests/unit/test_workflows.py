"""The workflow linter (tools/lint_workflows.py) passes the project's workflows and catches the defects that
stop workflows from starting on GitHub (a nested job asking for more than its caller grants, actions whose release
runs on a Node version GitHub's runners no longer have) and those that break the pull-request trust model."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tools.lint_workflows import lint

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = str(Path(sys.executable).with_name("actionlint"))


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    copy = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


def test_project_workflows_are_clean():
    code, findings = lint(WORKFLOWS, ACTIONLINT)
    assert code == 0, findings


def test_a_nested_job_asking_for_more_than_its_caller_grants_is_caught(workflows: Path):
    # The defect as it was: the reusable job asked for pull-requests: write; deploy grants contents: read only.
    edit(workflows / "pulumi.yml", "    environment: ${{ inputs.environment }}\n",
         "    environment: ${{ inputs.environment }}\n    permissions:\n      contents: read\n      pull-requests: write\n")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1
    assert 'requires "pull-requests: write" but the calling job grants "pull-requests: none"' in findings


def test_a_pin_to_a_node20_release_is_caught(workflows: Path):
    edit(workflows / "pulumi.yml", "# v6.0.3", "# v4.2.2")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1
    assert 'runtime "node20" is deprecated' in findings and "actions/checkout@v4" in findings


def test_actions_must_be_pinned_to_a_commit_with_their_release(workflows: Path):
    edit(workflows / "pulumi.yml", "actions/setup-python@a309ff8b426b58ec0e2a45f0f869d46889d02405  # v6.2.0",
         "actions/setup-python@v6")
    edit(workflows / "pulumi.yml", "  # v6.0.3 (node24)", "")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1
    assert "actions/setup-python@v6 is not pinned to a commit" in findings
    assert "actions/checkout@df4cb1c069e1874edd31b4311f1884172cec0e10 has no '# vX.Y.Z' comment" in findings


def test_a_preview_that_references_a_deploy_secret_is_caught(workflows: Path):
    edit(workflows / "preview.yml", "SSH_KEYS: ${{ secrets.SSH_HEALTH_KEY }}", "SSH_KEYS: ${{ secrets.SSH_DEPLOY_KEYS }}")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1 and "preview.yml: the preview path references the deploy secret SSH_DEPLOY_KEYS" in findings


def test_a_preview_that_inherits_every_secret_is_caught(workflows: Path):
    text = (workflows / "preview.yml").read_text()
    (workflows / "preview.yml").write_text(text[:text.index("    secrets:\n")] + "    secrets: inherit\n")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1 and "preview.yml: secrets: inherit on the preview path" in findings


def test_secrets_in_a_job_env_are_caught(workflows: Path):
    edit(workflows / "pulumi.yml", "    steps:\n",
         "    env:\n      PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PULUMI_CONFIG_PASSPHRASE }}\n    steps:\n")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1 and "pulumi.yml: job pulumi env holds secrets (PULUMI_CONFIG_PASSPHRASE)" in findings


def test_one_concurrency_group_for_previews_and_deploys_is_caught(workflows: Path):
    edit(workflows / "pulumi.yml", "group: ${{ inputs.command }}-${{ inputs.stack }}-${{ github.ref }}",
         "group: pulumi-${{ inputs.stack }}")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1 and "concurrency group 'pulumi-${{ inputs.stack }}' is shared by previews and deploys" in findings


def test_pull_request_target_is_refused(workflows: Path):
    edit(workflows / "preview.yml", "  pull_request:\n", "  pull_request_target:\n")
    code, findings = lint(workflows, ACTIONLINT)
    assert code == 1 and "pull_request_target runs with the base repository's secrets" in findings
