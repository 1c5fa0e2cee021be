"""CertbotHost through the real engine: the plain `pulumi` command, the project-built language host and the real
command provider (pulumi-resource-command) over real SSH to a lab host. The engine runs on this machine's files
but inside the lab host's network namespace (nsenter --net), so it reaches the host's sshd on loopback.

Remote commands are counted on the host (a ForceCommand wrapper logs the script each SSH session ran), not from
the engine's words. The health probe is read-only and runs at every preview and up; steps run only when needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.lab.hostlab import ACME_DIRECTORY, DISTROS, PEBBLE_CA, SSH_USER, HostLab
from tests.lab.test_host_lab import DOMAINS, NGINX_SITE
from tests.support.cli import PulumiCli, copy_project, requires_binaries

pytestmark = requires_binaries
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
RENEWAL_CONF = "/etc/letsencrypt/renewal/df.example.com.conf"
RENEWAL_SERVICE = "snap.certbot.renew.service"
# A private CA no client trusts (root and intermediate), and a certificate it issued for the host's names.
UNTRUSTED_CA_CHAIN = (
    "cd /etc/ssl && openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=rogue-root -keyout rogue-root.key "
    "-out rogue-root.pem 2>/dev/null && "
    "openssl req -newkey rsa:2048 -nodes -subj /CN=rogue-intermediate -keyout rogue-int.key -out rogue-int.csr "
    "2>/dev/null && printf 'basicConstraints=critical,CA:true\\n' > ca.ext && "
    "openssl x509 -req -in rogue-int.csr -CA rogue-root.pem -CAkey rogue-root.key -CAcreateserial -days 30 "
    "-extfile ca.ext -out rogue-int.pem 2>/dev/null && "
    "openssl req -newkey rsa:2048 -nodes -subj /CN=df.example.com -keyout other.key -out other.csr 2>/dev/null && "
    "printf 'subjectAltName=DNS:df.example.com,DNS:www.df.example.com\\n' > leaf.ext && "
    "openssl x509 -req -in other.csr -CA rogue-int.pem -CAkey rogue-int.key -CAcreateserial -days 30 "
    "-extfile leaf.ext -out other-leaf.pem 2>/dev/null && cat other-leaf.pem rogue-int.pem rogue-root.pem > other.pem"
)
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
    # Two chains no client accepts: the live certificate without its intermediate, and another CA's certificate.
    ("nginx serving the live certificate without its intermediate",
     f"sed -i 's#{LIVE}/fullchain.pem#{LIVE}/cert.pem#' /etc/nginx/sites-enabled/default && nginx -s reload && sleep 1",
     ["HTTPS serves the live certificate for df.example.com in a chain that does not verify: its issuer is not "
      "trusted", "for www.df.example.com in a chain that does not verify"], ["certificate"]),
    ("nginx serving a certificate from a CA no client trusts",
     f"{UNTRUSTED_CA_CHAIN} && "
     f"sed -i 's#{LIVE}/fullchain.pem#/etc/ssl/other.pem#; s#{LIVE}/privkey.pem#/etc/ssl/other.key#' "
     "/etc/nginx/sites-enabled/default && nginx -s reload && sleep 1",
     ["HTTPS serves serial", "for df.example.com, live is", "that chain does not verify: its chain ends in a root "
      "no client trusts"], ["certificate"]),
    # certbot no longer manages the lineage, though the certificate still serves.
    ("renewal configuration lost (a migration that copied live/ and archive/ only)", f"rm {RENEWAL_CONF}",
     [f"certbot has no readable renewal configuration for df.example.com ({RENEWAL_CONF} is missing), so nothing "
      "will renew it"], ["certificate"]),
    ("ACME account removed", "rm -r /etc/letsencrypt/accounts",
     [f"that {RENEWAL_CONF} renews with is missing from /etc/letsencrypt/accounts"], ["certificate"]),
    ("renewal no longer reloads nginx", f"sed -i 's/^installer = nginx/installer = None/' {RENEWAL_CONF}",
     ["renewal of df.example.com does not reload nginx (its installer is None)"], ["certificate"]),
    # The timer's last run failed (a stray broken renewal file, since cleaned up): it is run again, as the timer would.
    ("last renewal run failed",
     "printf 'garbage\\n' > /etc/letsencrypt/renewal/stray.conf && "
     f"{{ systemctl start {RENEWAL_SERVICE} || true; }} && rm /etc/letsencrypt/renewal/stray.conf",
     [f"the last run of {RENEWAL_SERVICE} (", "ended with 'exit-code'"], ["renewal"]),
    ("certbot snap removed", "snap remove certbot",
     ["the certbot snap is not installed", "renewal timer snap.certbot.renew.timer is disabled"],
     ["certbot", "renewal"]),
    ("owned firewall rule deleted", "ufw delete allow 443/tcp", ["port 443/tcp not allowed by ufw"], ["firewall"]),
]


def assert_healthy_on_the_host(lab: HostLab, what: str) -> None:
    """Judged with other tools than the probe: openssl's own verification of what is served, certbot's view of its
    lineages, a renewal dry run as the timer would do it, systemd's word on the timer and its last run, ufw."""
    for name in DOMAINS:
        assert lab.served_chain_verifies(name), f"{what}: the chain served for {name} does not verify"
    serial = lab.sh(f"openssl x509 -in {LIVE}/cert.pem -noout -serial | cut -d= -f2").stdout.strip()
    assert lab.served_serial() == serial, what
    assert lab.sh(f"openssl x509 -in {LIVE}/cert.pem -noout -checkend {30 * 86400}", check=False).returncode == 0
    assert "Certificate Name: df.example.com" in lab.sh("certbot certificates").stdout, what
    assert lab.sh(f"REQUESTS_CA_BUNDLE={PEBBLE_CA} certbot renew --dry-run --no-random-sleep-on-renew "
                  f"--server={ACME_DIRECTORY} --cert-name df.example.com", check=False).returncode == 0, what
    assert lab.sh(f"systemctl show -p Result --value {RENEWAL_SERVICE}").stdout.strip() == "success", what
    assert lab.sh("systemctl is-active snap.certbot.renew.timer", check=False).returncode == 0, what
    assert "443/tcp" in lab.sh("ufw status").stdout and lab.file("/snap/bin/certbot").exists(), what


