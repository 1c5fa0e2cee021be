"""The health children of a CertbotHost: `<name>-health` (``HostHealthCheck``), read at every preview, refresh and up,
and `<name>-health-read-ahead` (``HostReadAhead``), which starts that read early at preview."""

from __future__ import annotations

from typing import Optional

import pulumi
from pulumi.dynamic import Resource
from pulumi_command import remote

from ..dynamic_resources import register
from .health import Expectations
from .health_provider import (CONNECTION_KEYS, FACTS, HEALTH_CONNECTION, HEALTH_KEY, HostHealthProvider,
                              HostReadAheadProvider)

SECRET_KEYS = ["private_key", "private_key_password", "password"]
# Nested connections (a bastion, the health identity) are kept secret whole, as pulumi-command keeps `connection`.
NESTED_CONNECTIONS = ["proxy", HEALTH_CONNECTION]


def _connection_props(connection: remote.ConnectionArgs | remote.ProxyConnectionArgs) -> dict:
    """pulumi-command's connection fields, the bastion hop nested; secrets secret whether or not the caller made
    them so."""
    props: dict = {key: getattr(connection, key, None) for key in CONNECTION_KEYS}
    props.update({key: pulumi.Output.secret(props[key]) for key in SECRET_KEYS if props[key] is not None})
    proxy = props.get("proxy")
    props["proxy"] = pulumi.Output.secret(_connection_props(proxy)) if proxy is not None else None
    return props


def _connections(connection: remote.ConnectionArgs, health_connection: Optional[remote.ConnectionArgs],
                 health_public_key: Optional[str]) -> dict:
    """The deploy connection (flat), the health identity's (nested) and the public key it logs in with, by which
    the provider knows whether the host has that identity yet."""
    health = None if health_connection is None else pulumi.Output.secret(_connection_props(health_connection))
    return {**_connection_props(connection), HEALTH_CONNECTION: health, HEALTH_KEY: health_public_key}


def _secret_outputs(opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=[*SECRET_KEYS, *NESTED_CONNECTIONS]))


class HostHealthCheck(Resource, module="certbot", name="HostHealthCheck"):
    """What the host looks like now, and the repair of what drifted (see ``health_provider``)."""

    cert_name: pulumi.Output[str]
    serial: pulumi.Output[Optional[str]]
    names: pulumi.Output[list]
    expires_at: pulumi.Output[Optional[str]]
    issuer: pulumi.Output[Optional[str]]
    renewal_timer_enabled: pulumi.Output[bool]
    renewal_timer_active: pulumi.Output[bool]
    last_renewal_result: pulumi.Output[str]
    last_renewal_at: pulumi.Output[Optional[str]]
    certbot_version: pulumi.Output[Optional[str]]
    https_verified: pulumi.Output[bool]
    problems: pulumi.Output[list]

    def __init__(self, resource_name: str, *, connection: remote.ConnectionArgs,
                 health_connection: Optional[remote.ConnectionArgs], health_public_key: Optional[str], owner: str,
                 expectations: Expectations, probe: pulumi.Input[str], repairs: dict[str, pulumi.Input[str]],
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        props = _connections(connection, health_connection, health_public_key)
        props.update(owner=owner, probe=probe, repairs=repairs, domains=list(expectations.domains),
                     serve_https=expectations.serve_https, firewall=expectations.firewall,
                     renew_before_days=expectations.renew_before_days, web_server=expectations.web_server,
                     trust_required=expectations.trust_required)
        props.update({fact: None for fact in FACTS})  # outputs only: declared so that they become attributes
        register(self, self._resource_type_name, resource_name, props, HostHealthProvider, _secret_outputs(opts))


class HostReadAhead(Resource, module="certbot", name="HostReadAhead"):
    """Starts the health check's read of an existing host at preview, before the steps and the other hosts'
    registrations, so that a preview reads all hosts at once (the engine calls Check one resource at a time)."""

    def __init__(self, resource_name: str, *, connection: remote.ConnectionArgs,
                 health_connection: Optional[remote.ConnectionArgs], health_public_key: Optional[str], owner: str,
                 probe: pulumi.Input[str], opts: Optional[pulumi.ResourceOptions] = None) -> None:
        # Only at preview: in `up`, the health check must read the host after this run's steps, not before.
        props = {**_connections(connection, health_connection, health_public_key), "owner": owner, "probe": probe,
                 "enabled": pulumi.runtime.is_dry_run()}
        register(self, self._resource_type_name, resource_name, props, HostReadAheadProvider, _secret_outputs(opts))
