"""Several DreamFactory instances in one stack, through the plain `pulumi` command: two local DreamFactory doubles
with different credentials, entries checked on each server (not in Pulumi's output)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.cli import PulumiCli, copy_project, requires_binaries
from tests.support.local_df import ADMIN_EMAIL, start_local_dreamfactory

pytestmark = requires_binaries
ORIGINS = ["https://app.example.com"]


@pytest.fixture
def servers():
    eu, us = start_local_dreamfactory(), start_local_dreamfactory()  # each with its own random admin password
    yield eu, us
    for server in (eu, us):
        server.server.shutdown()


def write_config(cli: PulumiCli, instances: list[dict], entries: list[dict]) -> None:
    path = cli.project / "stacks" / f"Pulumi.{cli.stack}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else {}
    config = document.setdefault("config", {})
    config["dreamfactory-infra:instances"] = instances
    config["dreamfactory-infra:corsEntries"] = entries
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def updated(preview: str) -> list[str]:
    """The names of the resources a `preview --diff` shows as updated."""
    return re.findall(r"\(update\)\s+\[id=[^\]]+\]\s+\[urn=[^\]]+::([\w-]+)\]", preview)


def paths(server) -> dict[str, list[str]]:
    return {row["path"]: row["method"] for row in server.rows()}


def test_entries_land_on_their_instance_move_between_them_and_credentials_change_nothing_else(tmp_path: Path,
                                                                                              servers):
    eu, us = servers
    # eu's password is a secret config key; us's comes from DREAMFACTORY_US_PASSWORD in the environment.
    cli = PulumiCli(copy_project(tmp_path / "project", stack_files=()), tmp_path, stack="multi",
                    extra_env={"DREAMFACTORY_US_PASSWORD": us.password, "DREAMFACTORY_PASSWORD": "not-for-any-instance"})
    cli.init()
    cli.set_secret("dfPasswordEu", eu.password)
    instances = [{"name": "eu", "url": eu.url, "email": ADMIN_EMAIL, "passwordSecret": "dfPasswordEu"},
                 {"name": "us", "url": us.url, "email": ADMIN_EMAIL}]
    entries = [{"name": "api-eu", "instance": "eu", "path": "api/v2/*", "origins": ORIGINS, "methods": ["GET"]},
               {"name": "api-us", "instance": "us", "path": "api/v2/*", "origins": ORIGINS, "methods": ["POST"]},
               {"name": "files", "instance": "eu", "path": "api/v2/files/*", "origins": ORIGINS, "methods": ["GET"]}]
    write_config(cli, instances, entries)

    # Run 1: each entry on its own server; the same path on both is no conflict.
    cli("up", "--yes")
    assert paths(eu) == {"api/v2/*": ["GET"], "api/v2/files/*": ["GET"]}
    assert paths(us) == {"api/v2/*": ["POST"]}
    assert "6 unchanged" in cli("up", "--yes").stdout  # run 2: nothing to do (stack, 2 instances, 3 entries)

    # Moving an entry to the other instance is a replace: created on us, deleted from eu.
    entries[2]["instance"] = "us"
    write_config(cli, instances, entries)
    preview = cli("preview", "--diff")
    assert "+-1 to replace" in preview.stdout and "instance            : \"eu\" => \"us\"" in preview.stdout
    cli("up", "--yes")
    assert paths(eu) == {"api/v2/*": ["GET"]}
    assert paths(us) == {"api/v2/*": ["POST"], "api/v2/files/*": ["GET"]}
    assert "6 unchanged" in cli("preview").stdout

    # Another admin's credentials (and a shorter timeout) for eu: only the instance (provider) changes; no entry is
    # touched on either server.
    with eu.state.lock:
        eu.state.admins["ops@example.com"] = "second-admin-password"
    before = {"eu": eu.rows(), "us": us.rows()}
    eu.clear_log()
    us.clear_log()
    instances[0].update(email="ops@example.com", passwordSecret="dfPasswordEuOps", timeoutSeconds=10)
    cli.set_secret("dfPasswordEuOps", "second-admin-password")
    cli("config", "rm", "dfPasswordEu")
    write_config(cli, instances, entries)
    preview = cli("preview", "--diff")
    assert "1 to update" in preview.stdout and "5 unchanged" in preview.stdout
    assert updated(preview.stdout) == ["eu"]
    cli("up", "--yes")
    assert {"eu": eu.rows(), "us": us.rows()} == before
    assert eu.writes() == [] and us.writes() == []
    assert "6 unchanged" in cli("up", "--yes").stdout
    # The new credentials are what refresh uses on eu: the old admin is gone, and refresh still reads.
    with eu.state.lock:
        del eu.state.admins[ADMIN_EMAIL]
    assert "6 unchanged" in cli("refresh", "--yes").stdout

    # Drift on one instance shows on that instance only.
    drifted = next(row for row in us.rows() if row["path"] == "api/v2/*")
    us.control("PATCH", f"cors/{drifted['id']}", {"origin": "https://evil.example.com"})  # an edit in the admin UI
    drift = cli("preview", "--refresh", "--diff")
    assert updated(drift.stdout) == ["api-us"]
    cli("up", "--refresh", "--yes")
    assert next(row for row in us.rows() if row["path"] == "api/v2/*")["origin"] == ORIGINS[0]
    assert "6 unchanged" in cli("preview", "--refresh").stdout

    # us moves to another DreamFactory (a new URL): its entries are created there, and left on the old one, never
    # read, written or deleted by id on a DreamFactory they were not written to (ids are per server).
    new_us = start_local_dreamfactory()
    try:
        with new_us.state.lock:
            new_us.state.admins[ADMIN_EMAIL] = us.password
        instances[1]["url"] = new_us.url
        write_config(cli, instances, entries)
        preview = cli("preview", "--diff")
        assert "+-2 to replace" in preview.stdout and "~ 1 to update" in preview.stdout
        assert updated(preview.stdout) == ["us"]
        left = us.rows()
        cli("up", "--yes")
        assert paths(new_us) == {"api/v2/*": ["POST"], "api/v2/files/*": ["GET"]}
        assert us.rows() == left  # nothing deleted behind the operator's back
        assert paths(eu) == {"api/v2/*": ["GET"]}
        assert "6 unchanged" in cli("preview", "--refresh").stdout
    finally:
        new_us.server.shutdown()

    # Neither instance's password, nor the default one from the environment, is in the state in plain text.
    exported = cli("stack", "export").stdout
    state_files = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
    for secret in (eu.password, us.password, "second-admin-password", "not-for-any-instance"):
        assert secret not in exported and secret not in state_files


def test_the_local_stack_as_shipped_runs_on_two_dreamfactories(tmp_path: Path, servers):
    own, second = servers
    project = copy_project(tmp_path / "project", second_instance=True)
    cli = PulumiCli(project, tmp_path, extra_env={"DREAMFACTORY_PASSWORD": own.password,
                                                  "DREAMFACTORY_SECOND_PASSWORD": second.password})
    stack_file = project / "stacks" / "Pulumi.local.yaml"
    document = yaml.safe_load(stack_file.read_text())
    config = document["config"]
    config["dreamfactory:url"] = own.url  # the file names ports 8765 and 8766, which `make up` starts
    [instance] = config["dreamfactory-infra:instances"]
    instance["url"] = second.url
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    cli.init()

    cli("up", "--yes")
    assert sorted(paths(own)) == ["api/v2/*", "api/v2/files/*"]
    assert paths(second) == {"api/v2/*": ["GET"]}  # the same path, on the other DreamFactory
    assert "5 unchanged" in cli("preview").stdout  # stack, instance `second`, 3 entries
