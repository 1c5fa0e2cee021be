"""The real Pulumi engine end to end on the `local` stack through the Automation API, against the local double.

This is the path `make up` takes when the CLI has no Python language host beside it (tools/pulumi-cli/build without
../shared/third_party): the program runs in this process (`--client`), while the engine, config namespacing,
secrets in state, preview with its own diff, refresh, destroy and the dynamic provider plugin
(`pulumi-resource-pulumi-python` -> `python -m pulumi.dynamic`) are the real ones. test_cli.py runs the plain CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml
from pulumi import automation as auto

from tests.e2e.conftest import CLI, PROJECT, requires_cli

pytestmark = requires_cli


def entries_config(stack: auto.Stack) -> list[dict]:
    return json.loads(stack.get_config(f"{PROJECT}:corsEntries").value)


def test_preview_up_change_refresh_destroy(stack: auto.Stack, local_df, project: Path, tmp_path: Path):
    preview = stack.preview(program=stack.workspace.program, diff=True)
    assert preview.change_summary.get("create") == 3  # the stack and the two entries

    up = stack.up(program=stack.workspace.program)
    rows = {row["path"]: row for row in local_df.rows()}
    assert set(rows) == {"api/v2/*", "api/v2/files/*"}
    assert rows["api/v2/*"]["origin"] == "http://localhost:3000,http://127.0.0.1:3000"
    assert rows["api/v2/*"]["method"] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert rows["api/v2/files/*"]["max_age"] == 600
    ids = up.outputs["corsEntryIds"].value
    assert ids == {"spa": rows["api/v2/*"]["id"], "files-readonly": rows["api/v2/files/*"]["id"]}

    entries = entries_config(stack)
    entries[1]["maxAge"] = 30
    stack.set_config(f"{PROJECT}:corsEntries", auto.ConfigValue(json.dumps(entries)))
    preview = stack.preview(program=stack.workspace.program, diff=True)
    assert preview.change_summary.get("update") == 1 and "maxAge" not in preview.stdout
    assert "max_age" in preview.stdout and "600" in preview.stdout and "30" in preview.stdout
    stack.up(program=stack.workspace.program)
    assert {row["path"]: row["max_age"] for row in local_df.rows()}["api/v2/files/*"] == 30
    assert {row["path"]: row["id"] for row in local_df.rows()}["api/v2/files/*"] == ids["files-readonly"]  # in place

    local_df.control("PATCH", f"cors/{ids['spa']}", {"origin": "https://evil.example.com"})
    refresh = stack.refresh(program=stack.workspace.program)
    assert refresh.summary.resource_changes.get("update") == 1
    state = stack.export_stack().deployment
    spa = next(r for r in state["resources"] if r["urn"].endswith("::spa"))
    assert spa["outputs"]["origins"] == ["https://evil.example.com"]
    stack.up(program=stack.workspace.program)  # converges back
    assert {row["path"]: row["origin"] for row in local_df.rows()}["api/v2/*"].startswith("http://localhost:3000")

    # `pulumi stack export` as an operator runs it (the Automation API's export adds --show-secrets).
    exported = subprocess.run([str(CLI), "stack", "export", "--stack", "local"],
                              cwd=project, env={**os.environ, **stack.workspace.env_vars,
                                                "PULUMI_HOME": stack.workspace.pulumi_home},
                              capture_output=True, text=True, check=True).stdout
    state_file = (tmp_path / "state" / ".pulumi" / "stacks" / PROJECT / "local.json").read_text()
    assert '"ciphertext"' in exported  # the provider's copy of dreamfactory:password stays encrypted
    for secret in [local_df.password, *local_df.issued_tokens()]:
        assert secret not in exported and secret not in state_file
    stack_file = yaml.safe_load((project / "stacks" / "Pulumi.local.yaml").read_text())
    assert local_df.password not in json.dumps(stack_file)
    assert "secure" in json.dumps(stack_file["config"]["dreamfactory:password"])

    stack.destroy(program=stack.workspace.program)
    assert local_df.rows() == []
