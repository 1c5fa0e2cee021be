"""Run a command on a host over SSH with paramiko, the way pulumi-command's ``remote.Command`` connects.

Used by the health provider, in the plugin process. The private key stays in memory (never written to disk or
logged); a pinned ``host_key`` is the only key accepted; without one any key is accepted, as pulumi-command does
(CertbotHost warns about that at construction).
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import socket
from dataclasses import dataclass
from typing import Optional

import paramiko

# paramiko logs failed handshakes with tracebacks; the SshError raised here says it once, in words.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_KEY_TYPES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class SshError(RuntimeError):
    """The host could not be reached, refused us, or a command failed; the message names host and port."""


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int = 22
    user: str = "root"
    private_key: Optional[str] = None
    private_key_password: Optional[str] = None
    password: Optional[str] = None
    host_key: Optional[str] = None  # "ssh-ed25519 AAAA...", as connection.host_key
    timeout: float = 15.0

    def __repr__(self) -> str:  # never the key or the password, whatever prints this
        return f"SshTarget({self.user}@{self.host}:{self.port})"

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


def _private_key(target: SshTarget) -> Optional[paramiko.PKey]:
    if not target.private_key:
        return None
    for key_type in _KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(target.private_key), target.private_key_password)
        except paramiko.PasswordRequiredException:
            raise SshError(f"{target.address}: the private key is encrypted; set connection.private_key_password")
        except (paramiko.SSHException, ValueError):
            continue
    raise SshError(f"{target.address}: the private key is not an Ed25519, ECDSA or RSA key paramiko can read "
                   "(OpenSSH or PEM format)")


def _pin_host_key(target: SshTarget, known: paramiko.HostKeys) -> None:
    """Add connection.host_key to ``known`` under the name paramiko looks up ("[host]:port" off port 22)."""
    entry = target.host if target.port == 22 else f"[{target.host}]:{target.port}"
    parts = (target.host_key or "").split()
    try:
        known.add(entry, parts[0], paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1])))
    except (IndexError, ValueError, binascii.Error, paramiko.SSHException) as exc:
        raise SshError(f"{target.address}: connection.host_key {target.host_key!r} is not a public key in "
                       f"authorized_keys format ({exc})") from None


class SshSession:
    """One SSH connection; ``run`` as many commands over it as needed."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._client = paramiko.SSHClient()

    def __enter__(self) -> "SshSession":
        client, target = self._client, self.target
        if target.host_key:
            _pin_host_key(target, client.get_host_keys())
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(target.host, port=target.port, username=target.user, pkey=_private_key(target),
                           password=target.password, timeout=target.timeout, banner_timeout=target.timeout,
                           auth_timeout=target.timeout, allow_agent=not (target.private_key or target.password),
                           look_for_keys=False)
        except paramiko.BadHostKeyException as exc:
            raise SshError(f"cannot connect to {target.address}: its host key {exc.key.get_name()} "
                           f"{exc.key.get_base64()} is not the pinned connection.host_key") from None
        except paramiko.ssh_exception.NoValidConnectionsError as exc:  # its own message drops the reason
            reasons = "; ".join(f"{address[0]}: {error.strerror or error}" for address, error in exc.errors.items())
            raise SshError(f"cannot connect to {target.address}: {reasons}") from None
        except paramiko.SSHException as exc:
            message = str(exc)
            if "not found in known_hosts" in message:
                message = f"the host offered a key of another type than the pinned connection.host_key ({message})"
            raise SshError(f"cannot connect to {target.address}: {message}") from None
        except (OSError, socket.timeout) as exc:
            raise SshError(f"cannot connect to {target.address}: {exc}") from None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._client.close()

    def run(self, command: str, timeout: float = 3600.0) -> CommandResult:
        try:
            stdin, stdout, stderr = self._client.exec_command(command, timeout=timeout)
            stdin.close()
            out = stdout.read().decode(errors="replace")
            err = stderr.read().decode(errors="replace")
            return CommandResult(stdout.channel.recv_exit_status(), out, err)
        except (paramiko.SSHException, OSError, socket.timeout) as exc:
            raise SshError(f"{self.target.address}: the command could not run: {exc}") from None
