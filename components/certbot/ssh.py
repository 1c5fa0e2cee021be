"""Run a command on a host over SSH with paramiko, the way pulumi-command's ``remote.Command`` connects.

Used by the health provider, in the plugin process. Like pulumi-command (provider/pkg/provider/remote/connection.go,
proxyConnection.go): auth by private key, else password (with keyboard-interactive), else an SSH agent
(``agent_socket_path``, else ``SSH_AUTH_SOCK``); one optional bastion hop (``proxy``) reached first, the target then
reached over a ``direct-tcpip`` channel through it; each hop's ``host_key`` pinned on its own (the only key algorithm
offered to that hop), none checked without one (CertbotHost warns). Differences on purpose: an agent socket that
cannot be reached fails naming it (paramiko's own Agent silently offers no keys), and ``run``'s timeout bounds the
whole command, not each read. Keys stay in memory, never on disk or in a log.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Optional

import paramiko
from paramiko.agent import AgentSSH

# paramiko logs failed handshakes with tracebacks; the SshError raised here says it once, in words.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_KEY_TYPES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)
# The host key algorithms a pinned key of each type may be offered under (RSA keys sign with SHA-2 today).
_HOST_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}


class SshError(RuntimeError):
    """The host could not be reached, refused us, or a command failed; the message names the hop, host and port."""


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    user: str = "root"
    private_key: Optional[str] = None
    private_key_password: Optional[str] = None
    password: Optional[str] = None
    host_key: Optional[str] = None  # "ssh-ed25519 AAAA...", as connection.host_key
    agent_socket_path: Optional[str] = None
    proxy: Optional["SshTarget"] = None  # one bastion hop, as connection.proxy
    timeout: float = 15.0
    role: str = "connection"  # how messages name this hop: connection, connection.proxy, health_connection ...

    def __repr__(self) -> str:  # never the key or the password, whatever prints this
        return f"SshTarget({self.user}@{self.host}:{self.port})"

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def hop(self) -> str:
        """The address, with the hop named when it is not the plain connection."""
        return self.address if self.role == "connection" else f"{self.address} ({self.role})"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


def _private_key(target: SshTarget) -> paramiko.PKey:
    for key_type in _KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(target.private_key), target.private_key_password)
        except paramiko.PasswordRequiredException:
            raise SshError(f"{target.address}: the private key of {target.role} is encrypted; set "
                           f"{target.role}.private_key_password") from None
        except (paramiko.SSHException, ValueError):
            continue
    raise SshError(f"{target.address}: the private key of {target.role} is not an Ed25519, ECDSA or RSA key paramiko "
                   "can read (OpenSSH or PEM format)")


def _pinned_key(target: SshTarget) -> Optional[paramiko.PKey]:
    if not target.host_key:
        return None
    parts = target.host_key.split()
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1]))
    except (IndexError, ValueError, binascii.Error, paramiko.SSHException) as exc:
        raise SshError(f"{target.address}: {target.role}.host_key {target.host_key!r} is not a public key in "
                       f"authorized_keys format ({exc})") from None


class _SocketAgent(AgentSSH):
    """The keys of the SSH agent listening on one socket (paramiko's Agent only reads SSH_AUTH_SOCK, which is
    process-wide and so not safe to swap per connection)."""

    def __init__(self, path: str, target: SshTarget) -> None:
        super().__init__()
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(target.timeout)
        try:
            connection.connect(path)
            self._connect(connection)
        except (OSError, paramiko.SSHException) as exc:
            connection.close()
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SshError(f"{target.address}: cannot use the SSH agent at {path} ({target.role}.agent_socket_path): "
                           f"{reason}; start the agent there and add the key (ssh-add), or fix the path") from None

    def close(self) -> None:
        self._close()


def _authenticate(transport: paramiko.Transport, target: SshTarget) -> None:
    """pulumi-command's order: private key, else password (keyboard-interactive as fallback), else the agent."""
    try:
        if target.private_key:
            transport.auth_publickey(target.user, _private_key(target))
        elif target.password:
            transport.auth_password(target.user, target.password)
        else:
            path = target.agent_socket_path or os.environ.get("SSH_AUTH_SOCK")
            if not path:
                raise SshError(f"{target.address}: {target.role} has no private_key, password or agent_socket_path "
                               "(and SSH_AUTH_SOCK is not set)")
            agent = _SocketAgent(path, target)
            try:
                keys = agent.get_keys()
                for key in keys:
                    try:
                        transport.auth_publickey(target.user, key)
                        break
                    except paramiko.AuthenticationException:
                        continue
                if not transport.is_authenticated():
                    raise SshError(f"cannot log in to {target.hop}: the host accepted none of the "
                                   f"{len(keys)} key(s) in the SSH agent at {path}")
            finally:
                agent.close()
    except paramiko.AuthenticationException as exc:
        raise SshError(f"cannot log in to {target.hop}: {exc}") from None


