"""The scripts CertbotHost registers, run for real on throwaway lab hosts, twice.

The first run must configure the host and obtain a real certificate from pebble over HTTP-01; the
second must change nothing, install nothing and request no certificate.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pulumi
import pytest
from pulumi_command import remote

from tests.lab.hostlab import ACME_DIRECTORY, DISTROS, PEBBLE_CA, SSH_USER, Distro, HostLab
from tests.support.mocks import install_mocks

DOMAINS = ("df.example.com", "www.df.example.com")
STEPS = ("firewall", "snapd", "certbot", "certificate", "renewal")
SITES = Path(__file__).with_name("sites")
# DreamFactory's installer sites: nginx `default_server` and Apache `<VirtualHost *:80>`, both without a name.
NGINX_SITE = (SITES / "dreamfactory-nginx.conf").read_text()
APACHE_SITE = (SITES / "dreamfactory-apache.conf").read_text()
NGINX_TLS_SITE = (SITES / "dreamfactory-nginx-tls.conf").read_text()


@dataclass(frozen=True)
class Scenario:
    distro: str
    web_server: str
    install_certificate: bool = True
    serve: Optional[str] = None  # the web server running on port 80 during the run
    user: str = "root"
    operator_adds_tls: bool = False  # after the first run, serve the certificate as an operator would (certonly)

    @property
    def id(self) -> str:
        mode = "installed" if self.install_certificate and self.web_server in ("nginx", "apache") else "certonly"
        return f"{self.distro}-{self.web_server}-{mode}-{self.user}"


SCENARIOS = [
    Scenario("ubuntu-22.04", "nginx", serve="nginx"),
    Scenario("ubuntu-24.04", "apache", serve="apache"),
    Scenario("debian-12", "nginx", install_certificate=False, serve="nginx"),
    Scenario("rhel-9", "nginx", serve="nginx"),
    Scenario("centos-stream-9", "webroot", serve="nginx"),
    Scenario("rocky-9", "nginx", install_certificate=False, serve="nginx"),
    Scenario("almalinux-8", "standalone"),
    Scenario("fedora-40", "nginx", serve="nginx"),
    # Over real SSH as a sudo user; then the operator serves the certificate, which the re-run verifies.
    Scenario("debian-12", "webroot", serve="nginx", user=SSH_USER, operator_adds_tls=True),
]


def host_scripts(user: str = "root", host: str = "127.0.0.1", port: int = 22, name: str = "lab",
                 **arguments) -> dict[str, str]:
    """The ``create`` of each child exactly as CertbotHost registers it (captured under Pulumi mocks); the lab's
    pebble is the CA unless ``arguments`` say otherwise."""
    run = install_mocks(stack="lab")
    from components.certbot import CertbotHost

    arguments = {"domains": list(DOMAINS), "email": "ops@example.com", "agree_tos": True, "acme_server": ACME_DIRECTORY,
                 "acme_ca_bundle": PEBBLE_CA, **arguments}

    @pulumi.runtime.test
    def declare():
        component = CertbotHost(
            name, connection=remote.ConnectionArgs(host=host, port=port, user=user, private_key="unused"), **arguments)
        return component.renewal_timer

    declare()
    return {r.name[len(name) + 1:]: r.inputs["create"] for r in run.mocks.registrations
            if r.typ == "command:remote:Command"}


def registered_scripts(scenario: Scenario) -> dict[str, str]:
    return host_scripts(user=scenario.user, os_family="auto", web_server=scenario.web_server,
                        install_certificate=scenario.install_certificate)


def run_steps(lab: HostLab, scripts: dict[str, str], user: str) -> dict[str, str]:
    outputs = {}
    for step in scripts:
        result = lab.sh(scripts[step], check=False) if user == "root" else lab.ssh(scripts[step])
        assert result.returncode == 0, f"{step} failed:\n{result.stdout}\n{result.stderr}"
        outputs[step] = result.stdout
    return outputs


def prepare(lab: HostLab, scenario: Scenario) -> None:
    """Start what the scenario's host runs before CertbotHost arrives."""
    if scenario.serve == "nginx":
        lab.start_nginx(NGINX_SITE)
    elif scenario.serve == "apache":
        lab.start_apache(APACHE_SITE)
    if scenario.user != "root":
        lab.start_sshd()


