"""What a CertbotHost should do, validated before anything runs on a host (pure, no pulumi import).

Every value that later reaches a shell script is checked here first; the scripts still quote it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Optional, Sequence

DISTROS = ("ubuntu", "debian", "rhel", "centos", "rocky", "almalinux", "fedora")
OS_FAMILIES = ("auto", *DISTROS)
DEBIAN_FAMILY = ("ubuntu", "debian")
WEB_SERVERS = ("nginx", "apache", "standalone", "webroot")
FIREWALLS = ("auto", "ufw", "firewalld", "none")
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
MAX_DOMAINS = 100  # Let's Encrypt's limit of identifiers per certificate
MAX_RENEW_BEFORE_DAYS = 89

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_CERT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_PORT = re.compile(r"([0-9]{1,5})(?:/(tcp|udp))?")
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._/-]*")
_URL = re.compile(r"https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?")
# An authorized_keys public key without options (the component adds its own restrictions): type, base64, comment.
_PUBLIC_KEY = re.compile(r"(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\.com|"
                         r"sk-ecdsa-sha2-nistp256@openssh\.com) ([A-Za-z0-9+/]+={0,2})(?: [^\x00-\x1f\x7f]*)?")
_USER = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
DEFAULT_HEALTH_USER = "dreamfactory-health"
_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_HOST = re.compile(r"[A-Za-z0-9.:-]{1,253}")  # a DNS name, an IPv4 or an IPv6 address


class CertbotConfigError(ValueError):
    """An argument of CertbotHost is unusable; the message names the argument and the fix."""


def _fail(field: str, reason: str) -> None:
    raise CertbotConfigError(f"CertbotHost argument {field!r}: {reason}")


def normalise_domain(domain: object, field: str = "domains") -> str:
    if not isinstance(domain, str) or not domain.strip():
        _fail(field, f"{domain!r} is not a domain name")
    name = domain.strip().lower().rstrip(".")
    if name.startswith("*."):
        _fail(field, f"{domain!r} is a wildcard: Let's Encrypt issues wildcards only over DNS-01, which the "
                     "nginx/apache/standalone/webroot (HTTP-01) modes cannot do; list each name instead")
    labels = name.split(".")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        _fail(field, f"{domain!r} is an IP address; give the DNS name that points at the host")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        _fail(field, f"{domain!r} is not a plain DNS name (letters, digits, hyphens and dots; IDNs as punycode; "
                         "no scheme, port, path or spaces)")
    return name


def normalise_email(email: object) -> str:
    if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
        _fail("email", f"{email!r} is not a plain e-mail address (no spaces, commas or display names)")
    if email.strip().startswith(("-", ".")):
        _fail("email", f"{email!r} starts with {email.strip()[0]!r}: certbot would read it as an option; give the "
                       "address as the mailbox spells it")
    local, _, domain = email.strip().rpartition("@")
    normalise_domain(domain, "email")
    return f"{local}@{domain.lower()}"


def _choice(field: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        _fail(field, f"{value!r} is not one of {', '.join(choices)}")
    return str(value)


def _port(value: object, field: str = "extra_ports") -> str:
    match = _PORT.fullmatch(str(value))
    if not match or not 0 < int(match.group(1)) < 65536:
        _fail(field, f"{value!r} is not a port such as 8443 or 8443/tcp")
    return f"{int(match.group(1))}/{match.group(2) or 'tcp'}"


def validate_host(host: object) -> str:
    """connection.host as the scripts may use it: a DNS name or an IP address, nothing a shell would act on."""
    if not isinstance(host, str) or not _HOST.fullmatch(host):
        _fail("connection.host", f"{host!r} is not a DNS name or an IP address")
    return host


@dataclass(frozen=True)
class CertbotSpec:
    """A validated CertbotHost request; field names follow the component's arguments."""

    domains: tuple[str, ...]
    email: str
    cert_name: Optional[str] = None  # None: the lineage this component manages on the host, else domains[0]
    owner: str = "certbot-host"  # the component's name: its records on the host live under it
    connection_host: Optional[str] = None  # the address SSH connects to (a NAT'd public address counts for DNS)
    verify_dns: bool = True
    block_other_services: bool = False
    os_family: str = "auto"
    web_server: str = "nginx"
    webroot_path: str = "/opt/dreamfactory/public"
    install_certificate: bool = True
    firewall: str = "auto"
    staging: bool = False
    eff_email: bool = False
    acme_server: Optional[str] = None
    acme_ca_bundle: Optional[str] = None
    extra_ports: tuple[str, ...] = ()
    ssh_port: int = 22
    upgrade_system: bool = False
    sudo: bool = False
    renew_before_days: int = 30  # the health check flags (and `up` renews) a certificate that expires sooner
    health_public_key: Optional[str] = None  # "type base64": up installs the read-only health identity with it
    health_user: str = DEFAULT_HEALTH_USER

    @property
    def certonly(self) -> bool:
        """standalone and webroot have no installer: they always run certonly."""
        return not self.install_certificate or self.web_server in ("standalone", "webroot")

    @property
    def server_url(self) -> Optional[str]:
        return self.acme_server or (LETS_ENCRYPT_STAGING if self.staging else None)


