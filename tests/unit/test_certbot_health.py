"""The health judgement (pure) and the provider's decisions that need no host: when a preview shows a change."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from components.certbot.health import Expectations, assess, days_until
from components.certbot.health_provider import HostHealthProvider
from components.certbot.scripts import render_script
from components.certbot.spec import CertbotConfigError, build_spec

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
EXPECT = Expectations(("df.example.com", "www.df.example.com"), serve_https=True, firewall=True, renew_before_days=30)
HEALTHY = """health: host is debian 12
snapd=present
certbot_snap=5.8.0
cert_name=df.example.com
serial=0A1B
names=df.example.com,www.df.example.com
expires_at=2027-02-20T10:00:00Z
issuer=CN=Pebble Intermediate CA
served=df.example.com:0A1B:0 www.df.example.com:0A1B:0
renewal_conf=present
renewal_paths_wrong=
account=5f3a9c
account_present=true
renewal_installer=nginx
renewal_deploy_hook=
timer_enabled=true
timer_active=true
last_renewal=success
last_renewal_at=Sun 2026-11-29 03:12:40 UTC
firewall=ufw
firewall_active=true
firewall_missing=
health: done (changed=0)
"""


def probe(**changes: str) -> str:
    lines = dict(line.split("=", 1) for line in HEALTHY.splitlines() if "=" in line and ":" not in line.split("=")[0])
    lines.update(changes)
    return "\n".join(f"{key}={value}" for key, value in lines.items() if value is not None)


def test_a_healthy_host_has_no_problems_and_reports_its_facts():
    health = assess(HEALTHY, EXPECT, NOW)
    assert health.problems == ()
    assert health.days_left == 81 and health.expires_at == "2027-02-20T10:00:00Z"
    assert health.https_verified and health.renewal_timer_active and health.certbot_version == "5.8.0"
    assert health.names == ("df.example.com", "www.df.example.com") and health.issuer == "CN=Pebble Intermediate CA"
    assert (health.last_renewal_result, health.last_renewal_at) == ("success", "Sun 2026-11-29 03:12:40 UTC")


@pytest.mark.parametrize("changes, step, reason", [
    ({"expires_at": "2026-12-09T12:00:00Z"}, "renewal", "expires in 9 days (renew_before_days=30)"),
    ({"expires_at": "2026-11-28T12:00:00Z"}, "renewal", "expired 2 days ago"),
    ({"timer_enabled": "false", "timer_active": "false"}, "renewal", "snap.certbot.renew.timer is disabled"),
    ({"timer_active": "false"}, "renewal", "snap.certbot.renew.timer is inactive"),
    ({"served": "df.example.com:0A1B:0 www.df.example.com:0C0C:0"}, "certificate",
     "HTTPS serves serial 0C0C for www.df.example.com, live is 0A1B"),
    ({"served": "df.example.com:0A1B:0 www.df.example.com:0C0C:18"}, "certificate",
     "HTTPS serves serial 0C0C for www.df.example.com, live is 0A1B; that chain does not verify: it is self-signed"),
    ({"served": "df.example.com:-:- www.df.example.com:0A1B:0"}, "certificate",
     "HTTPS serves serial none for df.example.com"),
    # The live certificate, served in a chain no client accepts: each of openssl verify's reasons in words.
    ({"served": "df.example.com:0A1B:20 www.df.example.com:0A1B:0"}, "certificate",
     "the live certificate for df.example.com in a chain that does not verify: its issuer is not trusted"),
    ({"served": "df.example.com:0A1B:0 www.df.example.com:0A1B:62"}, "certificate",
     "for www.df.example.com in a chain that does not verify: it is not valid for this name (name mismatch)"),
    ({"served": "df.example.com:0A1B:10 www.df.example.com:0A1B:0"}, "certificate",
     "a certificate in the chain has expired"),
    ({"served": "df.example.com:0A1B:19 www.df.example.com:0A1B:0"}, "certificate",
     "its chain ends in a root no client trusts"),
    ({"served": "df.example.com:0A1B:79 www.df.example.com:0A1B:0"}, "certificate",
     "openssl verify fails with error 79"),
    # certbot no longer manages the lineage, or a renewed certificate would not be served.
    ({"renewal_conf": "missing"}, "certificate",
     "no readable renewal configuration for df.example.com (/etc/letsencrypt/renewal/df.example.com.conf is "
     "missing), so nothing will renew it"),
    ({"renewal_conf": "unreadable"}, "certificate", "df.example.com.conf is unreadable"),
    ({"renewal_paths_wrong": "cert,fullchain"}, "certificate", "does not name the live certificate's files "
                                                                "(cert,fullchain)"),
    ({"account_present": "false"}, "certificate", "the ACME account 5f3a9c that "
                                                  "/etc/letsencrypt/renewal/df.example.com.conf renews with is missing"),
    ({"renewal_installer": "None"}, "certificate", "does not reload nginx (its installer is None)"),
    ({"last_renewal": "exit-code"}, "renewal", "the last run of snap.certbot.renew.service (Sun 2026-11-29 03:12:40 UTC)"
                                               " ended with 'exit-code', and the next would fail the same way"),
    ({"certbot_snap": ""}, "certbot", "the certbot snap is not installed"),
    ({"snapd": "missing"}, "snapd", "snapd is not installed"),
    ({"serial": "", "names": "", "expires_at": ""}, "certificate", "there is no live certificate df.example.com"),
    ({"names": "df.example.com"}, "certificate", "covers df.example.com; domains are df.example.com, www.df.example.com"),
    ({"firewall_missing": "port 443/tcp"}, "firewall", "port 443/tcp not allowed by ufw"),
    ({"firewall": "firewalld", "firewall_missing": "service https (permanent configuration)"}, "firewall",
     "service https (permanent configuration) not allowed by firewalld"),
    ({"firewall_active": "false"}, "firewall", "ufw is not active"),
])
def test_each_drift_is_a_problem_in_words_with_the_step_that_repairs_it(changes, step, reason):
    health = assess(probe(**changes), EXPECT, NOW)
    assert [problem.step for problem in health.problems] == [step]
    assert reason in str(health.problems[0]) and f"(up re-runs the {step} step)" in str(health.problems[0])
    assert health.repair_steps == (step,)


def test_a_failing_reload_test_is_for_a_person_to_fix_and_names_the_error():
    health = assess(probe(reload_nginx="nginx: [emerg] unknown directive \"sll\" in /etc/nginx/sites-enabled/x:3"),
                    EXPECT, NOW)
    [problem] = health.problems
    assert problem.step is None and health.repair_steps == () and health.problems == (problem,)
    assert str(problem) == ("`nginx -t` fails, so the reload after a renewal would fail and the renewed certificate "
                            "would not be served: nginx: [emerg] unknown directive \"sll\" in /etc/nginx/sites-enabled/x:3"
                            " (fix by hand: correct the nginx configuration until `nginx -t` passes)")


def test_webroot_renewal_needs_its_deploy_hook_and_no_installer():
    webroot = Expectations(EXPECT.domains, serve_https=True, firewall=True, renew_before_days=30, web_server="webroot")
    assert assess(probe(renewal_installer="None", renewal_deploy_hook="sh -c 'reload'"), webroot, NOW).problems == ()
    [problem] = assess(probe(renewal_installer="None"), webroot, NOW).problems
    assert "has no deploy hook, so no web server reloads a renewed certificate" in str(problem)


def test_staging_certificates_are_untrusted_by_design_so_not_a_problem_yet_not_verified():
    staging = Expectations(EXPECT.domains, serve_https=True, firewall=True, renew_before_days=30,
                           trust_required=False)
    health = assess(probe(served="df.example.com:0A1B:20 www.df.example.com:0A1B:20"), staging, NOW)
    assert health.problems == () and health.https_verified is False


def test_certonly_and_no_firewall_do_not_judge_what_they_do_not_manage():
    relaxed = Expectations(EXPECT.domains, serve_https=False, firewall=False, renew_before_days=30)
    health = assess(probe(served="df.example.com:-:- www.df.example.com:-:-", firewall_active="false"), relaxed,
                    NOW)
    assert health.problems == () and health.https_verified is False


def test_repairs_run_in_the_components_order_once_per_step():
    health = assess(probe(certbot_snap="", timer_enabled="false", firewall_missing="port 80/tcp,port 443/tcp"),
                    EXPECT, NOW)
    assert health.repair_steps == ("firewall", "certbot", "renewal")
    assert len(health.problems) == 4


def test_days_until_counts_whole_days():
    assert days_until("2026-12-01T11:59:59Z", NOW) == 0
    assert days_until("2026-12-01T12:00:00Z", NOW) == 1


def test_renew_before_days_is_validated_and_reaches_the_renewal_script():
    spec = build_spec(domains=["df.example.com"], email="ops@example.com", agree_tos=True, renew_before_days=21.0)
    assert spec.renew_before_days == 21
    assert "RENEW_BEFORE_DAYS=21" in render_script("renewal", spec)
    for bad in (0, 90, 2.5, True, "30"):
        with pytest.raises(CertbotConfigError, match="'renew_before_days'"):
            build_spec(domains=["df.example.com"], email="ops@example.com", agree_tos=True, renew_before_days=bad)


STORED = {"host": "203.0.113.10", "port": 22, "user": "root", "domains": ["df.example.com"], "serve_https": True,
          "firewall": True, "renew_before_days": 30, "probe": "probe v1", "repairs": {"firewall": "fw v1"},
          "owner": "df-1", "serial": "0A1B", "expires_at": "2027-02-20T10:00:00Z", "names": ["df.example.com"],
          "renewal_timer_enabled": True, "renewal_timer_active": True, "https_verified": True, "problems": [],
          "cert_name": "df.example.com", "days_left": 81, "certbot_version": "5.8.0"}


@pytest.mark.parametrize("news, changes", [
    ({}, False),  # the same host, read again
    ({"days_left": 80, "certbot_version": "5.9.0"}, False),  # a day later, the snap refreshed: nothing to do
    ({"probe": "probe v2", "repairs": {"firewall": "fw v2"}}, False),  # new scripts show on the step commands
    ({"problems": ["renewal timer ... is inactive (up re-runs the renewal step)"], "renewal_timer_active": False}, True),
    ({"serial": "0C0C", "expires_at": "2027-04-20T10:00:00Z"}, False),  # renewed by the timer: quiet
    ({"renew_before_days": 45}, True),
    ({"web_server": "apache", "trust_required": False}, False),  # shown by the certificate step's command
])
def test_diff_changes_only_for_problems_moved_facts_or_new_inputs(news, changes):
    result = HostHealthProvider().diff("df-1", STORED, {**STORED, **news})
    assert result.changes is changes and result.replaces == []


def test_check_reads_nothing_for_a_new_host():
    inputs = {key: value for key, value in STORED.items() if key not in ("serial", "problems", "expires_at")}
    checked = HostHealthProvider().check({}, inputs)  # an SSH attempt would fail: 203.0.113.10 is TEST-NET-3
    assert checked.inputs == {key: value for key, value in inputs.items()
                              if key not in ("names", "renewal_timer_enabled", "renewal_timer_active",
                                             "https_verified", "cert_name", "days_left", "certbot_version")}


def test_an_unreachable_host_fails_the_check_with_host_port_and_the_error():
    provider = HostHealthProvider()
    stored = {**STORED, "host": "127.0.0.1", "port": 1, "private_key": None}
    with pytest.raises(Exception, match=r"cannot connect to root@127\.0\.0\.1:1: .*[Cc]onnection refused"):
        provider.check(stored, stored)


def test_a_bad_pinned_host_key_is_named_before_connecting():
    from components.certbot.ssh import SshError, SshSession, SshTarget

    with pytest.raises(SshError, match="connection.host_key 'ssh-ed25519 not-base64!' is not a public key"):
        SshSession(SshTarget("127.0.0.1", 1, host_key="ssh-ed25519 not-base64!")).__enter__()


def test_reads_started_ahead_overlap_and_each_is_taken_once_by_its_health_check(monkeypatch):
    from components.certbot import health_provider
    from components.certbot.health_provider import HostReadAheadProvider
    from components.certbot.ssh import CommandResult

    hosts = 20
    # Every read waits until all 20 are in flight at once: reads made one after another would break the barrier.
    all_in_flight = threading.Barrier(hosts, timeout=10)
    reads = []

    def read(props, target):
        reads.append(target.host)
        all_in_flight.wait()
        return CommandResult(0, HEALTHY, "")

    monkeypatch.setattr(health_provider, "_read", read)
    stored = [{**STORED, "host": f"198.51.100.{n}", "domains": list(EXPECT.domains), "enabled": True}
              for n in range(hosts)]
    for props in stored:  # as the engine calls them: one Check after another
        HostReadAheadProvider().check(props, props)
    checked = [HostHealthProvider().check(props, props).inputs for props in stored]
    assert [inputs["problems"] for inputs in checked] == [[]] * hosts
    assert sorted(reads) == sorted(props["host"] for props in stored)  # one read per host, none repeated
    assert health_provider.READS_AHEAD.take(stored[0], health_provider._read_target(stored[0])) is None


def test_no_read_ahead_for_a_new_host_or_outside_a_preview(monkeypatch):
    from components.certbot import health_provider
    from components.certbot.health_provider import HostReadAheadProvider

    monkeypatch.setattr(health_provider, "_read", lambda props, target: pytest.fail("no read expected"))
    HostReadAheadProvider().check({}, {**STORED, "enabled": True})
    HostReadAheadProvider().check(STORED, {**STORED, "enabled": False})
    assert health_provider.READS_AHEAD.take(STORED, health_provider._read_target(STORED)) is None


def test_reads_use_the_health_identity_only_once_the_host_has_it():
    from components.certbot.health_provider import _read_target

    health = {"host": "203.0.113.10", "user": "dreamfactory-health", "agent_socket_path": "/run/agent.sock"}
    stored = {**STORED, "health_connection": health, "health_public_key": "ssh-ed25519 AAAAone"}
    assert _read_target(stored, stored).user == "dreamfactory-health"  # installed by the last up
    assert _read_target(stored).role == "health_connection"  # refresh: what the state says is installed
    for before in ({**stored, "health_public_key": None}, {**stored, "health_public_key": "ssh-ed25519 AAAAold"}):
        target = _read_target(stored, before)  # this run installs or changes it: the deploy connection reads
        assert (target.role, target.user) == ("connection", STORED["user"])
    assert _read_target({**stored, "health_connection": None}, stored).role == "connection"
