"""``HostHealthProvider``: the dynamic provider that reads a CertbotHost's health and repairs what drifted.

Pickled by reference (module path + class name, no state), so this module must stay importable with no side
effects, and its path and class name are frozen once stacks exist.

- ``check`` (every preview and up, for a host that exists): runs the read-only probe over SSH and puts what it
  found into the checked inputs, so the preview diff shows the problems in words and the new facts.
- ``diff``: a change when there is a problem, when a fact the outputs report (serial, expiry, timer, HTTPS)
  moved, or when an input changed. No SSH.
- ``create`` / ``update``: run the step scripts that repair the problems (only those), probe again, fail with the
  remaining problems if any. A healthy host gets no command at all.

Two connections: the reads (check, read, the read-ahead) use ``health_connection`` when it is given (a read-only
identity whose key can only run the installed probe), else the deploy connection; repairs always use the deploy
connection. So a pull request's preview needs the health key only, and an `up` with only that key fails naming why.
- ``read`` (refresh): probe, so the outputs are current.
- ``delete``: nothing; like the steps, the component leaves the host as it is.

The engine calls ``Check`` one resource at a time, so reading each host in its own ``check`` would make a preview of
20 hosts cost the sum of 20 reads. ``HostReadAheadProvider`` (the `<name>-health-read-ahead` child, registered
before the steps, active only at preview) starts the read in a background thread of this plugin process; the health
check's ``check`` then takes that result, so the reads of all hosts overlap.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any, Optional

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult
from pulumi.output import Unknown

from .health import Expectations, HostHealth, assess
from .ssh import CommandResult, SshError, SshSession, SshTarget

CONNECTION_KEYS = ("host", "port", "user", "private_key", "private_key_password", "password", "host_key",
                   "agent_socket_path", "proxy")
HEALTH_CONNECTION = "health_connection"
HEALTH_KEY = "health_public_key"  # the identity the health connection logs in as (the public key: not a secret)
EXPECTATION_KEYS = ("domains", "serve_https", "firewall", "renew_before_days", "web_server", "trust_required")
# What the probe found; the outputs report them, and a change of one shows in the preview.
TRACKED_FACTS = ("cert_name", "names", "renewal_timer_enabled", "renewal_timer_active", "https_verified", "problems")
# Reported, but a change alone is no change: a renewal by the timer moves serial and expiry every few weeks on every
# host, and is no news when nothing else is wrong (ARCHITECTURE.md, "Quiet renewals"). Refresh keeps them current.
FACTS = (*TRACKED_FACTS, "serial", "expires_at", "issuer", "days_left", "last_renewal_result", "last_renewal_at",
         "certbot_version")
# Scripts (probe, repairs) change with this project's code; the step commands show those changes, not this. So do
# web_server and staging (the certificate step's command).
UNTRACKED_INPUTS = ("probe", "repairs", "owner", "__provider", "web_server", "trust_required", *FACTS)


def _target(connection: dict[str, Any], role: str = "connection") -> SshTarget:
    """The SSH target of a connection as the props hold it (pulumi-command's field names; ``proxy`` nested)."""
    proxy = connection.get("proxy")
    return SshTarget(host=connection["host"], port=int(connection.get("port") or 22),
                     user=connection.get("user") or "root", private_key=connection.get("private_key") or None,
                     private_key_password=connection.get("private_key_password") or None,
                     password=connection.get("password") or None, host_key=connection.get("host_key") or None,
                     agent_socket_path=connection.get("agent_socket_path") or None,
                     proxy=_target(proxy, f"{role}.proxy") if proxy else None, role=role)


def _read_target(props: dict[str, Any], olds: Optional[dict[str, Any]] = None) -> SshTarget:
    """Where the reads go: the health identity when one is configured and the host has it, else the deploy
    connection. The host has it unless this run installs or changes it (``health_public_key`` differs from what the
    last `up` stored in ``olds``): until then only the deploy connection can read, so a preview of that change needs
    the deploy key."""
    health = props.get(HEALTH_CONNECTION)
    installed = olds is None or olds.get(HEALTH_KEY) == props.get(HEALTH_KEY)
    return _target(health, HEALTH_CONNECTION) if health and installed else _target(props)


def _expectations(props: dict[str, Any]) -> Expectations:
    return Expectations(tuple(props["domains"]), bool(props["serve_https"]), bool(props["firewall"]),
                        int(props["renew_before_days"]), props.get("web_server") or "nginx",
                        props.get("trust_required", True) is not False)


def _facts(health: HostHealth) -> dict[str, Any]:
    return {
        "cert_name": health.cert_name, "serial": health.serial, "names": list(health.names),
        "expires_at": health.expires_at, "days_left": health.days_left, "issuer": health.issuer,
        "renewal_timer_enabled": health.renewal_timer_enabled, "renewal_timer_active": health.renewal_timer_active,
        "last_renewal_result": health.last_renewal_result, "last_renewal_at": health.last_renewal_at,
        "certbot_version": health.certbot_version,
        "https_verified": health.https_verified, "problems": [str(problem) for problem in health.problems],
    }


def _tail(text: str, lines: int = 30) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _unknown_inside(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_unknown_inside(item) for item in value.values())
    return isinstance(value, Unknown)


def _has_unknowns(props: dict[str, Any]) -> bool:
    return any(_unknown_inside(props.get(key))
               for key in (*CONNECTION_KEYS, HEALTH_CONNECTION, "probe", *EXPECTATION_KEYS))


def _judge(result: CommandResult, props: dict[str, Any], address: str) -> HostHealth:
    if result.exit_status != 0:
        raise SshError(f"{props['owner']}: the health probe failed on {address} "
                       f"(exit {result.exit_status}):\n{_tail(result.stderr + result.stdout)}")
    return assess(result.stdout, _expectations(props), datetime.now(timezone.utc))


def _run_probe(session: SshSession, props: dict[str, Any]) -> CommandResult:
    return session.run(props["probe"], timeout=120)


def _read(props: dict[str, Any], target: SshTarget) -> CommandResult:
    """One SSH session that runs the probe."""
    with SshSession(target) as session:
        return _run_probe(session, props)


class _ReadsAhead:
    """Reads started early in this plugin process, each taken once by the health check of the same host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None  # made on first use: no threads at import
        self._started: dict[str, Future] = {}

    @staticmethod
    def key(props: dict[str, Any], target: SshTarget) -> str:
        identity = {key: props.get(key) for key in (*CONNECTION_KEYS, HEALTH_CONNECTION, HEALTH_KEY, "probe")}
        identity["read_as"] = target.role
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()

    def start(self, props: dict[str, Any], target: SshTarget) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="host-read-ahead")
            self._started[self.key(props, target)] = self._pool.submit(_read, props, target)

    def take(self, props: dict[str, Any], target: SshTarget) -> Optional[Future]:
        with self._lock:
            return self._started.pop(self.key(props, target), None)


READS_AHEAD = _ReadsAhead()


class HostReadAheadProvider(ResourceProvider):
    """Starts the health probe of an existing host at preview; stores nothing of its own, never changes."""

    serialize_as_secret_always = False

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if olds and news.get("enabled") is True and not _has_unknowns(news):
            READS_AHEAD.start(news, _read_target(news, olds))
        return CheckResult(news, [])

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        return DiffResult(changes=False, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["owner"], {"owner": props["owner"]})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None


class HostHealthProvider(ResourceProvider):
    serialize_as_secret_always = False  # nothing is captured; the key arrives as an input and stays secret there

    def _probe(self, session: SshSession, props: dict[str, Any]) -> HostHealth:
        return _judge(_run_probe(session, props), props, session.target.address)

    def _observe(self, props: dict[str, Any], olds: Optional[dict[str, Any]] = None) -> HostHealth:
        target = _read_target(props, olds)
        started = READS_AHEAD.take(props, target)
        return _judge(started.result() if started else _read(props, target), props, target.address)

    def _converge(self, props: dict[str, Any]) -> dict[str, Any]:
        """Repair what a probe finds, with the steps' own scripts (only those), then report the host. Over the
        deploy connection: the health identity can only read."""
        session = SshSession(_target(props))
        try:
            session.__enter__()
        except SshError as exc:
            raise SshError(f"{props['owner']}: `up` checks and repairs the host over the deploy connection, which "
                           f"failed: {exc}. A health-only identity can preview, not change the host: run `up` where "
                           "the deploy key is available (for example loaded into the agent)") from None
        with session:
            health = self._probe(session, props)
            repaired = health.repair_steps
            for step in repaired:
                result = session.run(props["repairs"][step])
                if result.exit_status != 0:
                    raise SshError(f"{props['owner']}: repairing {'; '.join(map(str, health.problems))}: the "
                                   f"{step} step failed (exit {result.exit_status}):\n"
                                   f"{_tail(result.stderr + result.stdout)}")
            if repaired:
                health = self._probe(session, props)
        if health.problems:
            after = f"after re-running the {', '.join(repaired)} step(s) " if repaired else ""
            raise SshError(f"{props['owner']}: {after}the host still has problems: "
                           f"{'; '.join(map(str, health.problems))}")
        return {**props, **_facts(health)}

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        inputs = {key: value for key, value in news.items() if key not in FACTS}
        # A host that exists is read at every preview and up; a new one is read by create, after its steps ran.
        if olds and not _has_unknowns(inputs):
            inputs.update(_facts(self._observe(inputs, olds)))
        return CheckResult(inputs, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed_inputs = [key for key in news if key not in UNTRACKED_INPUTS and news.get(key) != olds.get(key)]
        probed = "serial" in news or "problems" in news
        changed_facts = [key for key in TRACKED_FACTS if probed and news.get(key) != olds.get(key)]
        problems = bool(news.get("problems"))
        return DiffResult(changes=bool(changed_inputs or changed_facts or problems), replaces=[],
                          delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(props["owner"], self._converge(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._converge(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, {**props, **_facts(self._observe(props))})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None