def test_host_health_shows_drift_in_the_preview_and_up_repairs_exactly_it(tmp_path: Path):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        cli, _host, private_key = lab_stack(lab, tmp_path)
        cli("up", "--yes")
        # The renewal service's last Result, as systemd reports it (the lab's systemctl answers property by property).
        health = next(r for r in json.loads(cli("stack", "export").stdout)["deployment"]["resources"]
                      if r["urn"].endswith("::df-lab-health"))
        assert health["outputs"]["last_renewal_result"] == "success"

        # Healthy: the preview shows no change and `up` runs no step (only the read-only probe).
        assert_healthy_on_the_host(lab, "after the first up")
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
            assert_healthy_on_the_host(lab, what)
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


def test_what_no_step_can_repair_fails_up_saying_what_to_do_and_a_timer_renewal_stays_quiet(tmp_path: Path):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        cli, _host, _key = lab_stack(lab, tmp_path)
        cli("up", "--yes")

        # A renewal by the timer (the lineage made due for one run): certbot renews and its installer reloads nginx.
        # Not a change in the preview (ARCHITECTURE.md, "Quiet renewals"); `up --refresh` brings the outputs up to date.
        old_serial = lab.served_serial()
        lab.sh(f"sed -i '1i renew_before_expiry = 3650 days' {RENEWAL_CONF} && systemctl start {RENEWAL_SERVICE} && "
               f"sed -i '/^renew_before_expiry = 3650 days$/d' {RENEWAL_CONF}")
        assert lab.served_serial() not in ("", old_serial) and lab.served_chain_verifies()
        expires = lab.sh(f"date -u -d \"$(openssl x509 -in {LIVE}/cert.pem -noout -enddate | cut -d= -f2)\" "
                         "+%Y-%m-%dT%H:%M:%SZ").stdout.strip()
        before = len(lab.remote_commands())
        assert "9 unchanged" in cli("preview", "--diff").stdout
        refreshed = cli("up", "--refresh", "--yes")
        assert "9 unchanged" in refreshed.stdout and steps_run(lab, before) == []
        outputs = json.loads(cli("stack", "output", "--json").stdout)["hosts"]["df-lab"]
        assert outputs["expiresAt"] == expires and outputs["problems"] == []

        # The timer's run fails and will keep failing (a broken renewal file certbot cannot parse): `up` runs it again
        # as the timer would, and fails with certbot's words and what to do by hand.
        lab.sh(f"printf 'garbage\\n' > /etc/letsencrypt/renewal/stray.conf && {{ systemctl start {RENEWAL_SERVICE} || true; }}")
        preview = cli("preview", "--diff")
        assert f"the last run of {RENEWAL_SERVICE}" in preview.stdout + preview.stderr
        failed = cli("up", "--yes", check=False)
        said = failed.stdout + failed.stderr
        assert failed.returncode != 0
        assert "1 parse failure(s)" in said and "renewal by the timer is broken: fix by hand" in said
        lab.sh("rm /etc/letsencrypt/renewal/stray.conf")  # the operator's fix
        cli("up", "--yes")
        assert lab.sh(f"systemctl show -p Result --value {RENEWAL_SERVICE}").stdout.strip() == "success"
        assert "9 unchanged" in cli("preview", "--diff").stdout

        # A web server configuration that fails its test: the reload after a renewal would fail. No step may edit the
        # operator's configuration, so `up` changes nothing and says what to fix.
        lab.sh("printf 'sll_protocols TLSv1.3;\\n' > /etc/nginx/conf.d/typo.conf")
        preview = cli("preview", "--diff")
        assert '`nginx -t` fails, so the reload after a renewal would fail' in preview.stdout + preview.stderr
        assert 'unknown directive "sll_protocols"' in preview.stdout + preview.stderr
        before = len(lab.remote_commands())
        failed = cli("up", "--yes", check=False)
        assert failed.returncode != 0 and steps_run(lab, before) == []
        assert "fix by hand: correct the nginx configuration until `nginx -t` passes" in failed.stdout + failed.stderr
        lab.sh("rm /etc/nginx/conf.d/typo.conf")
        assert "9 unchanged" in cli("preview", "--diff").stdout
        assert_healthy_on_the_host(lab, "after the hand fixes")
