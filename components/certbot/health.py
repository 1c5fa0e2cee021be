"""Judge a CertbotHost's health from what the read-only probe printed (pure, no pulumi import).

The probe (``steps/health.sh``) only reports facts; this module decides what is wrong, says it in words an operator
can act on, and names the step whose script repairs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Optional

from .scripts import RENEWAL_SERVICE, RENEWAL_TIMER, STEPS, parse_outputs
from .spec import CertbotSpec


@dataclass(frozen=True)
class Expectations:
    """What a healthy host looks like, from the component's arguments."""

    domains: tuple[str, ...]
    serve_https: bool  # installed mode: HTTPS must serve the live certificate for every domain
    firewall: bool  # the firewall step runs (firewall != "none")
    renew_before_days: int
    web_server: str = "nginx"  # whose reload a renewal relies on (installed nginx/apache; webroot's deploy hook)
    trust_required: bool = True  # False for staging, whose root no client trusts

    @classmethod
    def from_spec(cls, spec: CertbotSpec) -> "Expectations":
        return cls(spec.domains, not spec.certonly, spec.firewall != "none", spec.renew_before_days,
                   spec.web_server, not spec.staging)


@dataclass(frozen=True)
class Problem:
    step: Optional[str]  # the step whose script repairs it; None: no step can, a person must (``fix`` says how)
    reason: str
    fix: str = ""

    def __str__(self) -> str:
        if self.step is None:
            return f"{self.reason} (fix by hand: {self.fix})"
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
    last_renewal_at: Optional[str]  # when that run ended, as systemd says it (None before any run)
    certbot_version: Optional[str]
    https_verified: bool  # every domain is served the live certificate in a chain that verifies for its name
    problems: tuple[Problem, ...] = field(default=())

    @property
    def repair_steps(self) -> tuple[str, ...]:
        """The steps to run again, in the order the component runs them."""
        wanted = {problem.step for problem in self.problems}
        return tuple(step for step in STEPS if step in wanted)


# openssl verify's error codes (X509_V_ERR_*) for the chain a host serves, in an operator's words.
UNTRUSTED_ISSUER = "its issuer is not trusted (no chain to a root in the host's trust store or acme_ca_bundle; " \
                   "is the intermediate certificate missing?)"
VERIFY_ERRORS = {
    2: UNTRUSTED_ISSUER, 20: UNTRUSTED_ISSUER, 21: UNTRUSTED_ISSUER,
    18: "it is self-signed", 19: "its chain ends in a root no client trusts (self-signed certificate in the chain)",
    9: "a certificate in the chain is not yet valid", 10: "a certificate in the chain has expired",
    62: "it is not valid for this name (name mismatch)",
}


def verify_error(code: int) -> str:
    return VERIFY_ERRORS.get(code, f"openssl verify fails with error {code}")
def days_until(expires_at: str, now: datetime) -> int:
    """Whole days from ``now`` to an ``expires_at`` such as 2026-12-31T10:00:00Z (negative once expired)."""
    expiry = datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int((expiry - now).total_seconds() // 86400)


@dataclass(frozen=True)
class Served:
    serial: str  # "" when nothing answered
    verify_code: int  # openssl verify's error for the chain, for the name; 0: trusted


def _served(line: str) -> dict[str, Served]:
    """``served=a.example:0A1B:0 b.example:-:-`` -> {"a.example": Served("0A1B", 0), "b.example": Served("", -1)}."""
    served = {}
    for item in line.split():
        domain, _, rest = item.partition(":")
        serial, _, code = rest.partition(":")
        served[domain] = Served("" if serial == "-" else serial, int(code) if code.isdigit() else -1)
    return served


def _lineage_problems(facts: dict[str, str], cert_name: str, expect: Expectations) -> list[Problem]:
    """What stops certbot from renewing the lineage, or a renewed certificate from being served."""
    problems = []
    conf = f"/etc/letsencrypt/renewal/{cert_name}.conf"
    state = facts.get("renewal_conf", "present")
    if state != "present":
        problems.append(Problem("certificate", f"certbot has no readable renewal configuration for {cert_name} "
                                               f"({conf} is {state}), so nothing will renew it"))
        return problems
    if facts.get("renewal_paths_wrong"):
        problems.append(Problem("certificate", f"{conf} does not name the live certificate's files "
                                               f"({facts['renewal_paths_wrong']}), so renewal would not reach "
                                               "what is served"))
    if facts.get("account_present") == "false":
        problems.append(Problem("certificate", f"the ACME account {facts.get('account') or '(none named)'} that "
                                               f"{conf} renews with is missing from /etc/letsencrypt/accounts, so "
                                               "renewal would fail"))
    installer = facts.get("renewal_installer", "")
    if expect.serve_https and expect.web_server in ("nginx", "apache") and installer != expect.web_server:
        problems.append(Problem("certificate", f"renewal of {cert_name} does not reload {expect.web_server} (its "
                                               f"installer is {installer or 'none'}), so a renewed certificate would "
                                               "not be served"))
    if expect.web_server == "webroot" and not facts.get("renewal_deploy_hook"):
        problems.append(Problem("certificate", f"renewal of {cert_name} has no deploy hook, so no web server "
                                               "reloads a renewed certificate"))
    return problems


def _reload_problems(facts: dict[str, str]) -> list[Problem]:
    tests = {"nginx": "nginx -t", "apache": "apachectl configtest"}
    return [Problem(None, f"`{test}` fails, so the reload after a renewal would fail and the renewed certificate "
                          f"would not be served: {facts[f'reload_{server}']}",
                    fix=f"correct the {server} configuration until `{test}` passes")
            for server, test in tests.items() if facts.get(f"reload_{server}")]


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
    nothing = Served("", -1)
    https_verified = serial is not None and all(
        served.get(domain, nothing).serial == serial and served.get(domain, nothing).verify_code == 0
        for domain in expect.domains)
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
                answer = served.get(domain, nothing)
                if answer.serial != serial:
                    untrusted = f"; that chain does not verify: {verify_error(answer.verify_code)}" \
                        if answer.verify_code > 0 else ""
                    problem("certificate", f"HTTPS serves serial {answer.serial or 'none'} for {domain}, "
                                           f"live is {serial}{untrusted}")
                elif answer.verify_code != 0 and expect.trust_required:
                    problem("certificate", f"HTTPS serves the live certificate for {domain} in a chain that does "
                                           f"not verify: {verify_error(answer.verify_code)}")
        problems.extend(_lineage_problems(facts, cert_name, expect))

    last_result = facts.get("last_renewal", "")
    last_at = facts.get("last_renewal_at") or None
    if last_result not in ("", "success"):
        problem("renewal", f"the last run of {RENEWAL_SERVICE}{f' ({last_at})' if last_at else ''} ended with "
                           f"'{last_result}', and the next would fail the same way")
    problems.extend(_reload_problems(facts))

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
        last_renewal_result=last_result, last_renewal_at=last_at, certbot_version=certbot_version,
        https_verified=https_verified, problems=tuple(problems),
    )
