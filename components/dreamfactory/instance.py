"""``DreamFactoryInstance``: an explicit provider for one DreamFactory, as a Terraform provider block with an alias.

    eu = DreamFactoryInstance("eu", url="https://df-eu.example.com", email="ops@example.com", password=secret)
    CorsEntry("spa", path="api/v2/*", origins=[...], opts=pulumi.ResourceOptions(provider=eu))

It is a ``pulumi-python`` provider resource whose inputs are the ``dreamfactory:*`` connection keys, so the plugin
process the engine starts for it hands exactly these to ``CorsProvider.configure`` (one process per instance), and
its entries never see another instance's config. ``dreamfactory:instance`` (its name) tells the provider to take
what config leaves empty from DREAMFACTORY_<NAME>_* only. Entries without a provider keep using the stack's
``dreamfactory:*`` config, as before.
"""

from __future__ import annotations

import re
from typing import Optional

import pulumi

from .client import INSTANCE_KEY, ConnectionSettings
from .errors import ConfigurationError

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _secret(value: Optional[pulumi.Input[str]]) -> Optional[pulumi.Output[str]]:
    return None if value is None else pulumi.Output.secret(value)


class InstanceArgumentError(ConfigurationError, pulumi.RunError):
    """An unusable DreamFactoryInstance argument, raised from the program as a RunError: the engine prints its message
    as one `error:` line instead of a traceback."""


class DreamFactoryInstance(pulumi.ProviderResource):
    """One DreamFactory: pass it as ``provider`` to the CorsEntry resources that live there. ``password``,
    ``session_token`` and ``api_key`` are stored as secrets even when plain strings are passed."""

    def __init__(
        self,
        resource_name: str,
        *,
        url: pulumi.Input[str],
        email: Optional[pulumi.Input[str]] = None,
        username: Optional[pulumi.Input[str]] = None,
        password: Optional[pulumi.Input[str]] = None,
        session_token: Optional[pulumi.Input[str]] = None,
        api_key: Optional[pulumi.Input[str]] = None,
        verify_tls: bool = True,
        ca_bundle: Optional[str] = None,
        timeout_seconds: float = 30,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        if not _NAME.fullmatch(resource_name):
            raise InstanceArgumentError(f"DreamFactoryInstance name {resource_name!r}: use lower-case letters, digits "
                                        "and '-' (at most 63); it also names the instance's DREAMFACTORY_<NAME>_* "
                                        "variables")
        if not isinstance(url, pulumi.Output):
            # The checks the provider's configure() makes, now: a bad URL or timeout fails before any request.
            # Credentials may still come from DREAMFACTORY_<NAME>_* when the plugin starts, so they are not required.
            try:
                ConnectionSettings(url=url, verify_tls=verify_tls, ca_bundle=ca_bundle, require_credentials=False,
                                   timeout_seconds=timeout_seconds, instance=resource_name)
            except ConfigurationError as exc:
                raise InstanceArgumentError(str(exc)) from None
        values = {
            INSTANCE_KEY: resource_name, "url": url, "email": email, "username": username,
            "password": _secret(password), "sessionToken": _secret(session_token), "apiKey": _secret(api_key),
            "verifyTls": "true" if verify_tls else "false", "caBundle": ca_bundle,
            "timeoutSeconds": str(timeout_seconds),
        }
        props = {f"dreamfactory:{key}": value for key, value in values.items() if value is not None}
        super().__init__("pulumi-python", resource_name, props, opts)
        self.instance_name = resource_name  # what its CorsEntry resources record as their instance
