"""``CertbotHost``: a DreamFactory web host prepared for Let's Encrypt TLS over SSH, one command per step."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Optional, Sequence

import pulumi
from pulumi_command import remote

from .health import Expectations, days_until
from .health_resource import HostHealthCheck, HostReadAhead
from .scripts import HEALTH_IDENTITY, HEALTH_PROBE, as_remote_command, parse_outputs, render_script, steps_for
from .spec import DEFAULT_HEALTH_USER, CertbotConfigError, CertbotSpec, build_spec, validate_host


class CertbotHostArgumentError(CertbotConfigError, pulumi.RunError):
    """An unusable CertbotHost argument, raised from the program as a RunError: the engine prints its message as one
    `error:` line instead of a traceback."""


def _plain(value: object, default: object, field: str) -> object:
    """A connection field the scripts depend on must be known when the program runs, not an Output."""
    if value is None:
        return default
    if isinstance(value, pulumi.Output):
        raise CertbotConfigError(f"CertbotHost argument {field!r} must be a plain value, not an Output: it decides "
                                 "how the step scripts are written")
    return value


def _stdout_value(command: remote.Command, key: str) -> pulumi.Output[Optional[str]]:
    return command.stdout.apply(lambda stdout: parse_outputs(stdout).get(key))


def _script(step: str, spec: CertbotSpec, host: pulumi.Input[str]) -> pulumi.Input[str]:
    """The step's remote command; connection.host may be an Output (a VM's address), so render when it is known."""
    def render(address: str) -> str:
        return as_remote_command(render_script(step, replace(spec, connection_host=validate_host(address))), spec.sudo)
    return pulumi.Output.from_input(host).apply(render) if isinstance(host, pulumi.Output) else render(host)


class CertbotHost(pulumi.ComponentResource):
    """Firewall, snapd, certbot (classic snap), the certificate and verified renewal on one host."""

    cert_name: pulumi.Output[str]
    certificate_path: pulumi.Output[str]
    private_key_path: pulumi.Output[str]
    expires_at: pulumi.Output[Optional[str]]
    renewal_timer: pulumi.Output[Optional[str]]
    https_verified: pulumi.Output[bool]
    days_left: pulumi.Output[Optional[int]]
    renewal_timer_active: pulumi.Output[bool]
    problems: pulumi.Output[list]  # what the last read found wrong, in words (empty when healthy)

    def __init__(
        self,
        resource_name: str,
        *,
        connection: remote.ConnectionArgs,
        domains: Sequence[str],
        email: str,
        agree_tos: bool = False,
        os_family: str = "auto",
        web_server: str = "nginx",
        webroot_path: str = "/opt/dreamfactory/public",
        install_certificate: bool = True,
        firewall: str = "auto",
        staging: bool = False,
        eff_email: bool = False,
        acme_server: Optional[str] = None,
        acme_ca_bundle: Optional[str] = None,
        cert_name: Optional[str] = None,
        extra_ports: Sequence[str] = (),
        upgrade_system: bool = False,
        verify_dns: bool = True,
        block_other_services: bool = False,
        renew_before_days: int = 30,
        health_public_key: Optional[str] = None,
        health_connection: Optional[remote.ConnectionArgs] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        # Validate everything before registering anything: bad input must not reach a host.
        try:
            health_user = DEFAULT_HEALTH_USER if health_connection is None else \
                _plain(health_connection.user, DEFAULT_HEALTH_USER, "health_connection.user")
            spec = build_spec(
                domains=domains, email=email, agree_tos=agree_tos, cert_name=cert_name, os_family=os_family,
                web_server=web_server, webroot_path=webroot_path, install_certificate=install_certificate,
                firewall=firewall, staging=staging, eff_email=eff_email, acme_server=acme_server,
                acme_ca_bundle=acme_ca_bundle, extra_ports=extra_ports, upgrade_system=upgrade_system,
                verify_dns=verify_dns, block_other_services=block_other_services, owner=resource_name,
                renew_before_days=renew_before_days, health_public_key=health_public_key, health_user=health_user,
                ssh_port=_plain(connection.port, 22, "connection.port"),
                user=_plain(connection.user, "root", "connection.user"),
                host=None if isinstance(connection.host, pulumi.Output) else connection.host,
            )
        except CertbotConfigError as exc:
            raise CertbotHostArgumentError(f"CertbotHost {resource_name!r}: {exc}") from None

        # Registered as the component's inputs so that policy packs can check them (policy/rules.py).
        policy_view = {"domains": list(spec.domains), "web_server": spec.web_server, "staging": spec.staging,
                       "acme_server": spec.acme_server, "host_key_pinned": connection.host_key is not None,
                       "health_identity": spec.health_public_key is not None,
                       "private_key_in_config": any(c is not None and c.private_key is not None
                                                    for c in (connection, connection.proxy, health_connection))}
        super().__init__("dreamfactory:certbot:CertbotHost", resource_name, policy_view, opts)
        if connection.host_key is None:
            pulumi.log.warn(f"{resource_name}: no connection.host_key, so the host's SSH key is not verified; "
                            "pin it (ssh-keyscan over a trusted path) for production", resource=self)

        probe = _script(HEALTH_PROBE, spec, connection.host)
        HostReadAhead(f"{resource_name}-health-read-ahead", connection=connection,
                      health_connection=health_connection, health_public_key=spec.health_public_key,
                      owner=resource_name, probe=probe,
                      opts=pulumi.ResourceOptions(parent=self))
        commands: dict[str, remote.Command] = {}
        previous: Optional[remote.Command] = None
        for step in steps_for(spec):
            # The renewal check must run again whenever a new certificate was issued.
            triggers = [_stdout_value(commands["certificate"], "serial")] if step == "renewal" else None
            # The health identity's delete (health_public_key removed) removes what its create installed.
            removal = _script(step, replace(spec, health_public_key=None), connection.host) \
                if step == HEALTH_IDENTITY else None
            previous = commands[step] = remote.Command(
                f"{resource_name}-{step}",
                connection=connection,
                create=_script(step, spec, connection.host),
                delete=removal,
                triggers=triggers,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[previous] if previous else None),
            )

        # Read at every preview, refresh and up (remote.Command has no read); repairs with the steps' own scripts.
        health = HostHealthCheck(
            f"{resource_name}-health",
            connection=connection,
            health_connection=health_connection,
            health_public_key=spec.health_public_key,
            owner=resource_name,
            expectations=Expectations.from_spec(spec),
            probe=probe,
            repairs={step: command.create for step, command in commands.items() if step != HEALTH_IDENTITY},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[previous]),
        )
        # The provider cannot reach the engine's log (pulumi/pulumi#20409), so the program says what the preview
        # will repair.
        health.problems.apply(lambda problems: [pulumi.log.warn(problem, resource=self) for problem in problems or ()])

        # The lineage is decided on the host (the one this component already manages keeps its name).
        self.cert_name = _stdout_value(commands["certificate"], "cert_name")
        self.certificate_path = self.cert_name.apply(lambda name: f"/etc/letsencrypt/live/{name}/fullchain.pem")
        self.private_key_path = self.cert_name.apply(lambda name: f"/etc/letsencrypt/live/{name}/privkey.pem")
        self.renewal_timer = _stdout_value(commands["renewal"], "renewal_timer")
        # What the host looks like now (read at this run), not what the steps saw when they last ran.
        self.expires_at = health.expires_at
        self.days_left = health.expires_at.apply(
            lambda expires_at: days_until(expires_at, datetime.now(timezone.utc)) if expires_at else None)
        self.https_verified = health.https_verified
        self.renewal_timer_active = health.renewal_timer_active
        self.problems = health.problems.apply(lambda problems: list(problems or []))
        self.register_outputs({
            "problems": self.problems,
            "cert_name": self.cert_name,
            "certificate_path": self.certificate_path,
            "private_key_path": self.private_key_path,
            "expires_at": self.expires_at,
            "days_left": self.days_left,
            "renewal_timer": self.renewal_timer,
            "renewal_timer_active": self.renewal_timer_active,
            "https_verified": self.https_verified,
        })
