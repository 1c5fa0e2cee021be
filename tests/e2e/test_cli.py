"""The plain `pulumi` command on the `local` stack, from the project folder, exactly as the workflows run it:
`pulumi preview --diff --policy-pack policy`, `pulumi up --yes`, `pulumi refresh --yes`, `pulumi destroy --yes`,
with the project-built language host and the real dynamic-provider plugin against the local DreamFactory double."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.support.cli import PulumiCli, copy_project, requires_binaries

pytestmark = requires_binaries


def connected_stack(project: Path, scratch: Path, local_df, stack: str = "local") -> PulumiCli:
    """The stack selected (created) in ``project`` and pointed at the local double, password as a secret."""
    cli = PulumiCli(project, scratch, stack=stack)
    cli.init()
    cli("config", "set", "dreamfactory:url", local_df.url)
    cli.set_secret("dreamfactory:password", local_df.password)
    return cli


@pytest.fixture
def cli(tmp_path: Path, local_df) -> PulumiCli:
    return connected_stack(copy_project(tmp_path / "project"), tmp_path, local_df)


def edit_stack_file(cli: PulumiCli, change) -> None:
    path = cli.project / "stacks" / f"Pulumi.{cli.stack}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_preview_up_change_refresh_destroy_through_the_plain_cli(cli: PulumiCli, local_df):
    preview = cli("preview", "--diff", "--policy-pack", "policy")
    assert "+ 3 to create" in preview.stdout
    assert "cors-wildcard-origin" in preview.stdout  # the advisory policy ran on files-readonly's '*'
    assert local_df.rows() == []  # a preview writes nothing

    cli("up", "--yes", "--policy-pack", "policy")
    rows = {row["path"]: row for row in local_df.rows()}
    assert set(rows) == {"api/v2/*", "api/v2/files/*"}
    assert rows["api/v2/files/*"]["max_age"] == 600
    again = cli("up", "--yes")
    assert "3 unchanged" in again.stdout and "updated" not in again.stdout

    def shorter_max_age(config):
        config["dreamfactory-infra:corsEntries"][1]["maxAge"] = 30
    edit_stack_file(cli, shorter_max_age)
    preview = cli("preview", "--diff", "--policy-pack", "policy")
    assert "~ 1 to update" in preview.stdout
    assert re.search(r"~ max_age\s*: 600 => 30", preview.stdout)  # the pull request's field-level diff
    cli("up", "--yes")
    rows_now = {row["path"]: row for row in local_df.rows()}
    assert rows_now["api/v2/files/*"]["max_age"] == 30 and rows_now["api/v2/files/*"]["id"] == rows["api/v2/files/*"]["id"]

    local_df.control("PATCH", f"cors/{rows['api/v2/*']['id']}", {"origin": "https://evil.example.com"})
    refresh = cli("refresh", "--yes")
    assert "1 updated" in refresh.stdout
    exported = json.loads(cli("stack", "export").stdout)
    spa = next(r for r in exported["deployment"]["resources"] if r["urn"].endswith("::spa"))
    assert spa["outputs"]["origins"] == ["https://evil.example.com"]
    cli("up", "--yes")
    assert {row["path"]: row["origin"] for row in local_df.rows()}["api/v2/*"].startswith("http://localhost:3000")

    logs = "\n".join(cli.log)
    for secret in [local_df.password, *local_df.issued_tokens()]:
        assert secret not in logs and secret not in json.dumps(exported)

    cli("destroy", "--yes")
    assert local_df.rows() == []


def test_a_mandatory_policy_violation_blocks_up(tmp_path: Path, local_df):
    # A prod* stack with a '*' origin: cors-no-wildcard-origin-in-production is mandatory there.
    project = copy_project(tmp_path / "project")
    (project / "stacks" / "Pulumi.prod-local.yaml").write_text(
        (project / "stacks" / "Pulumi.local.yaml").read_text().replace("encryptionsalt", "# encryptionsalt"))
    cli = connected_stack(project, tmp_path, local_df, stack="prod-local")

    result = cli("up", "--yes", "--policy-pack", "policy", check=False)
    assert result.returncode != 0
    assert "cors-no-wildcard-origin-in-production" in result.stdout and "mandatory" in result.stdout
    assert local_df.rows() == []  # blocked before any entry was written


def test_a_misspelt_key_is_refused_by_name_and_deletes_nothing(cli: PulumiCli, local_df):
    cli("up", "--yes")
    before = local_df.rows()
    assert len(before) == 2

    def misspell(config):
        config["dreamfactory-infra:corsEntires"] = config.pop("dreamfactory-infra:corsEntries")
    edit_stack_file(cli, misspell)
    for command in (("preview", "--diff"), ("up", "--yes")):
        result = cli(*command, check=False)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert "config dreamfactory-infra:corsEntires: unknown key" in output
        assert "did you mean dreamfactory-infra:corsEntries?" in output
        assert "to delete" not in output and "deleted" not in output
    assert local_df.rows() == before  # same rows, same ids

    cli("config", "set", "dreamfactory:timeoutSecond", "5")
    result = cli("up", "--yes", check=False)
    assert result.returncode != 0 and "did you mean dreamfactory:timeoutSeconds?" in result.stdout + result.stderr
    assert local_df.rows() == before


def test_a_preview_needs_no_dreamfactory_credentials_and_up_still_does(tmp_path: Path, local_df, monkeypatch):
    for name in ("DREAMFACTORY_PASSWORD", "DREAMFACTORY_SESSION_TOKEN", "DREAMFACTORY_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    cli = PulumiCli(copy_project(tmp_path / "project"), tmp_path)
    cli.init()
    cli("config", "set", "dreamfactory:url", local_df.url)
    preview = cli("preview", "--diff")
    assert "+ 3 to create" in preview.stdout
    said = preview.stdout + preview.stderr
    assert "no DreamFactory credentials" in said and "this preview needs none, but refresh and up do" in said
    assert local_df.requests_log() == []  # a preview asks DreamFactory nothing

    up = cli("up", "--yes", check=False)
    assert up.returncode != 0 and "no DreamFactory credentials: set dreamfactory:email" in up.stdout + up.stderr
    assert local_df.rows() == []
