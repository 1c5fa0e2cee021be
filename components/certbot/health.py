"""Judge a CertbotHost's health from what the read-only probe printed (pure, no pulumi import).

The probe (``steps/health.sh``) only reports facts; this module decides what is wrong, says it in words an operator
can act on, and names the step whose script repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from .scripts import RENEWAL_TIMER, STEPS, parse_outputs
from .spec import CertbotSpec


@dataclass(frozen=True)
class Expectations:
    """What a healthy host looks like, from the component's arguments."""

    domains: tuple[str, ...]
    serve_https: bool  # installed mode: HTTPS must serve the live certificate for every domain
    firewall: bool  # the firewall step runs (firewall != "none")
    renew_before_days: int

    @classmethod
    def from_spec(cls, spec: CertbotSpec) -> "Expectations":
        return cls(spec.domains, not spec.certonly, spec.firewall != "none", spec.renew_before_days)


@dataclass(frozen=True)
class Problem:
    step: str  # the step whose script repairs it
    reason: str

    def __str__(self) -> str:
        return f"{self.reason} (up re-runs the {self.step} step)"


@dataclass(frozen=True)
class HostHealth:
    """The host as the probe saw it, and what is wrong with it."""

    cert_name: str
    serial: Optional[str]
    names: tuple[str, ...]
    expires_at: Optional[str]
    days_left: Optional[int]
    issuer: Optional[str]
    renewal_timer_enabled: bool
    renewal_timer_active: bool
    last_renewal_result: str  # systemd's Result of the last renewal run ("success"; "" when it never ran)
    certbot_version: Optional[str]
    https_verified: bool
    problems: tuple[Problem, ...] = field(default=())

    @property
    def repair_steps(self) -> tuple[str, ...]:
        """The steps to run again, in the order the component runs them."""
        wanted = {problem.step for problem in self.problems}
        return tuple(step for step in STEPS if step in wanted)


def days_until(expires_at: str, now: datetime) -> int:
    """Whole days from ``now`` to an ``expires_at`` such as 2026-12-31T10:00:00Z (negative once expired)."""
    expiry = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int((expiry - now).total_seconds() // 86400)


def _served(line: str) -> dict[str, str]:
    """``served=a.example:0A1B b.example:`` -> {"a.example": "0A1B", "b.example": ""}."""
    pairs = (item.rpartition(":") for item in line.split())
    return {domain: serial for domain, _, serial in pairs if domain}


def assess(probe_stdout: str, expect: Expectations, now: datetime) -> HostHealth:
    """Facts and problems of one host from the probe's output."""
    facts = parse_outputs(probe_stdout)
    problems: list[Problem] = []

    def problem(step: str, reason: str) -> None:
        problems.append(Problem(step, reason))

    if facts.get("snapd") == "missing":
        problem("snapd", "snapd is not installed")
    certbot_version = facts.get("certbot_snap") or None
    if certbot_version is None:
        problem("certbot", "the certbot snap is not installed")

    cert_name = facts.get("cert_name", "")
    serial = facts.get("serial") or None
    names = tuple(name for name in facts.get("names", "").split(",") if name)
    expires_at = facts.get("expires_at") or None
    days_left = days_until(expires_at, now) if expires_at else None
    served = _served(facts.get("served", ""))
    https_verified = serial is not None and all(served.get(domain) == serial for domain in expect.domains)
    if serial is None:
        problem("certificate", f"there is no live certificate {cert_name}")
    else:
        if set(names) != set(expect.domains):
            problem("certificate", f"certificate {cert_name} covers {', '.join(names) or 'no names'}; "
                                   f"domains are {', '.join(expect.domains)}")
        if days_left is not None and days_left < expect.renew_before_days:
            when = f"expires in {days_left} days" if days_left >= 0 else f"expired {-days_left} days ago"
            problem("renewal", f"certificate {cert_name} {when} (renew_before_days={expect.renew_before_days})")
        if expect.serve_https:
            for domain in expect.domains:
                if served.get(domain) != serial:
                    problem("certificate", f"HTTPS serves serial {served.get(domain) or 'none'} for {domain}, "
                                           f"live is {serial}")

    timer_enabled = facts.get("timer_enabled") == "true"
    timer_active = facts.get("timer_active") == "true"
    if not timer_enabled:
        problem("renewal", f"renewal timer {RENEWAL_TIMER} is disabled")
    elif not timer_active:
        problem("renewal", f"renewal timer {RENEWAL_TIMER} is inactive")

    if expect.firewall:
        tool = facts.get("firewall", "firewall")
        if facts.get("firewall_active") != "true":
            problem("firewall", f"{tool} is not active")
        for rule in filter(None, facts.get("firewall_missing", "").split(",")):
            problem("firewall", f"{rule} not allowed by {tool}")

    return HostHealth(
        cert_name=cert_name, serial=serial, names=names, expires_at=expires_at, days_left=days_left,
        issuer=facts.get("issuer") or None, renewal_timer_enabled=timer_enabled, renewal_timer_active=timer_active,
        last_renewal_result=facts.get("last_renewal", ""), certbot_version=certbot_version,
        https_verified=https_verified, problems=tuple(problems),
    )