def build_spec(
    *,
    domains: object,
    email: object,
    agree_tos: object,
    cert_name: object = None,
    os_family: object = "auto",
    web_server: object = "nginx",
    webroot_path: object = "/opt/dreamfactory/public",
    install_certificate: object = True,
    firewall: object = "auto",
    staging: object = False,
    eff_email: object = False,
    acme_server: object = None,
    acme_ca_bundle: object = None,
    extra_ports: object = (),
    ssh_port: object = 22,
    upgrade_system: object = False,
    user: object = "root",
    owner: object = "certbot-host",
    host: object = None,
    verify_dns: object = True,
    block_other_services: object = False,
    renew_before_days: object = 30,
    health_public_key: object = None,
    health_user: object = DEFAULT_HEALTH_USER,
) -> CertbotSpec:
    """Validate every argument; raise CertbotConfigError naming the first bad one."""
    if agree_tos is not True:
        _fail("agree_tos", "must be True: certbot cannot run non-interactively without agreeing to the "
                           "ACME subscriber agreement (https://letsencrypt.org/repository/)")
    web_server = _choice("web_server", web_server, WEB_SERVERS)
    if isinstance(domains, str) or not isinstance(domains, (list, tuple)) or not domains:
        _fail("domains", "give a non-empty list of DNS names, e.g. ['df.example.com']")
    names: list[str] = []
    for domain in domains:
        name = normalise_domain(domain)
        if name not in names:
            names.append(name)
    if len(names) > MAX_DOMAINS:
        _fail("domains", f"{len(names)} names; a certificate holds at most {MAX_DOMAINS}")
    if cert_name is not None and (not isinstance(cert_name, str) or not _CERT_NAME.fullmatch(cert_name)):
        _fail("cert_name", f"{cert_name!r} must be letters, digits, '.', '_' or '-' (it becomes a directory name)")
    for flag_name, flag in (("install_certificate", install_certificate), ("staging", staging),
                            ("eff_email", eff_email), ("upgrade_system", upgrade_system),
                            ("verify_dns", verify_dns), ("block_other_services", block_other_services)):
        if not isinstance(flag, bool):
            _fail(flag_name, f"must be True or False, not {flag!r}")
    if acme_server is not None:
        if staging:
            _fail("acme_server", "set either staging=True or acme_server, not both (certbot refuses --staging with "
                                 "a custom --server)")
        if not isinstance(acme_server, str) or not _URL.fullmatch(acme_server):
            _fail("acme_server", f"{acme_server!r} must be an https:// ACME directory URL")
    if acme_ca_bundle is not None:
        if acme_server is None:
            _fail("acme_ca_bundle", "only applies with acme_server (Let's Encrypt's own certificate is trusted)")
        if not isinstance(acme_ca_bundle, str) or not _SAFE_PATH.fullmatch(acme_ca_bundle):
            _fail("acme_ca_bundle", f"{acme_ca_bundle!r} must be an absolute path on the host")
    if not isinstance(webroot_path, str) or not _SAFE_PATH.fullmatch(webroot_path) or "/.." in webroot_path:
        _fail("webroot_path", f"{webroot_path!r} must be an absolute path of letters, digits and ._-/")
    if isinstance(extra_ports, str) or not isinstance(extra_ports, (list, tuple)):
        _fail("extra_ports", "give a list such as ['8443/tcp']")
    if isinstance(ssh_port, bool) or not isinstance(ssh_port, (int, float)) or not 0 < int(ssh_port) < 65536:
        _fail("connection.port", f"{ssh_port!r} is not a TCP port")
    if not isinstance(user, str) or not _USER.fullmatch(user):
        _fail("connection.user", f"{user!r} is not a Unix user name")
    health_key = None
    if health_public_key is not None:
        match = _PUBLIC_KEY.fullmatch(health_public_key.strip()) if isinstance(health_public_key, str) else None
        if not match:
            _fail("health_public_key", "must be one public key line as in authorized_keys, without options, e.g. the "
                                       "content of id_ed25519_health.pub (ssh-keygen -t ed25519 -f id_ed25519_health)")
        health_key = f"{match.group(1)} {match.group(2)}"
    if not isinstance(health_user, str) or not _USER.fullmatch(health_user) or health_user in ("root", user):
        _fail("health_connection.user", f"{health_user!r} must be a Unix user name other than root and the deploy "
                                        "user: the health identity gets its own unprivileged user")
    if host is not None:
        validate_host(host)
    # Whole days; 3.0 arrives from the engine as a float. Under 90: Let's Encrypt certificates last 90 days or less.
    if isinstance(renew_before_days, bool) or not isinstance(renew_before_days, (int, float)) \
            or renew_before_days != int(renew_before_days) or not 1 <= renew_before_days <= MAX_RENEW_BEFORE_DAYS:
        _fail("renew_before_days", f"{renew_before_days!r} must be a whole number of days from 1 to "
                                   f"{MAX_RENEW_BEFORE_DAYS} (certificates from Let's Encrypt last 90 days)")
    # The name becomes the component's folder on the host (/var/lib/dreamfactory-infra/<name>): '.', '..' or a
    # leading '-' would point elsewhere or read as an option.
    if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
        _fail("resource_name", f"{owner!r} must start with a letter or digit and hold only letters, digits and "
                               "'.', '_', '-' (at most 100): it names the component's folder on the host")
    return CertbotSpec(
        domains=tuple(names),
        email=normalise_email(email),
        cert_name=cert_name,
        owner=owner,
        connection_host=host,
        verify_dns=verify_dns,
        block_other_services=block_other_services,
        os_family=_choice("os_family", os_family, OS_FAMILIES),
        web_server=web_server,
        webroot_path=webroot_path.rstrip("/") or "/",
        install_certificate=install_certificate,
        firewall=_choice("firewall", firewall, FIREWALLS),
        staging=staging,
        eff_email=eff_email,
        acme_server=acme_server,
        acme_ca_bundle=acme_ca_bundle,
        extra_ports=tuple(dict.fromkeys(_port(port) for port in extra_ports)),
        ssh_port=int(ssh_port),
        upgrade_system=upgrade_system,
        sudo=user != "root",
        renew_before_days=int(renew_before_days),
        health_public_key=health_key,
        health_user=health_user,
    )
