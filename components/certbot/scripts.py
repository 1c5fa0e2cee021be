"""Render the bash script of each CertbotHost step (pure, no pulumi import).

Layout of every script: ``set -euo pipefail`` and helpers (``steps/preamble.sh``), then every value as a
``shlex.quote``d variable, then a static body (``steps/<step>.sh``) that only reads those variables. Bodies check
state before changing anything, so a second run changes nothing; each line of output starts with the step's name
and the last line says whether anything changed. Facts behind the commands: ../shared/reference/certbot-hosts.md.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional, Sequence

from .spec import CertbotSpec

STEPS = ("firewall", "snapd", "certbot", "certificate", "renewal")
HEALTH_IDENTITY = "health-identity"  # a step only when health_public_key is set; its delete removes what it installed
HEALTH_PROBE = "health"
LETS_ENCRYPT_PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
RENEWAL_TIMER = "snap.certbot.renew.timer"
RENEWAL_SERVICE = "snap.certbot.renew.service"
CA_DROPIN = f"/etc/systemd/system/{RENEWAL_SERVICE}.d/dreamfactory-infra-ca.conf"
# Earlier versions installed this one global hook; the renewal step removes it (hooks are per lineage now).
LEGACY_DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/dreamfactory-infra-reload"
STATE_ROOT = "/var/lib/dreamfactory-infra"

STEP_DIR = Path(__file__).with_name("steps")


def _body(name: str) -> str:
    """A step body from ``steps/<name>.sh`` (shell files, so shellcheck and editors read them directly)."""
    return (STEP_DIR / f"{name}.sh").read_text()


PREAMBLE = _body("preamble")
BODIES = {"firewall": _body("firewall"), "snapd": _body("snapd"), "certbot": _body("certbot"),
          "certificate": _body("certbot_helpers") + _body("lineage") + _body("certificate"),
          "renewal": _body("certbot_helpers") + _body("lineage") + _body("renewal"),
          HEALTH_IDENTITY: _body("health_identity"),
          # Not a step: the read-only health probe (health.py judges what it prints).
          HEALTH_PROBE: _body("lineage") + _body("health")}


def _assign(name: str, value: object) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{name}={shlex.quote('' if value is None else str(value))}"


def _array(name: str, values: Sequence[str]) -> str:
    return f"{name}=({' '.join(shlex.quote(value) for value in values)})"


def _variables(step: str, spec: CertbotSpec) -> list[str]:
    lines = [_assign("STEP", step), _assign("OS_FAMILY_WANTED", spec.os_family), _assign("OWNER", spec.owner),
             _assign("STATE_ROOT", STATE_ROOT)]
    if step in ("firewall", HEALTH_PROBE):
        lines += [_assign("FIREWALL_WANTED", spec.firewall), _array("EXTRA_PORTS", spec.extra_ports)]
    if step == "firewall":
        lines += [_assign("CONNECTION_PORT", spec.ssh_port), _assign("BLOCK_OTHER_SERVICES", spec.block_other_services)]
    elif step == "snapd":
        lines.append(_assign("UPGRADE_SYSTEM", spec.upgrade_system))
    if step in ("certificate", "renewal", HEALTH_PROBE):
        lines += [_array("DOMAINS", spec.domains), _assign("CERT_NAME_WANTED", spec.cert_name)]
    if step in ("renewal", HEALTH_PROBE):
        lines += [_assign("RENEWAL_TIMER", RENEWAL_TIMER), _assign("RENEWAL_SERVICE", RENEWAL_SERVICE)]
    if step in ("certificate", "renewal", HEALTH_PROBE):
        lines.append(_assign("ACME_CA_BUNDLE", spec.acme_ca_bundle))  # trusted beside the system's roots
    if step in ("certificate", "renewal"):
        lines += [
            _assign("ACME_SERVER", spec.acme_server),
            _assign("SERVER", spec.server_url or LETS_ENCRYPT_PRODUCTION),
        ]
    if step == "certificate":
        lines += [
            _assign("WEB_SERVER", spec.web_server),
            _assign("EMAIL", spec.email),
            _assign("WEBROOT_PATH", spec.webroot_path),
            _assign("CERTONLY", spec.certonly),
            _assign("STAGING", spec.staging),
            _assign("EFF_EMAIL", spec.eff_email),
            _assign("CONNECTION_HOST", spec.connection_host),
            _assign("VERIFY_DNS", spec.verify_dns),
            _assign("LETS_ENCRYPT_PRODUCTION", LETS_ENCRYPT_PRODUCTION),
        ]
    elif step == "renewal":
        lines += [
            _assign("CA_DROPIN", CA_DROPIN),
            _assign("LEGACY_DEPLOY_HOOK", LEGACY_DEPLOY_HOOK),
            _assign("RENEW_BEFORE_DAYS", spec.renew_before_days),
        ]
    elif step == HEALTH_IDENTITY:
        lines += [
            _assign("HEALTH_USER", spec.health_user),
            _assign("HEALTH_PUBLIC_KEY", spec.health_public_key),
            # The probe it installs, values baked in; nothing of it depends on the connection's address.
            _assign("PROBE_SCRIPT", render_script(HEALTH_PROBE, spec) if spec.health_public_key else None),
        ]
    return lines


def render_script(step: str, spec: CertbotSpec) -> str:
    """The complete bash script of ``step`` for ``spec``."""
    if step not in BODIES:
        raise ValueError(f"unknown step {step!r}; steps are {', '.join(STEPS)} (and the probe {HEALTH_PROBE!r})")
    header = f"#!/usr/bin/env bash\n# dreamfactory-infra CertbotHost step: {step}\n"
    return header + PREAMBLE + "\n".join(_variables(step, spec)) + "\n" + BODIES[step]


def as_remote_command(script: str, sudo: bool) -> str:
    """What the SSH session runs, in whatever login shell the user has (dash, sh, bash): always bash, as root or
    under ``sudo -n``, with the session's ``$SSH_CONNECTION`` as the script's one argument (sudo drops it)."""
    bash = f"bash -c {shlex.quote(script)} dreamfactory-infra \"${{SSH_CONNECTION:-}}\"\n"
    if not sudo:
        return f"exec {bash}"
    return (
        "sudo -n true 2>/dev/null || { echo 'the SSH user needs passwordless sudo (sudo -n) to run CertbotHost "
        "steps' >&2; exit 1; }\n"
        f"exec sudo -n {bash}"
    )


def steps_for(spec: CertbotSpec) -> tuple[str, ...]:
    """The steps to run, in order; firewall="none" drops the firewall step, health_public_key adds the health
    identity."""
    steps = tuple(step for step in STEPS if step != "firewall" or spec.firewall != "none")
    return (*steps, HEALTH_IDENTITY) if spec.health_public_key else steps


def parse_outputs(stdout: Optional[str]) -> dict[str, str]:
    """``key=value`` lines a step printed (cert_name, expires_at, serial, names, https_verified, renewal_timer)."""
    values: dict[str, str] = {}
    for line in (stdout or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier() and " " not in key:
            values[key] = value.strip()
    return values
