"""CertbotHost through the real engine: the plain `pulumi` command, the project-built language host and the real
command provider (pulumi-resource-command) over real SSH to a lab host. The engine runs on this machine's files
but inside the lab host's network namespace (nsenter --net), so it reaches the host's sshd on loopback.

Remote commands are counted on the host (a ForceCommand wrapper logs the script each SSH session ran), not from
the engine's words. The health probe is read-only and runs at every preview and up; steps run only when needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.lab.hostlab import ACME_DIRECTORY, DISTROS, PEBBLE_CA, SSH_USER, HostLab
from tests.lab.test_host_lab import DOMAINS, NGINX_SITE
from tests.support.cli import PulumiCli, copy_project, missing_binaries

pytestmark = pytest.mark.skipif(bool(missing_binaries()),
                                reason=f"missing {', '.join(missing_binaries())}: run tools/pulumi-cli/build (.ci/run does)")
STACK_FILE = "Pulumi.lab.yaml"


def write_hosts(cli: PulumiCli, **host) -> None:
    path = cli.project / "stacks" / STACK_FILE
    document = yaml.safe_load(path.read_text()) if path.exists() else {}
    document.setdefault("config", {})["dreamfactory-infra:hosts"] = [host]
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def lab_stack(lab: HostLab, tmp_path: Path) -> tuple[PulumiCli, dict, str]:
    """The project with one host, the lab, in stack `lab`; its SSH key set as a secret. Returns cli, host, key."""
    lab.start_nginx(NGINX_SITE)
    lab.start_sshd()
    private_key = lab.file("/root/.ssh/lab_key").read_text()
    host_key = " ".join(lab.file("/etc/lab-ssh/host_key.pub").read_text().split()[:2])
    host = {"name": "df-lab", "host": "127.0.0.1", "user": SSH_USER, "privateKeySecret": "sshKeyLab",
            "hostKey": host_key, "domains": list(DOMAINS), "email": "ops@example.com", "agreeTos": True,
            "webServer": "nginx", "acmeServer": ACME_DIRECTORY, "acmeCaBundle": PEBBLE_CA}
    cli = PulumiCli(copy_project(tmp_path / "project", stack_files=()), tmp_path, stack="lab", prefix=lab.netns())
    write_hosts(cli, **host)
    cli.init()
    cli.set_secret("sshKeyLab", private_key)
    return cli, host, private_key


def steps_run(lab: HostLab, since: int = 0) -> list[str]:
    """The step scripts SSH sessions ran after the first ``since`` sessions (health probes left out)."""
    return [command for command in lab.remote_commands()[since:] if command != "health"]


def test_certbot_host_through_the_engine_and_the_command_provider(tmp_path: Path):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        cli, host, private_key = lab_stack(lab, tmp_path)

        # Run 1: every step runs once, over SSH, and the host serves a real certificate from pebble; then the
        # health check reads the host once (a new host is not read at preview).
        cli("up", "--yes")
        assert lab.remote_commands() == ["firewall", "snapd", "certbot", "certificate", "renewal", "health"]
        assert lab.served_serial() != ""
        outputs = json.loads(cli("stack", "output", "--json").stdout)
        assert outputs["hosts"]["df-lab"]["httpsVerified"] is True
        assert outputs["hosts"]["df-lab"]["expiresAt"].endswith("Z")
        assert outputs["hosts"]["df-lab"]["renewalTimerActive"] is True
        assert outputs["hosts"]["df-lab"]["daysLeft"] > 30

        # Run 2: nothing changed, so no step runs; the health probe reads the host (preview and update phases).
        run1 = len(lab.remote_commands())
        again = cli("up", "--yes")
        assert lab.remote_commands()[run1:] == ["health", "health"]
        assert "9 unchanged" in again.stdout

        # A changed input (one more open port) re-runs the step it affects and no other.
        write_hosts(cli, **host, extraPorts=["8443/tcp"])
        preview = cli("preview", "--diff")
        assert "df-lab-firewall" in preview.stdout
        before = len(lab.remote_commands())
        cli("up", "--yes")
        assert steps_run(lab, before) == ["firewall"]
        assert "8443/tcp" in lab.sh("ufw status").stdout

        # The private key is nowhere in plain text: not in the exported state, the state file or any output.
        exported = cli("stack", "export").stdout
        state_files = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
        key_body = "".join(private_key.strip().splitlines()[1:-1])
        for text in (exported, state_files, "\n".join(cli.log)):
            assert key_body[:40] not in text and "PRIVATE KEY" not in text

        # A host key that does not match the pinned one stops the run before any command: the health check's
        # (paramiko) refuses it at preview, the command provider's would too.
        other_key = lab.sh("ssh-keygen -q -t ed25519 -N '' -f /tmp/other && cat /tmp/other.pub").stdout
        write_hosts(cli, **{**host, "hostKey": " ".join(other_key.split()[:2])}, extraPorts=[])
        before = len(lab.remote_commands())
        refused = cli("up", "--yes", check=False)
        assert refused.returncode != 0
        assert "is not the pinned connection.host_key" in refused.stdout + refused.stderr
        assert lab.remote_commands()[before:] == []
        assert "8443/tcp" in lab.sh("ufw status").stdout  # the firewall step did not run

        # destroy runs nothing on the host and leaves firewall, certbot and certificate in place (README).
        write_hosts(cli, **host, extraPorts=["8443/tcp"])
        serial = lab.served_serial()
        before = len(lab.remote_commands())
        cli("destroy", "--yes")
        assert lab.remote_commands()[before:] == []
        assert lab.served_serial() == serial
        assert "Status: active" in lab.sh("ufw status").stdout
        assert lab.file("/etc/letsencrypt/live/df.example.com/cert.pem").exists()
        print("\nsteps run: run 1 = 5, run 2 = 0, changed extraPorts = 1, wrong host key = 0, destroy = 0")


LIVE = "/etc/letsencrypt/live/df.example.com"
# Out-of-band changes made on the host, what the next preview must say, and the steps `up` must re-run.
DRIFTS = [
    ("renewal timer disabled", "systemctl disable --now snap.certbot.renew.timer",
     ["renewal timer snap.certbot.renew.timer is disabled"], ["renewal"]),
    ("live certificate replaced by one that expires in 5 days",
     # Same key and names, 5 days, written where live/cert.pem and fullchain.pem point (as a hand-made
     # replacement would be); nginx is not reloaded, so it still serves the old one.
     f"openssl req -x509 -key {LIVE}/privkey.pem -days 5 -subj /CN=df.example.com "
     f"-addext subjectAltName=DNS:df.example.com,DNS:www.df.example.com -out $(readlink -f {LIVE}/cert.pem) && "
     f"cp $(readlink -f {LIVE}/cert.pem) $(readlink -f {LIVE}/fullchain.pem)",
     ["expires in 4 days (renew_before_days=30)", "HTTPS serves serial"], ["certificate", "renewal"]),
    ("nginx serving another certificate than the live one",
     "openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=other -keyout /etc/ssl/other.key "
     "-out /etc/ssl/other.pem 2>/dev/null && "
     f"sed -i 's#{LIVE}/fullchain.pem#/etc/ssl/other.pem#; s#{LIVE}/privkey.pem#/etc/ssl/other.key#' "
     "/etc/nginx/sites-enabled/default && nginx -s reload && sleep 1",
     ["HTTPS serves serial", "for df.example.com, live is"], ["certificate"]),
    ("certbot snap removed", "snap remove certbot",
     ["the certbot snap is not installed", "renewal timer snap.certbot.renew.timer is disabled"],
     ["certbot", "renewal"]),
    ("owned firewall rule deleted", "ufw delete allow 443/tcp", ["port 443/tcp not allowed by ufw"], ["firewall"]),
]


def test_host_health_shows_drift_in_the_preview_and_up_repairs_exactly_it(tmp_path: Path):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        cli, _host, private_key = lab_stack(lab, tmp_path)
        cli("up", "--yes")
        # The renewal service's last Result, as systemd reports it (the lab's systemctl answers property by property).
        health = next(r for r in json.loads(cli("stack", "export").stdout)["deployment"]["resources"]
                      if r["urn"].endswith("::df-lab-health"))
        assert health["outputs"]["last_renewal_result"] == "success"

        # Healthy: the preview shows no change and `up` runs no step (only the read-only probe).
        before = len(lab.remote_commands())
        assert "9 unchanged" in cli("preview", "--diff").stdout
        assert "9 unchanged" in cli("up", "--yes").stdout
        assert lab.remote_commands()[before:] == ["health"] * 3

        for what, change, reasons, repairing_steps in DRIFTS:
            lab.sh(change)
            preview = cli("preview", "--diff")
            shown = preview.stdout + preview.stderr
            assert "df-lab-health" in shown and "1 to update" in shown, what
            for reason in reasons:
                assert reason in shown, f"{what}: {reason!r} not in the preview"
            before = len(lab.remote_commands())
            cli("up", "--yes")
            assert steps_run(lab, before) == repairing_steps, what
            # Repaired on the host, read by other means than the probe:
            serial = lab.sh(f"openssl x509 -in {LIVE}/cert.pem -noout -serial | cut -d= -f2").stdout.strip()
            assert lab.served_serial() == serial, what
            assert lab.sh(f"openssl x509 -in {LIVE}/cert.pem -noout -checkend {30 * 86400}", check=False).returncode == 0
            assert lab.sh("systemctl is-active snap.certbot.renew.timer", check=False).returncode == 0, what
            assert "443/tcp" in lab.sh("ufw status").stdout and lab.file("/snap/bin/certbot").exists(), what
            clean = cli("preview", "--diff")
            assert "9 unchanged" in clean.stdout, f"{what}: the preview after the repair is not clean"
            outputs = json.loads(cli("stack", "output", "--json").stdout)["hosts"]["df-lab"]
            assert outputs["httpsVerified"] is True and outputs["renewalTimerActive"] is True
            assert outputs["problems"] == [], what
            assert outputs["daysLeft"] > 30, what
            print(f"\n{what}: preview showed {reasons}; up ran {repairing_steps}; next preview clean")

        # An unreachable host fails the preview with host, port and the SSH error, never a silent "unchanged".
        lab.sh("pkill -x sshd")
        refused = cli("preview", check=False)
        assert refused.returncode != 0
        assert "cannot connect to deploy@127.0.0.1:22" in refused.stdout + refused.stderr

        exported = cli("stack", "export").stdout
        state_files = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
        key_body = "".join(private_key.strip().splitlines()[1:-1])
        for text in (exported, state_files, "\n".join(cli.log)):
            assert key_body[:40] not in text and "PRIVATE KEY" not in text
