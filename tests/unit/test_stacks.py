"""Every stacks/Pulumi.<stack>.yaml, loaded through the real __main__.py under Pulumi mocks."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc

from policy.rules import RULES
from tests.support.mocks import install_mocks

ROOT = Path(__file__).resolve().parents[2]
STACK_FILES = sorted((ROOT / "stacks").glob("Pulumi.*.yaml"))
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]


def stack_config(path: Path) -> tuple[dict[str, str], dict]:
    config = yaml.safe_load(path.read_text())["config"]
    values = {key: json.dumps(value) if isinstance(value, (list, dict)) else str(value) for key, value in config.items()}
    return values, config


def command_outputs(typ, name, inputs):
    if typ == "command:remote:Command":
        return {"stdout": "expires_at=2031-01-01T00:00:00Z\nserial=01\nhttps_verified=true\n"
                          "renewal_timer=snap.certbot.renew.timer", "stderr": ""}
    return {"entry_id": 7} if typ.startswith("pulumi-python:dynamic") else {}


def test_every_stack_file_is_tested():
    assert {path.name for path in STACK_FILES} >= {"Pulumi.local.yaml", "Pulumi.dev.yaml", "Pulumi.staging.yaml",
                                                   "Pulumi.prod.yaml"}


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.name)
def test_stack_file_yields_its_resources(path, monkeypatch):
    stack = path.name.split(".")[1]
    values, config = stack_config(path)
    hosts = config.get(f"{PROJECT}:hosts", [])
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", "test-password")
    run = install_mocks(project=PROJECT, stack=stack, outputs=command_outputs)
    pulumi.runtime.set_all_config(values, [])

    @pulumi.runtime.test
    def program():
        namespace = runpy.run_path(str(ROOT / "__main__.py"))
        outputs = [host.renewal_timer for host in namespace["hosts"].values()]
        outputs += [entry.entry_id for entry in namespace["cors_entries"].values()]
        return pulumi.Output.all(*outputs)

    program()
    registered = run.mocks.registrations
    entries = [r for r in registered if r.typ == "pulumi-python:dynamic/dreamfactory:CorsEntry"]
    assert sorted(r.inputs["path"] for r in entries) == sorted(e["path"] for e in config.get(f"{PROJECT}:corsEntries", []))
    components = [r for r in registered if r.typ == "dreamfactory:certbot:CertbotHost"]
    assert sorted(r.name for r in components) == sorted(host["name"] for host in hosts)
    for host in hosts:
        commands = [r for r in registered if r.typ == "command:remote:Command" and r.name.startswith(host["name"] + "-")]
        steps = ["firewall", "snapd", "certbot", "certificate", "renewal"]
        assert [r.name[len(host["name"]) + 1:] for r in commands] == steps + ["health-identity"] * ("healthPublicKey" in host)
        connection = rpc.unwrap_rpc_secret(commands[0].inputs["connection"])
        assert connection["host"] == host["host"] and connection.get("hostKey") == host.get("hostKey")
        # Keys come from an ssh-agent: none is in config, none reaches the commands' inputs (or state).
        assert "privateKey" not in connection and connection["agentSocketPath"] == host["agentSocket"]
        assert (connection.get("proxy") or {}).get("host") == (host.get("proxy") or {}).get("host")
        script = commands[3].inputs["create"]
        assert ("STAGING=true" in script) == bool(host.get("staging"))
    # The policy pack sees these registrations: no stack may break a mandatory rule.
    mandatory = [(name, r.name, message) for r in registered for name, _, rule, level in RULES
                 if level == "mandatory" and (message := rule(r.typ, r.inputs, stack))]
    assert mandatory == []
    advisories = {(name, r.name) for r in registered for name, _, rule, level in RULES
                  if level == "advisory" and rule(r.typ, r.inputs, stack)}
    if stack.startswith("prod"):
        assert hosts and all(host.get("hostKey") for host in hosts) and advisories == set()
        assert not any(host.get("staging") or host.get("acmeServer") for host in hosts)
    if stack == "dev":
        assert ("certbot-pinned-host-key", "df-dev-1") in advisories
    if stack == "local":
        assert not hosts and config["dreamfactory:url"].startswith("http://127.0.0.1:")
        assert advisories == {("cors-wildcard-origin", "files-readonly")}


def run_program(values: dict[str, str], stack: str = "dev") -> "MockRun":
    """__main__.py under mocks with this stack config; raises what load_settings raises."""
    run = install_mocks(project=PROJECT, stack=stack, outputs=command_outputs)
    pulumi.runtime.set_all_config(values, [])

    @pulumi.runtime.test
    def program():
        namespace = runpy.run_path(str(ROOT / "__main__.py"))
        return pulumi.Output.all(*[entry.entry_id for entry in namespace["cors_entries"].values()])

    program()
    return run


LOCAL_VALUES, _ = stack_config(ROOT / "stacks" / "Pulumi.local.yaml")


@pytest.mark.parametrize("typo, fixed", [
    (f"{PROJECT}:corsEntires", f"did you mean {PROJECT}:corsEntries?"),
    ("dreamfactory:timeoutSecond", "did you mean dreamfactory:timeoutSeconds?"),
    ("dreamfactory:emial", "did you mean dreamfactory:email?"),
    (f"{PROJECT}:hostz", f"did you mean {PROJECT}:hosts?"),
])
def test_a_misspelt_key_is_refused_by_name_before_any_resource(typo, fixed, monkeypatch):
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", "test-password")
    values = dict(LOCAL_VALUES)
    correct = {f"{PROJECT}:corsEntires": f"{PROJECT}:corsEntries", "dreamfactory:emial": "dreamfactory:email"}.get(typo)
    values[typo] = values.pop(correct) if correct else "30"
    with pytest.raises(Exception, match=f"stack 'dev', config {typo}: unknown key") as raised:
        run_program(values)
    assert fixed in str(raised.value)


def test_secrets_named_by_a_host_its_bastion_and_its_health_identity_are_known_keys(monkeypatch):
    values, config = stack_config(ROOT / "stacks" / "Pulumi.prod.yaml")
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", "test-password")
    host = {**config[f"{PROJECT}:hosts"][1]}
    for hop, secret in ((host, "sshKeyDeploy"), (host["proxy"], "sshKeyBastion"), (host["health"], "sshKeyHealth")):
        hop.pop("agentSocket")
        hop["privateKeySecret"] = secret
    values[f"{PROJECT}:hosts"] = json.dumps([host])
    secrets = {f"{PROJECT}:{name}": "-----BEGIN OPENSSH PRIVATE KEY----- k"
               for name in ("sshKeyDeploy", "sshKeyBastion", "sshKeyHealth")}
    assert len(run_program({**values, **secrets}, stack="prod").mocks.registrations) > 1
    with pytest.raises(Exception, match=f"config {PROJECT}:sshKeyBastionn: unknown key"):
        run_program({**values, **secrets, f"{PROJECT}:sshKeyBastionn": "x"}, stack="prod")


def test_a_stack_with_a_dreamfactory_but_no_entry_list_is_refused_and_an_empty_list_is_not(monkeypatch):
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", "test-password")
    values = {key: value for key, value in LOCAL_VALUES.items() if key != f"{PROJECT}:corsEntries"}
    with pytest.raises(Exception, match=rf"config {PROJECT}:corsEntries: missing while dreamfactory:url is set.*"
                                        r"`corsEntries: \[\]`"):
        run_program(values)
    registered = run_program({**values, f"{PROJECT}:corsEntries": "[]"}).mocks.registrations
    assert [r.typ for r in registered] == ["pulumi:providers:pulumi-python"]  # the `second` instance, no entry


def test_protect_and_retain_on_delete_reach_the_entry(monkeypatch):
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", "test-password")
    entries = json.loads(LOCAL_VALUES[f"{PROJECT}:corsEntries"])
    entries[0]["protect"], entries[1]["retainOnDelete"] = True, True
    run = install_mocks(project=PROJECT, stack="dev", outputs=command_outputs)
    pulumi.runtime.set_all_config({**LOCAL_VALUES, f"{PROJECT}:corsEntries": json.dumps(entries)}, [])

    @pulumi.runtime.test
    def program():
        namespace = runpy.run_path(str(ROOT / "__main__.py"))
        return pulumi.Output.all(*[entry.entry_id for entry in namespace["cors_entries"].values()])

    program()
    sent = {r.name: (r.protect, r.retain_on_delete) for r in run.mocks.registrations
            if r.typ == "pulumi-python:dynamic/dreamfactory:CorsEntry"}
    assert sent == {**{entry["name"]: (False, False) for entry in entries},
                    entries[0]["name"]: (True, False), entries[1]["name"]: (False, True)}
