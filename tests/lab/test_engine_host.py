"""CertbotHost through the real engine: the plain `pulumi` command, the project-built language host and the real
command provider (pulumi-resource-command) over real SSH to a lab host. The engine runs on this machine's files
but inside the lab host's network namespace (nsenter --net), so it reaches the host's sshd on loopback.

Remote commands are counted on the host (sshd's "Accepted publickey" lines), not from the engine's words.
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


def test_certbot_host_through_the_engine_and_the_command_provider(tmp_path: Path):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
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

        # Run 1: every step runs once, over SSH, and the host serves a real certificate from pebble.
        cli("up", "--yes")
        run1 = lab.ssh_sessions()
        assert run1 == 5
        assert lab.served_serial() != ""
        outputs = json.loads(cli("stack", "output", "--json").stdout)
        assert outputs["hosts"]["df-lab"]["httpsVerified"] is True
        assert outputs["hosts"]["df-lab"]["expiresAt"].endswith("Z")

        # Run 2: nothing changed, so no remote command runs.
        again = cli("up", "--yes")
        assert lab.ssh_sessions() == run1
        assert "7 unchanged" in again.stdout

        # A changed input (one more open port) re-runs the step it affects and no other.
        write_hosts(cli, **host, extraPorts=["8443/tcp"])
        preview = cli("preview", "--diff")
        assert "~ 1 to update" in preview.stdout and "df-lab-firewall" in preview.stdout
        cli("up", "--yes")
        assert lab.ssh_sessions() == run1 + 1
        assert "8443/tcp" in lab.sh("ufw status").stdout

        # The private key is nowhere in plain text: not in the exported state, the state file or any output.
        exported = cli("stack", "export").stdout
        state_files = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.json"))
        key_body = "".join(private_key.strip().splitlines()[1:-1])
        for text in (exported, state_files, "\n".join(cli.log)):
            assert key_body[:40] not in text and "PRIVATE KEY" not in text

        # A host key that does not match the pinned one stops the run before any command.
        other_key = lab.sh("ssh-keygen -q -t ed25519 -N '' -f /tmp/other && cat /tmp/other.pub").stdout
        write_hosts(cli, **{**host, "hostKey": " ".join(other_key.split()[:2])}, extraPorts=[])
        refused = cli("up", "--yes", check=False)
        assert refused.returncode != 0
        assert "ssh: handshake failed" in refused.stdout + refused.stderr
        assert lab.ssh_sessions() == run1 + 1
        assert "8443/tcp" in lab.sh("ufw status").stdout  # the firewall step did not run

        # destroy runs nothing on the host and leaves firewall, certbot and certificate in place (README).
        write_hosts(cli, **host, extraPorts=["8443/tcp"])
        serial = lab.served_serial()
        cli("destroy", "--yes")
        assert lab.ssh_sessions() == run1 + 1
        assert lab.served_serial() == serial
        assert "Status: active" in lab.sh("ufw status").stdout
        assert lab.file("/etc/letsencrypt/live/df.example.com/cert.pem").exists()
        print(f"\nremote commands: run 1 = {run1}, run 2 = 0, changed extraPorts = 1, wrong host key = 0, destroy = 0")
