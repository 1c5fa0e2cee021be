"""Pull-request previews that cannot touch production, through the real engine: the plain `pulumi` command, the
project-built language host and the command provider, over real OpenSSH, keys only in ssh-agents.

- `up` with the deploy key installs the read-only health identity; a preview with only the health key in the agent
  reads the host (no change when healthy, the drift and its reason when not); an `up` with only that key changes
  nothing and says why; the key used directly gets the probe's output or a refusal, never a shell, a forward or sftp.
- Through a bastion: a second lab host whose sshd is the only way to the target.
- The exported state, secrets decrypted, holds no private key.
- Each input (healthPublicKey, agentSocket, proxy) from one value to another and back: run 1, run 2 converges,
  run 3 changes nothing; outcomes read on the host (authorized_keys, sudoers, the user).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
import yaml

from tests.lab.hostlab import ACME_DIRECTORY, DISTROS, HEALTH_USER, PEBBLE_CA, SSH_USER, HostLab
from tests.lab.test_host_lab import DOMAINS, NGINX_SITE
from tests.support.cli import PulumiCli, copy_project, requires_binaries

pytestmark = requires_binaries
PROBE = "/usr/local/lib/dreamfactory-infra/df-lab/health-probe"
SUDOERS = "/etc/sudoers.d/dreamfactory-health-df-lab"
KEYS = f"/var/lib/{HEALTH_USER}/.ssh/authorized_keys"
STEPS = ["firewall", "snapd", "certbot", "certificate", "renewal"]


class Agent:
    """An ssh-agent on this machine at one socket (the stack file's agentSocket); the engine, in a lab host's network
    namespace, shares this machine's files and so reaches it."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket
        self.process: Optional[subprocess.Popen] = None

    def load(self, *keys: Path) -> None:
        """Exactly these keys from now on (a new agent at the same socket)."""
        self.stop()
        self.process = subprocess.Popen(["ssh-agent", "-D", "-a", str(self.socket)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        for key in keys:
            subprocess.run(["ssh-add", "-q", str(key)], env={**os.environ, "SSH_AUTH_SOCK": str(self.socket)},
                           check=True, capture_output=True)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.socket.unlink(missing_ok=True)
            self.process = None


@pytest.fixture
def agent(tmp_path: Path):
    running = Agent(tmp_path / "agent.sock")
    yield running
    running.stop()


def new_key(folder: Path, name: str) -> tuple[Path, str]:
    """A fresh ed25519 key pair on this machine: (private key file, public key line)."""
    path = folder / name
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@ci", "-f", str(path)], check=True)
    return path, path.with_suffix(".pub").read_text().strip()


def lab_key(lab: HostLab, folder: Path, name: str) -> Path:
    """The lab's own client key (its deploy user and root accept it), copied out with the mode ssh-add wants."""
    path = folder / name
    path.write_text(lab.file("/root/.ssh/lab_key").read_text())
    path.chmod(0o600)
    return path


def write_hosts(cli: PulumiCli, host: dict) -> None:
    path = cli.project / "stacks" / f"Pulumi.{cli.stack}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else {}
    document.setdefault("config", {})["dreamfactory-infra:hosts"] = [host]
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def base_host(lab: HostLab, agent: Agent, health_public_key: str, address: str = "127.0.0.1") -> dict:
    return {"name": "df-lab", "host": address, "user": SSH_USER, "agentSocket": str(agent.socket),
            "hostKey": " ".join(lab.file("/etc/lab-ssh/host_key.pub").read_text().split()[:2]),
            "domains": list(DOMAINS), "email": "ops@example.com", "agreeTos": True, "webServer": "nginx",
            "acmeServer": ACME_DIRECTORY, "acmeCaBundle": PEBBLE_CA,
            "healthPublicKey": health_public_key, "health": {"agentSocket": str(agent.socket)}}


def logins(lab: HostLab, user: str) -> int:
    log = lab.file("/var/log/lab-sshd.log")
    return log.read_text().count(f"Accepted publickey for {user} ") if log.exists() else 0


def steps_run(lab: HostLab, since: int) -> list[str]:
    return [command for command in lab.remote_commands()[since:] if command != "health"]


def unchanged_up(cli: PulumiCli, lab: HostLab) -> None:
    """Run 3: nothing to change, and no step runs on the host."""
    before = len(lab.remote_commands())
    result = cli("up", "--yes")
    assert "to update" not in result.stdout and "updated" not in result.stdout, result.stdout
    assert "created" not in result.stdout and "deleted" not in result.stdout, result.stdout
    assert steps_run(lab, before) == []


FORWARD_PROBE = """
import socket
connection = socket.create_connection(("127.0.0.1", 9922), timeout=10)
try:
    print(repr(connection.recv(64)))
except OSError:
    print(repr(b""))
"""


def direct_ssh_argv(lab: HostLab, key: Path, *options: str, command: Optional[str] = None,
                    user: str = HEALTH_USER) -> list[str]:
    """OpenSSH's client with one key only, from the engine's network namespace to the host's sshd."""
    return [*lab.netns(), "ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", *options, f"{user}@127.0.0.1",
            *([command] if command else [])]


def direct_ssh(lab: HostLab, key: Path, *options: str, command: Optional[str] = None) -> subprocess.CompletedProcess:
    return subprocess.run(direct_ssh_argv(lab, key, *options, command=command), text=True, capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def assert_identity_installed(lab: HostLab, public_key: str) -> None:
    line = lab.sh(f"cat {KEYS}").stdout.strip()
    key_type, body = public_key.split()[:2]
    assert line == f'restrict,command="sudo -n {PROBE}" {key_type} {body} dreamfactory-infra:df-lab', line
    assert lab.sh(f"stat -c '%U %a' {KEYS} {PROBE} {SUDOERS}").stdout.split() == ["root", "644", "root", "755",
                                                                                  "root", "440"]
    assert lab.sh(f"cat {SUDOERS}").stdout.splitlines()[-1] == f'{HEALTH_USER} ALL=(root) NOPASSWD: {PROBE} ""'
    assert lab.sh(f"id -u {HEALTH_USER}").stdout.strip() != "0"
    assert lab.sh(f"sudo -l -U {HEALTH_USER}").stdout.count("NOPASSWD") == 1


def assert_identity_removed(lab: HostLab) -> None:
    assert lab.sh(f"id {HEALTH_USER}", check=False).returncode != 0
    for path in (KEYS, SUDOERS, PROBE):
        assert not lab.file(path).exists(), path


def test_a_preview_with_only_the_health_key_reads_and_cannot_change_the_host(tmp_path: Path, agent: Agent):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        lab.start_sshd()
        deploy_key = lab_key(lab, tmp_path, "deploy")
        health_key, health_public = new_key(tmp_path, "health")
        cli = PulumiCli(copy_project(tmp_path / "project", stack_files=()), tmp_path, stack="lab", prefix=lab.netns())
        host = base_host(lab, agent, health_public)
        write_hosts(cli, host)
        cli.init()

        # Run 1, the deploy job: the deploy key and the health key in the agent.
        agent.load(deploy_key, health_key)
        cli("up", "--yes")
        assert lab.remote_commands()[:6] == [*STEPS, "health-identity"]
        assert_identity_installed(lab, health_public)
        unchanged_up(cli, lab)
        assert logins(lab, HEALTH_USER) > 0  # the health check read through the identity

        # The pull request's preview: only the health key. Healthy: no change; the deploy user is never logged in.
        agent.load(health_key)
        deploy_logins, health_logins = logins(lab, SSH_USER), logins(lab, HEALTH_USER)
        preview = cli("preview", "--diff")
        assert "to update" not in preview.stdout and "to create" not in preview.stdout, preview.stdout
        assert logins(lab, SSH_USER) == deploy_logins and logins(lab, HEALTH_USER) > health_logins

        # Drift made out of band shows, with its reason.
        lab.sh("ufw delete allow 443/tcp >/dev/null")
        drifted = cli("preview", "--diff")
        shown = drifted.stdout + drifted.stderr
        assert "port 443/tcp not allowed by ufw" in shown and "1 to update" in shown

        # `up` with only the health key changes nothing on the host and says why.
        before = len(lab.remote_commands())
        refused = cli("up", "--yes", check=False)
        said = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert "over the deploy connection, which failed" in said and "none of the 1 key(s) in the SSH agent" in said
        assert steps_run(lab, before) == [] and "443/tcp" not in lab.sh("ufw status").stdout

        # The health key used directly: the probe's output or a refusal, never anything else.
        for command in ("id", "bash -i", "echo pwned; cat /etc/shadow", f"sudo -n {PROBE} --x"):
            result = direct_ssh(lab, health_key, "-T", command=command)
            assert "uid=" not in result.stdout and "pwned" not in result.stdout and "root:" not in result.stdout
            assert "cert_name=" in result.stdout, (command, result.stdout, result.stderr)  # the probe, whatever asked
        # A local forward to the host's own sshd: with the key restricted, a connection through it gets nothing back
        # (the server refuses the channel), where an open forward would answer with sshd's banner.
        forwarder = subprocess.Popen([*direct_ssh_argv(lab, health_key, "-N", "-L", "127.0.0.1:9922:127.0.0.1:22")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            lab.wait_for("ss -Htln 'sport = :9922' | grep -q .", "the client's forward listener")
            through = subprocess.run([*lab.netns(), "python3", "-c", FORWARD_PROBE], text=True, capture_output=True,
                                     timeout=30)
        finally:
            forwarder.kill()
            forwarded_stderr = forwarder.communicate()[1]
        assert through.stdout.strip() == "b''", through.stdout  # no "SSH-2.0-OpenSSH" banner came through
        forward = f"refused ({forwarded_stderr.strip().splitlines()[-1] if forwarded_stderr.strip() else 'closed'})"
        sftp = subprocess.run([*lab.netns(), "sftp", "-i", str(health_key), "-o", "IdentitiesOnly=yes",
                               "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                               "-o", "UserKnownHostsFile=/dev/null", "-b", "-", f"{HEALTH_USER}@127.0.0.1"],
                              input="ls /\n", text=True, capture_output=True, timeout=60)
        assert sftp.returncode != 0 and "etc" not in sftp.stdout
        print(f"\nhealth key direct: id/bash/echo/sudo -> probe output; -L forward {forward}; "
              f"sftp rc={sftp.returncode}")

        # The deploy job again repairs it; the preview after is clean.
        agent.load(deploy_key, health_key)
        cli("up", "--yes")
        assert "443/tcp" in lab.sh("ufw status").stdout
        agent.load(health_key)
        assert "to update" not in cli("preview", "--diff").stdout

        # Neither private key is in the state, secrets decrypted (every __provider and secret included).
        exported = cli("stack", "export", "--show-secrets").stdout
        state = json.loads(exported)
        assert state["deployment"]["resources"]
        providers = [base64.b64decode(resource[kind]["__provider"]).decode("latin-1")
                     for resource in state["deployment"]["resources"] for kind in ("inputs", "outputs")
                     if "__provider" in resource.get(kind, {})]
        assert providers  # the dynamic resources' pickled providers, decoded
        for text in (exported, *providers):
            for key in (deploy_key, health_key):
                body = "".join(key.read_text().strip().splitlines()[1:-1])
                assert body[:40] not in text and body[-40:] not in text
            assert "PRIVATE KEY" not in text

        # healthPublicKey: to another key (run 2 converges, run 3 nothing), removed, and back.
        other_key, other_public = new_key(tmp_path, "health2")
        agent.load(deploy_key, other_key)
        write_hosts(cli, {**host, "healthPublicKey": other_public})
        cli("up", "--yes")
        assert_identity_installed(lab, other_public)
        unchanged_up(cli, lab)
        assert direct_ssh(lab, health_key, "-T", command="id").returncode != 0  # the old key is gone
        agent.load(other_key)
        assert "to update" not in cli("preview", "--diff").stdout

        agent.load(deploy_key)
        without = {key: value for key, value in host.items() if key not in ("healthPublicKey", "health")}
        write_hosts(cli, without)
        cli("up", "--yes")
        assert_identity_removed(lab)
        unchanged_up(cli, lab)

        agent.load(deploy_key, health_key)
        write_hosts(cli, host)
        cli("up", "--yes")
        assert_identity_installed(lab, health_public)
        unchanged_up(cli, lab)

        # agentSocket -> privateKeySecret (a key in config) -> back: each converges, the run after changes nothing.
        cli.set_secret("sshKeyLab", deploy_key.read_text())
        write_hosts(cli, {**{k: v for k, v in host.items() if k != "agentSocket"}, "privateKeySecret": "sshKeyLab"})
        cli("up", "--yes")
        unchanged_up(cli, lab)
        cli("config", "rm", "sshKeyLab")
        write_hosts(cli, host)
        cli("up", "--yes")
        unchanged_up(cli, lab)
        assert "PRIVATE KEY" not in cli("stack", "export", "--show-secrets").stdout  # gone again with the key
        assert_identity_installed(lab, health_public)


def test_a_dead_agent_socket_fails_naming_it_with_no_fallback(tmp_path: Path, agent: Agent):
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        lab.start_sshd()
        health_key, health_public = new_key(tmp_path, "health")
        agent.load(lab_key(lab, tmp_path, "deploy"), health_key)
        cli = PulumiCli(copy_project(tmp_path / "project", stack_files=()), tmp_path, stack="lab", prefix=lab.netns())
        write_hosts(cli, base_host(lab, agent, health_public))
        cli.init()
        cli("up", "--yes")
        agent.stop()
        before = logins(lab, SSH_USER) + logins(lab, HEALTH_USER)
        refused = cli("preview", check=False)
        assert refused.returncode != 0
        assert f"cannot use the SSH agent at {agent.socket}" in refused.stdout + refused.stderr
        assert logins(lab, SSH_USER) + logins(lab, HEALTH_USER) == before


def wire(a_pid: int, a_name: str, a_address: str, b_pid: int, b_name: str, b_address: str) -> None:
    """A veth pair between two network namespaces (given by a process in each), a /24 on each end."""
    subprocess.run(["nsenter", f"--net=/proc/{a_pid}/ns/net", "sh", "-c",
                    f"ip link set lo up && ip link add {a_name} type veth peer name {b_name} netns {b_pid} && "
                    f"ip addr add {a_address}/24 dev {a_name} && ip link set {a_name} up"], check=True)
    subprocess.run(["nsenter", f"--net=/proc/{b_pid}/ns/net", "sh", "-c",
                    f"ip addr add {b_address}/24 dev {b_name} && ip link set {b_name} up"], check=True)


REACH_TARGET = "import socket; socket.create_connection(('10.77.0.2', 22), timeout=3)"


def test_through_a_bastion_each_hop_pinned_and_the_health_key_enough_for_a_preview(tmp_path: Path, agent: Agent):
    """engine (its own network namespace) -> bastion 10.88.0.2:22 -> target 10.77.0.2:22; the engine has no route to
    the target, so everything reaches it through the bastion's sshd (direct-tcpip)."""
    engine = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    try:
        with HostLab(DISTROS["debian-12"], DOMAINS) as bastion, HostLab(DISTROS["debian-12"], DOMAINS) as target:
            time.sleep(0.1)
            wire(engine.pid, "e0", "10.88.0.1", bastion.init_pid, "b0", "10.88.0.2")
            wire(bastion.init_pid, "b1", "10.77.0.1", target.init_pid, "eth0", "10.77.0.2")
            bastion.start_sshd(listen="0.0.0.0")
            target.start_sshd(listen="0.0.0.0")
            target.start_nginx(NGINX_SITE)
            for name in DOMAINS:
                target.set_dns(name, "10.77.0.2")
            in_engine = ("nsenter", f"--net=/proc/{engine.pid}/ns/net")
            assert subprocess.run([*in_engine, "python3", "-c", REACH_TARGET], capture_output=True).returncode != 0

            target_key, bastion_key = lab_key(target, tmp_path, "target"), lab_key(bastion, tmp_path, "bastion")
            health_key, health_public = new_key(tmp_path, "health")
            # The bastion's jump users take the health key for one forward only: to the target's sshd.
            for home in (f"/home/{SSH_USER}", "/root"):
                bastion.sh(f"echo 'restrict,port-forwarding,permitopen=\"10.77.0.2:22\" {health_public}' "
                           f">> {home}/.ssh/authorized_keys")
            bastion_host_key = " ".join(bastion.file("/etc/lab-ssh/host_key.pub").read_text().split()[:2])
            proxy = {"host": "10.88.0.2", "user": SSH_USER, "hostKey": bastion_host_key,
                     "agentSocket": str(agent.socket)}
            host = {**base_host(target, agent, health_public, address="10.77.0.2"), "proxy": proxy}
            cli = PulumiCli(copy_project(tmp_path / "project", stack_files=()), tmp_path, stack="lab",
                            prefix=in_engine)
            write_hosts(cli, host)
            cli.init()

            agent.load(target_key, bastion_key, health_key)
            cli("up", "--yes")
            assert target.remote_commands()[:6] == [*STEPS, "health-identity"]
            assert_identity_installed(target, health_public)
            assert "from 10.77.0.1" in target.file("/var/log/lab-sshd.log").read_text()  # via the bastion
            unchanged_up(cli, target)

            # The pull request's preview: only the health key, through the bastion.
            agent.load(health_key)
            before = logins(target, HEALTH_USER)
            preview = cli("preview", "--diff")
            assert "to update" not in preview.stdout and logins(target, HEALTH_USER) > before

            # A wrong pinned key for the bastion stops the run before any command, naming the hop.
            agent.load(target_key, bastion_key, health_key)
            other = bastion.sh("ssh-keygen -q -t ed25519 -N '' -f /tmp/other && cat /tmp/other.pub").stdout
            write_hosts(cli, {**host, "proxy": {**proxy, "hostKey": " ".join(other.split()[:2])}})
            commands = len(target.remote_commands())
            refused = cli("up", "--yes", check=False)
            assert refused.returncode != 0 and "is not the pinned health_connection.proxy.host_key" in refused.stdout
            assert len(target.remote_commands()) == commands

            # proxy: to another value (the bastion's root), run 2 converges, run 3 nothing, and back.
            write_hosts(cli, {**host, "proxy": {**proxy, "user": "root"}})
            cli("up", "--yes")
            assert "Accepted publickey for root" in bastion.file("/var/log/lab-sshd.log").read_text()
            unchanged_up(cli, target)
            write_hosts(cli, host)
            cli("up", "--yes")
            unchanged_up(cli, target)
            assert "443/tcp" in target.sh("ufw status").stdout and target.served_serial() != ""
    finally:
        engine.kill()
        engine.wait()


SLOW_COMMAND = """
import sys, time
from components.certbot.ssh import SshError, SshSession, SshTarget
target = SshTarget("127.0.0.1", user="deploy", private_key=open(sys.argv[1]).read(), host_key=sys.argv[2])
started = time.monotonic()
with SshSession(target) as session:
    try:
        session.run("while true; do printf x; sleep 0.2; done", timeout=2)
    except SshError as error:
        print(f"{time.monotonic() - started:.1f} {error}")
"""


def test_a_command_that_keeps_printing_is_ended_by_its_timeout(tmp_path: Path):
    """The timeout bounds the whole command, not each read (a read at a time would never time out here)."""
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_sshd()
        host_key = " ".join(lab.file("/etc/lab-ssh/host_key.pub").read_text().split()[:2])
        result = subprocess.run([*lab.netns(), sys.executable, "-c", SLOW_COMMAND,
                                 str(lab_key(lab, tmp_path, "deploy")), host_key],
                                cwd=Path(__file__).resolve().parents[2], text=True, capture_output=True, timeout=60)
        seconds, _, message = result.stdout.strip().partition(" ")
        assert "the command did not finish within 2 s" in message, result.stdout + result.stderr
        assert float(seconds) < 10
