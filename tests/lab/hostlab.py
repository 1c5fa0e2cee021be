"""A throwaway host: private mount + network namespaces, an overlayfs of ``/``, ``chroot``.

Inside it run real ufw, nginx, apache, certbot, OpenSSH and pebble (Let's Encrypt's ACME test server,
answering HTTP-01 on loopback). Only what cannot run here is shimmed (``tests/lab/shims``): the snap store,
systemd as PID 1, and for the RHEL family dnf/rpm/subscription-manager/firewalld. Needs root.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

SHIMS = Path(__file__).with_name("shims")
# The lab's certbot "snap": a current certbot from PyPI (pinned in certbot-requirements.txt) in a virtualenv that
# every lab host sees through its overlay root, as the snap ships a current certbot. Debian's certbot 2.1 stays
# installed as the "distro certbot" the certbot step removes. Not under /tmp (a lab host mounts its own /tmp), and
# kept between runs on this machine.
CERTBOT_REQUIREMENTS = Path(__file__).with_name("certbot-requirements.txt")
CERTBOT_VENV = Path("/var/cache/dreamfactory-infra-lab/certbot")
LAB_TOOLS = ("unshare", "nsenter", "chroot", "pebble", "nginx", "apache2ctl", "ufw", "openssl", "sshd", "iptables")
LAB_PACKAGES = ("pebble", "certbot", "python3-certbot-nginx", "python3-certbot-apache", "nginx", "apache2", "ufw",
                "iptables", "iproute2", "openssl", "openssh-server", "openssh-client", "sudo", "procps", "dash",
                "libaugeas-dev", "pkg-config")  # PyPI's certbot-apache builds python-augeas against libaugeas
ACME_DIRECTORY = "https://localhost:14000/dir"
DNS_ADDRESS = "127.0.0.53"
HOST_ADDRESS = "10.77.0.2"  # the host's eth0 (a cloud VM's private address), after connect_client()
CLIENT_ADDRESS = "10.77.0.1"  # the operator's side of that link
DNS_MANAGEMENT = "127.0.0.1:8055"
PEBBLE_CA = "/etc/lab-pebble/ca.pem"
SSH_USER = "deploy"
# The read-only health identity's user: its key's own forced command (authorized_keys) runs, not the lab's logger.
HEALTH_USER = "dreamfactory-health"
COMMAND_LOG = "/var/log/lab-ssh-commands.log"  # one line per SSH session: the script it ran (start_sshd)
# PID 1 of a lab host's PID namespace: reaps orphans (daemonised nginx, apache), as init does, so that none lingers
# as a zombie that pgrep would still match.
REAPER = """
import os, time
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
"""


@dataclass(frozen=True)
class Distro:
    """A distribution as the lab presents it: its /etc/os-release and what the shims start with."""

    key: str
    os_id: str
    version_id: str
    id_like: str = ""
    preinstalled_rpms: tuple[str, ...] = ()
    registered: bool = False  # RHEL subscription

    @property
    def debian_family(self) -> bool:
        return self.os_id in ("ubuntu", "debian")

    def os_release(self) -> str:
        lines = [f'ID="{self.os_id}"', f'VERSION_ID="{self.version_id}"', f'NAME="{self.os_id} (lab)"']
        if self.id_like:
            lines.append(f'ID_LIKE="{self.id_like}"')
        return "\n".join(lines) + "\n"


DISTROS = {
    "ubuntu-22.04": Distro("ubuntu-22.04", "ubuntu", "22.04", "debian"),
    "ubuntu-24.04": Distro("ubuntu-24.04", "ubuntu", "24.04", "debian"),
    "debian-12": Distro("debian-12", "debian", "12"),
    "rhel-9": Distro("rhel-9", "rhel", "9.4", "fedora", registered=True),
    "rhel-9-payg": Distro("rhel-9-payg", "rhel", "9.4", "fedora"),  # pay-as-you-go cloud RHEL: RHUI, unregistered
    "centos-stream-9": Distro("centos-stream-9", "centos", "9", "rhel fedora"),
    "rocky-9": Distro("rocky-9", "rocky", "9.4", "rhel centos fedora", preinstalled_rpms=("certbot",)),
    "almalinux-8": Distro("almalinux-8", "almalinux", "8.10", "rhel centos fedora"),
    "fedora-40": Distro("fedora-40", "fedora", "40"),
}


def missing_tools() -> list[str]:
    return [tool for tool in LAB_TOOLS if shutil.which(tool) is None]


def ensure_lab_certbot() -> Path:
    """The pinned certbot virtualenv (made once, about 30 s; remade when the pins change)."""
    wanted = CERTBOT_REQUIREMENTS.read_text()
    stamp = CERTBOT_VENV / "requirements.txt"
    if not (stamp.exists() and stamp.read_text() == wanted):
        shutil.rmtree(CERTBOT_VENV, ignore_errors=True)
        base_python = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base_python, "-m", "venv", str(CERTBOT_VENV)], check=True)
        subprocess.run([str(CERTBOT_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check",
                        "-r", str(CERTBOT_REQUIREMENTS)], check=True)
        stamp.write_text(wanted)
    return CERTBOT_VENV / "bin" / "certbot"


class HostLab:
    """One throwaway host. Use as a context manager; everything vanishes with its namespaces."""

    def __init__(self, distro: Distro, domains: tuple[str, ...]):
        self.distro = distro
        self.domains = domains
        self.base = Path(tempfile.mkdtemp(prefix=f"dfi-lab-{distro.key}-"))
        self.root = self.base / "merged"
        self.holder: Optional[subprocess.Popen] = None
        self.init_pid = 0
        self.client: Optional[subprocess.Popen] = None
        self.background: list[subprocess.Popen] = []

    # -- namespace plumbing ---------------------------------------------------------------------------

    def _enter(self, *argv: str) -> list[str]:
        return ["nsenter", "-t", str(self.init_pid), "-m", "-n", "-p", *argv]

    def host_sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run as root in the lab's namespaces but outside the chroot (mount plumbing)."""
        result = subprocess.run(self._enter("bash", "-euo", "pipefail", "-c", script), text=True, capture_output=True)
        if check and result.returncode:
            raise RuntimeError(f"lab setup failed: {script}\n{result.stdout}\n{result.stderr}")
        return result

    def sh(self, script: str, check: bool = True, user: str = "root") -> subprocess.CompletedProcess:
        """Run inside the host (chroot), with the bare environment an SSH session gets."""
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" if user == "root" else "/usr/local/bin:/usr/bin:/bin"
        env = ["env", "-i", "HOME=/root" if user == "root" else f"HOME=/home/{user}", f"PATH={path}",
               "LANG=C.UTF-8", f"USER={user}"]
        argv = self._enter("chroot", f"--userspec={user}:{user}" if user != "root" else "--userspec=0:0",
                           str(self.root), *env, "bash", "-c", script)
        result = subprocess.run(argv, text=True, capture_output=True)
        if check and result.returncode:
            raise RuntimeError(f"lab command failed ({result.returncode}): {script[:200]}\n{result.stdout}\n{result.stderr}")
        return result

    def spawn(self, script: str) -> None:
        """Start a long-running process inside the host."""
        argv = self._enter("chroot", str(self.root), "env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "bash", "-c", script)
        self.background.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def file(self, path: str) -> Path:
        """A path inside the host, reached from outside through the holder's view of the mount namespace."""
        return Path(f"/proc/{self.init_pid}/root") / str(self.root).lstrip("/") / path.lstrip("/")

    # -- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> "HostLab":
        # Own mount, network and PID namespaces: pgrep, ss -p and `systemctl stop` in the host see only its own
        # processes, and ending the namespace's init ends every process the host started.
        # unshare's stderr is kept for a failed start only: when the lab ends by killing the namespace's init, unshare
        # says "sigprocmask unblock failed", which is how it ends, not news.
        self.holder = subprocess.Popen(["unshare", "--mount", "--net", "--pid", "--fork", "--propagation", "private",
                                        sys.executable, "-c", REAPER], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 5
        while not (children := Path(f"/proc/{self.holder.pid}/task/{self.holder.pid}/children").read_text().split()):
            if time.monotonic() > deadline or self.holder.poll() is not None:
                self.holder.kill()
                raise RuntimeError(f"the lab's namespace init did not start: {self.holder.communicate()[1].strip()}")
            time.sleep(0.02)
        self.init_pid = int(children[0])
        base = shlex.quote(str(self.base))
        self.host_sh(f"""
            mount -t tmpfs lab {base}
            mkdir -p {base}/upper {base}/work {base}/merged
            mount -t overlay overlay -o lowerdir=/,upperdir={base}/upper,workdir={base}/work {base}/merged
            for dir in proc sys dev run tmp; do mkdir -p {base}/merged/$dir; done
            mount -t proc proc {base}/merged/proc
            mount -t sysfs sysfs {base}/merged/sys
            mount --rbind /dev {base}/merged/dev
            mount -t tmpfs run {base}/merged/run
            mount -t tmpfs tmp {base}/merged/tmp
            mkdir -p {base}/merged/run/lock
            chmod 1777 {base}/merged/tmp {base}/merged/run/lock
            ip link set lo up
        """)
        try:
            self._provision()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.holder is None:
            return
        net = os.readlink(f"/proc/{self.init_pid}/ns/net")
        for proc in Path("/proc").iterdir():  # the PID namespace's own, and those that only joined its network
            if proc.name.isdigit() and int(proc.name) not in (self.holder.pid, self.init_pid):
                try:
                    if os.readlink(proc / "ns" / "net") == net:
                        os.kill(int(proc.name), signal.SIGKILL)
                except (FileNotFoundError, ProcessLookupError, PermissionError):
                    pass
        for process in self.background:
            process.wait(timeout=10)
        if self.client is not None:
            self.client.kill()
            self.client.wait()
        os.kill(self.init_pid, signal.SIGKILL)
        self.holder.communicate()  # its stderr: the end of a killed init, see __enter__
        self.holder = None
        shutil.rmtree(self.base, ignore_errors=True)

    # -- the host's contents -------------------------------------------------------------------------------

    def _write(self, path: str, text: str, mode: int = 0o644) -> None:
        target = self.file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink() or target.exists():
            target.unlink()
        target.write_text(text)
        target.chmod(mode)

    def _provision(self) -> None:
        distro = self.distro
        self._write("/etc/os-release", distro.os_release())
        self._write("/etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n")
        self._write("/etc/resolv.conf", f"nameserver {DNS_ADDRESS}\n")
        shims = self.file("/usr/lib/lab-shims")
        shutil.copytree(SHIMS, shims)
        launcher = shims / "certbot-launcher"
        launcher.write_text(f"#!/bin/sh\nexec {ensure_lab_certbot()} \"$@\"\n")
        launcher.chmod(0o755)
        for tool in ("snap", "systemctl"):
            self._install_shim(tool)
        if not distro.debian_family:
            for tool in ("dnf", "rpm", "subscription-manager"):
                self._install_shim(tool)
            self._install_shim("dnf", as_name="yum")
            rpms = self.file("/var/lib/lab-shims/rpms")
            rpms.mkdir(parents=True)
            for package in distro.preinstalled_rpms:
                (rpms / package).touch()
            self.file("/var/lib/lab-shims/repos").mkdir(parents=True)
            if distro.registered:
                self.file("/var/lib/lab-shims/registered").touch()
            for tool in ("firewall-cmd", "firewall-offline-cmd", "crb"):
                if self.file(f"/usr/bin/{tool}").exists():
                    self.file(f"/usr/bin/{tool}").unlink()
        self._write("/opt/dreamfactory/public/index.html", "<h1>DreamFactory (lab stand-in)</h1>\n")
        self._pebble()
        self._ssh_user()

    def _install_shim(self, tool: str, as_name: Optional[str] = None) -> None:
        for directory in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
            existing = self.file(f"{directory}/{as_name or tool}")
            if existing.is_symlink() or existing.exists():
                existing.unlink()
        self._write(f"/usr/bin/{as_name or tool}", (SHIMS / tool).read_text(), 0o755)

    def _dns(self) -> None:
        """The host's DNS: pebble-challtestsrv answers every A query with 127.0.0.1 unless a record is set."""
        self.spawn(f"exec pebble-challtestsrv -dns01 {DNS_ADDRESS}:53 -defaultIPv4 127.0.0.1 -defaultIPv6 '' "
                   f"-management {DNS_MANAGEMENT} -http01 '' -https01 '' -tlsalpn01 ''")
        self.wait_for(f"getent -s dns ahosts lab-probe.example.com >/dev/null", "the lab's DNS server")

    def set_dns(self, name: str, address: str) -> None:
        """Point ``name`` at ``address`` (only) in the host's DNS (what Let's Encrypt, here pebble, resolves)."""
        self._dns_call("clear-a", {"host": name})
        self._dns_call("add-a", {"host": name, "addresses": [address]})

    def _dns_call(self, path: str, request: dict) -> None:
        body = json.dumps(request)
        host, port = DNS_MANAGEMENT.split(":")
        self.sh(f"""exec 3<>/dev/tcp/{host}/{port}
            printf 'POST /{path} HTTP/1.0\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n%s' {shlex.quote(body)} >&3
            grep -q '^HTTP/1.[01] 200' <&3""")

    def _pebble(self) -> None:
        """A private CA for pebble's own HTTPS listener and pebble's issuing root: CertbotHost gets them as
        acme_ca_bundle."""
        self._dns()
        self.sh(f"""
            set -e
            mkdir -p /etc/lab-pebble && cd /etc/lab-pebble
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out {PEBBLE_CA} -days 30 -subj /CN=lab-pebble-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout key.pem -out server.csr -subj /CN=localhost 2>/dev/null
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext
            openssl x509 -req -in server.csr -CA {PEBBLE_CA} -CAkey ca.key -CAcreateserial -out cert.pem -days 30 -extfile san.ext 2>/dev/null
            cat > config.json <<'JSON'
{{"pebble": {{"listenAddress": "127.0.0.1:14000", "managementListenAddress": "127.0.0.1:15000",
  "certificate": "/etc/lab-pebble/cert.pem", "privateKey": "/etc/lab-pebble/key.pem",
  "httpPort": 80, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}
JSON
        """)
        # Validation resolves names through the host's DNS only, as Let's Encrypt does (never /etc/hosts).
        self.spawn(f"PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 exec pebble -config /etc/lab-pebble/config.json "
                   f"-dnsserver {DNS_ADDRESS}:53 >/var/log/pebble.log 2>&1")
        self.wait_for("openssl s_client -connect localhost:14000 -CAfile /etc/lab-pebble/ca.pem -verify_return_error "
                      "</dev/null >/dev/null 2>&1", "pebble")
        # The root pebble issues under (made at its start) joins the bundle, as a private CA's one root signs both its
        # ACME server's TLS and the certificates it issues: served chains then verify against acme_ca_bundle.
        self.sh(f"curl -sSf --cacert {PEBBLE_CA} https://localhost:15000/roots/0 >> {PEBBLE_CA}")

    def _ssh_user(self) -> None:
        self.sh(f"""
            id {SSH_USER} >/dev/null 2>&1 || useradd -m -s /bin/bash {SSH_USER}
            usermod -p '*' {SSH_USER}  # no password, but not locked: sshd refuses locked accounts
            echo '{SSH_USER} ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/{SSH_USER}
            chmod 0440 /etc/sudoers.d/{SSH_USER}
        """)

    def wait_for(self, probe: str, what: str, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.sh(probe, check=False).returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"{what} did not come up in the lab within {seconds}s")

    # -- services under test ----------------------------------------------------------------------------------

    def start_nginx(self, site: str) -> None:
        self._write("/etc/nginx/sites-enabled/default", site)
        self.sh("nginx")
        self.wait_for("ss -Htln 'sport = :80' | grep -q .", "nginx")

    def add_nginx_site(self, name: str, site: str) -> None:
        self._write(f"/etc/nginx/sites-enabled/{name}", site)
        self.sh("nginx -t && nginx -s reload")

    def start_apache(self, site: str) -> None:
        self._write("/etc/apache2/sites-enabled/000-default.conf", site)
        self.sh("a2enmod -q rewrite && apache2ctl start")
        self.wait_for("ss -Htln 'sport = :80' | grep -q .", "apache")

    def start_sshd(self, listen: str = "127.0.0.1", port: int = 22) -> None:
        """Real OpenSSH; the lab's client key logs in as the sudo user and as root (key only), host key pinned."""
        self.sh(f"""
            mkdir -p /run/sshd /etc/lab-ssh /root/.ssh /home/{SSH_USER}/.ssh
            ssh-keygen -q -t ed25519 -N '' -f /etc/lab-ssh/host_key
            ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/lab_key
            cp /root/.ssh/lab_key.pub /home/{SSH_USER}/.ssh/authorized_keys
            cp /root/.ssh/lab_key.pub /root/.ssh/authorized_keys
            chown -R {SSH_USER}:{SSH_USER} /home/{SSH_USER}/.ssh
            chmod 700 /home/{SSH_USER}/.ssh
            echo "127.0.0.1 $(cat /etc/lab-ssh/host_key.pub)" > /root/.ssh/known_hosts
            printf 'ListenAddress {listen}\nPort {port}\nHostKey /etc/lab-ssh/host_key\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nPidFile /run/sshd.pid\nMaxStartups 100\nForceCommand /usr/local/sbin/lab-log-command\nMatch User {HEALTH_USER}\n    ForceCommand none\n' > /etc/lab-ssh/sshd_config
            # Which script each session ran (the step named in its header, else "other"), then the command itself
            # in the user's login shell, as sshd would have run it.
            touch {COMMAND_LOG} && chmod 0666 {COMMAND_LOG}
            cat > /usr/local/sbin/lab-log-command <<'WRAPPER'
#!/bin/bash
step=$(sed -n 's/.*# dreamfactory-infra CertbotHost step: \\([a-z-]*\\).*/\\1/p' <<<"$SSH_ORIGINAL_COMMAND" | head -n 1)
echo "${{step:-other}}" >> {COMMAND_LOG}
exec "$SHELL" -c "$SSH_ORIGINAL_COMMAND"
WRAPPER
            chmod 0755 /usr/local/sbin/lab-log-command
        """)
        # Its log counts the SSH sessions a run opened (one "Accepted publickey" line each).
        self.spawn("exec /usr/sbin/sshd -D -E /var/log/lab-sshd.log -f /etc/lab-ssh/sshd_config")
        self.wait_for(f"ss -Htln 'sport = :{port}' | grep -q .", "sshd")

    def connect_client(self, client: Optional[subprocess.Popen] = None, network: int = 0) -> str:
        """The operator's machine: a namespace wired to this host by a veth pair (client 10.77.<network>.1, host eth0
        10.77.<network>.2; by default ``CLIENT_ADDRESS`` and ``HOST_ADDRESS``), so its SSH reaches the host through
        the host's firewall rather than over loopback. ``client``: an operator's namespace shared by several hosts,
        each on its own ``network`` (whoever made it ends it); else one made for this host. Returns the host's
        address."""
        if client is None:
            client = self.client = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
            time.sleep(0.1)
        # Made from the client's side: PIDs given to `ip link ... netns` are read in the caller's PID namespace.
        subprocess.run(["nsenter", f"--net=/proc/{client.pid}/ns/net", "sh", "-c",
                        f"ip link add client{network} type veth peer name eth0 netns {self.init_pid} && "
                        f"ip link set lo up && ip addr add 10.77.{network}.1/24 dev client{network} && "
                        f"ip link set client{network} up"], check=True)
        address = f"10.77.{network}.2"
        self.host_sh(f"ip addr add {address}/24 dev eth0 && ip link set eth0 up")
        return address

    def client_ssh(self, command: str, port: int = 22, user: str = SSH_USER) -> subprocess.CompletedProcess:
        """``command`` over SSH from the operator's machine to the host's eth0, as remote.Command runs it."""
        assert self.client is not None, "connect_client() first"
        return subprocess.run(
            ["nsenter", f"--net=/proc/{self.client.pid}/ns/net", "ssh", "-i", str(self.file("/root/.ssh/lab_key")),
             "-p", str(port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
             "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", f"{user}@{HOST_ADDRESS}", command],
            text=True, capture_output=True, timeout=300)

    def ssh_sessions(self) -> int:
        """SSH logins accepted so far (each remote command is one)."""
        log = self.file("/var/log/lab-sshd.log")
        return log.read_text().count("Accepted publickey") if log.exists() else 0

    def remote_commands(self) -> list[str]:
        """The script of every SSH session so far, in order: a step name, "health" for the probe, or "other"."""
        log = self.file(COMMAND_LOG)
        return log.read_text().split() if log.exists() else []

    def netns(self) -> tuple[str, ...]:
        """A command prefix that runs a process outside the host but on its network (its loopback sshd)."""
        return ("nsenter", f"--net=/proc/{self.init_pid}/ns/net")

    def ssh(self, command: str) -> subprocess.CompletedProcess:
        """Run ``command`` as remote.Command does: one SSH exec as the sudo user, nothing forwarded."""
        return self.sh(f"ssh -i /root/.ssh/lab_key -o BatchMode=yes -o StrictHostKeyChecking=yes {SSH_USER}@127.0.0.1 "
                       f"{shlex.quote(command)}", check=False)

    def add_apache_site(self, name: str, site: str) -> None:
        self._write(f"/etc/apache2/sites-enabled/{name}.conf", site)
        self.sh("apache2ctl configtest && apache2ctl graceful")

    def served_serial(self, name: Optional[str] = None) -> str:
        """The serial of the certificate this host's port 443 serves for ``name`` (SNI; default the first of its
        domains), "" when none."""
        name = name or self.domains[0]
        return self.sh(f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null "
                       "| openssl x509 -noout -serial 2>/dev/null | cut -d= -f2", check=False).stdout.strip()

    def served_chain_verifies(self, name: Optional[str] = None) -> bool:
        """Whether a client trusting the system's roots and the lab CA's (``PEBBLE_CA``) accepts what port 443 serves
        for ``name`` (SNI; default the first domain), name included: openssl s_client's own verification."""
        name = name or self.domains[0]
        return self.sh(f"openssl s_client -connect 127.0.0.1:443 -servername {name} -verify_hostname {name} "
                       f"-CAfile {PEBBLE_CA} -CApath /etc/ssl/certs -verify_return_error </dev/null", check=False
                       ).returncode == 0

    def acme_orders(self) -> int:
        """Certificates the CA (pebble) issued, dry runs included: the CA's own count, not the scripts' words."""
        return self.file("/var/log/pebble.log").read_text().count("Issued certificate serial")

    def shim_calls(self) -> list[str]:
        log = self.file("/var/log/lab-shims.log")
        return log.read_text().splitlines() if log.exists() else []