def values(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line and not line.startswith(" "))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_lab_host_gets_a_real_certificate_and_a_rerun_changes_nothing(scenario: Scenario):
    scripts = registered_scripts(scenario)
    distro = DISTROS[scenario.distro]
    with HostLab(distro, DOMAINS) as lab:
        prepare(lab, scenario)

        started = time.monotonic()
        first = run_steps(lab, scripts, scenario.user)
        first_seconds = time.monotonic() - started
        for step in STEPS:
            assert f"{step}: done (changed=1)" in first[step] or step == "renewal", first[step]

        cert = lab.sh("openssl x509 -in /etc/letsencrypt/live/df.example.com/cert.pem -noout -text").stdout
        assert "DNS:df.example.com" in cert and "DNS:www.df.example.com" in cert
        assert "Pebble" in cert  # issued by the ACME test CA, over real HTTP-01
        certificate = values(first["certificate"])
        assert certificate["expires_at"].endswith("Z")
        assert values(first["renewal"])["renewal_timer"] == "snap.certbot.renew.timer"
        served_by_installer = scenario.install_certificate and scenario.web_server in ("nginx", "apache")
        assert certificate["https_verified"] == ("true" if served_by_installer else "false")
        assert "verified renewal with certbot renew --dry-run" in first["renewal"]
        renewal_conf = lab.sh("cat /etc/letsencrypt/renewal/df.example.com.conf").stdout
        assert f"authenticator = {scenario.web_server}" in renewal_conf
        # The reload after a renewal is per lineage (never a global hook): the installer's own, or webroot's hook.
        assert bool(re.search(r"^renew_hook = .*reload", renewal_conf, re.M)) == (scenario.web_server == "webroot")
        assert not lab.file("/etc/letsencrypt/renewal-hooks/deploy/dreamfactory-infra-reload").exists()

        if distro.debian_family:
            status = lab.sh("ufw status").stdout
            assert "Status: active" in status
            assert all(f"{port}/tcp" in status for port in (22, 80, 443))
            assert lab.sh("dpkg-query -W -f='${Status}' certbot", check=False).stdout.find("ok installed") < 0
        else:
            assert lab.file("/var/lib/lab-shims/firewalld/runtime/public/service/https").exists()
            assert lab.file("/var/lib/lab-shims/firewalld/permanent/public/service/https").exists()
            assert lab.file("/var/lib/lab-shims/rpms/snapd").exists()
            assert lab.sh("readlink /snap").stdout.strip() == "/var/lib/snapd/snap"
            assert not lab.file("/var/lib/lab-shims/rpms/certbot").exists()
        assert lab.sh("readlink /usr/bin/certbot").stdout.strip() == "/snap/bin/certbot"

        if scenario.web_server == "apache":
            site = lab.sh("cat /etc/apache2/sites-enabled/000-default.conf").stdout
            assert "ServerName df.example.com" in site and "ServerAlias www.df.example.com" in site
            assert "set ServerName df.example.com, ServerAlias www.df.example.com" in first["certificate"]
        else:
            assert "set ServerName" not in first["certificate"]  # nginx's installer site works unchanged
        if scenario.operator_adds_tls:
            lab.add_nginx_site("dreamfactory-tls", NGINX_TLS_SITE)

        calls_before = len(lab.shim_calls())
        archive_before = lab.sh("ls /etc/letsencrypt/archive/df.example.com").stdout
        started = time.monotonic()
        second = run_steps(lab, scripts, scenario.user)
        second_seconds = time.monotonic() - started
        for step in STEPS:
            assert f"{step}: done (changed=0)" in second[step], second[step]
        assert "nothing to order" in second["certificate"]
        https_now = served_by_installer or scenario.operator_adds_tls
        assert values(second["certificate"])["https_verified"] == ("true" if https_now else "false")
        assert "already verified" in second["renewal"]
        assert values(second["certificate"])["serial"] == certificate["serial"]
        assert lab.sh("ls /etc/letsencrypt/archive/df.example.com").stdout == archive_before
        second_calls = lab.shim_calls()[calls_before:]
        assert not [call for call in second_calls if any(word in call for word in (" install", " remove", " enable", " upgrade"))]
    print(f"\nlab {scenario.id}: first run {first_seconds:.1f}s, second run {second_seconds:.1f}s")


def test_apache_with_two_unnamed_vhosts_is_refused_before_any_request():
    scenario = Scenario("ubuntu-24.04", "apache", serve="apache")
    scripts = registered_scripts(scenario)
    with HostLab(DISTROS[scenario.distro], DOMAINS) as lab:
        lab.start_apache(APACHE_SITE)
        lab.add_apache_site("second-app", APACHE_SITE.replace("/opt/dreamfactory/public", "/var/www/html"))
        for step in STEPS[:3]:
            assert lab.sh(scripts[step], check=False).returncode == 0
        result = lab.sh(scripts["certificate"], check=False)
        assert result.returncode == 1
        assert "2 port-80 vhosts have no ServerName; add 'ServerName df.example.com'" in result.stderr
        assert not lab.file("/etc/letsencrypt/live").exists()  # no certificate was requested
        assert lab.sh("cat /etc/apache2/sites-enabled/000-default.conf").stdout == APACHE_SITE  # nothing edited


@pytest.mark.parametrize(
    "distro, message",
    [
        (Distro("arch", "arch", "rolling", "archlinux"), "unsupported system ID=arch (ID_LIKE=archlinux)"),
        (Distro("ubuntu-18.04", "ubuntu", "18.04", "debian"), "ubuntu 18.04 is older than the oldest supported"),
    ],
    ids=lambda value: value.key if isinstance(value, Distro) else "",
)
def test_auto_detection_refuses_unsupported_systems_before_changing_anything(distro, message):
    scripts = registered_scripts(Scenario("ubuntu-22.04", "nginx"))
    with HostLab(distro, DOMAINS) as lab:
        result = lab.sh(scripts["firewall"], check=False)
        assert result.returncode == 1 and message in result.stderr
        assert "Status: inactive" in lab.sh("ufw status").stdout