def _handshake(target: SshTarget, sock: socket.socket | paramiko.Channel) -> paramiko.Transport:
    """SSH over ``sock``: the pinned host key checked before any authentication, then the login."""
    pinned = _pinned_key(target)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = target.timeout
    if pinned is not None:
        transport.get_security_options().key_types = _HOST_KEY_ALGORITHMS.get(pinned.get_name(), (pinned.get_name(),))
    try:
        transport.start_client(timeout=target.timeout)
        offered = transport.get_remote_server_key()
        if pinned is not None and (offered.get_name() != pinned.get_name() or offered.asbytes() != pinned.asbytes()):
            raise SshError(f"cannot connect to {target.hop}: its host key {offered.get_name()} "
                           f"{offered.get_base64()} is not the pinned {target.role}.host_key")
        _authenticate(transport, target)
    except paramiko.SSHException as exc:
        transport.close()
        message = str(exc)
        if pinned is not None and "no acceptable host key" in message:
            message = f"the host offered no key of the pinned {target.role}.host_key's type ({message})"
        raise SshError(f"cannot connect to {target.hop}: {message}") from None
    except BaseException:
        transport.close()
        raise
    return transport


def _dial(target: SshTarget) -> socket.socket:
    try:
        return socket.create_connection((target.host, target.port), timeout=target.timeout)
    except OSError as exc:
        raise SshError(f"cannot connect to {target.hop}: {exc.strerror or exc}") from None


class SshSession:
    """One SSH connection (through the bastion, if any); ``run`` as many commands over it as needed."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._transports: list[paramiko.Transport] = []  # bastion first, target last

    def __enter__(self) -> "SshSession":
        target = self.target
        for hop in (target.proxy, target):
            if hop is not None:
                _pinned_key(hop)  # a malformed pin fails before any connection
        try:
            if target.proxy is not None:
                bastion = _handshake(target.proxy, _dial(target.proxy))
                self._transports.append(bastion)
                try:
                    sock = bastion.open_channel("direct-tcpip", (target.host, target.port), ("", 0),
                                                timeout=target.timeout)
                except (paramiko.SSHException, OSError) as exc:
                    raise SshError(f"cannot connect to {target.address} through the bastion "
                                   f"{target.proxy.address} (connection.proxy): {exc}") from None
            else:
                sock = _dial(target)
            self._transports.append(_handshake(target, sock))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for transport in reversed(self._transports):  # the target before the bastion it runs through
            transport.close()
        self._transports.clear()

    def run(self, command: str, timeout: float = 3600.0) -> CommandResult:
        """Run ``command``; ``timeout`` bounds the whole command: a host that prints a byte a second, or never
        ends, cannot hold the run longer."""
        ends = time.monotonic() + timeout
        try:
            channel = self._transports[-1].open_session(timeout=self.target.timeout)
            channel.settimeout(0.2)
            channel.exec_command(command)
            channel.shutdown_write()
            stdout, stderr = bytearray(), bytearray()
            while True:
                got = False
                while channel.recv_ready():
                    stdout += channel.recv(65536)
                    got = True
                while channel.recv_stderr_ready():
                    stderr += channel.recv_stderr(65536)
                    got = True
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if time.monotonic() >= ends:
                    channel.close()
                    raise SshError(f"{self.target.address}: the command did not finish within {timeout:g} s")
                if not got:
                    channel.status_event.wait(0.05)
            return CommandResult(channel.recv_exit_status(), stdout.decode(errors="replace"),
                                 stderr.decode(errors="replace"))
        except (paramiko.SSHException, OSError, socket.timeout) as exc:
            raise SshError(f"{self.target.address}: the command could not run: {exc}") from None
