"""``CorsEntry``: the resource operators declare; its provider does the work."""

# No `from __future__ import annotations` here: the SDK reads the output annotations with get_type_hints for every
# registered resource, and string annotations cost it an eval each time (0.87 ms per entry instead of 0.27 ms).
from typing import Optional, Sequence

import pulumi
from pulumi.dynamic import Resource

from ..dynamic_resources import register
from .cors_provider import CorsProvider


class CorsEntry(Resource, module="dreamfactory", name="CorsEntry"):
    """One DreamFactory CORS entry (System Settings > Config > CORS), managed through ``system/cors``."""

    entry_id: pulumi.Output[int]
    path: pulumi.Output[str]
    origins: pulumi.Output[list]
    description: pulumi.Output[Optional[str]]
    headers: pulumi.Output[list]
    exposed_headers: pulumi.Output[list]
    max_age: pulumi.Output[int]
    methods: pulumi.Output[list]
    supports_credentials: pulumi.Output[bool]
    enabled: pulumi.Output[bool]
    adopt_existing: pulumi.Output[bool]
    instance: pulumi.Output[Optional[str]]
    verify_preflight: pulumi.Output[bool]
    probe_path: pulumi.Output[Optional[str]]
    preflight_verified: pulumi.Output[Optional[bool]]
    preflight_problem: pulumi.Output[Optional[str]]
    created_date: pulumi.Output[Optional[str]]
    last_modified_date: pulumi.Output[Optional[str]]

    def __init__(
        self,
        resource_name: str,
        *,
        path: pulumi.Input[str],
        origins: pulumi.Input[Sequence[pulumi.Input[str]]],
        methods: Optional[pulumi.Input[Sequence[pulumi.Input[str]]]] = None,
        headers: Optional[pulumi.Input[Sequence[pulumi.Input[str]]]] = None,
        exposed_headers: Optional[pulumi.Input[Sequence[pulumi.Input[str]]]] = None,
        max_age: Optional[pulumi.Input[int]] = None,
        supports_credentials: Optional[pulumi.Input[bool]] = None,
        enabled: Optional[pulumi.Input[bool]] = None,
        description: Optional[pulumi.Input[str]] = None,
        adopt_existing: Optional[pulumi.Input[bool]] = None,
        verify_preflight: Optional[pulumi.Input[bool]] = None,
        probe_path: Optional[pulumi.Input[str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ) -> None:
        props = {
            "path": path,
            "origins": origins,
            "methods": methods,
            "headers": headers,
            "exposed_headers": exposed_headers,
            "max_age": max_age,
            "supports_credentials": supports_credentials,
            "enabled": enabled,
            "description": description,
            "adopt_existing": adopt_existing,
            "verify_preflight": verify_preflight,
            "probe_path": probe_path,
            # The DreamFactoryInstance given as provider: part of the entry's identity (moving it is a replace).
            "instance": getattr(opts.provider if opts else None, "instance_name", None),
            # Outputs only: declared so that they become attributes of this resource.
            "entry_id": None,
            "preflight_verified": None,
            "preflight_problem": None,
            "created_date": None,
            "last_modified_date": None,
        }
        # dynamic.Resource.__init__ would serialise the provider again; register as it does, with the one copy.
        register(self, self._resource_type_name, resource_name, props, CorsProvider, opts)
        if not isinstance(methods, pulumi.Output) and not methods:  # said at preview, not after the entry exists
            pulumi.log.warn(f"CORS entry {resource_name!r} lists no methods: DreamFactory then allows none, so every "
                            "browser preflight fails; list them (methods, e.g. [GET, POST])", resource=self)
        # The provider cannot reach the engine's log (pulumi.log does not work in dynamic providers), so the
        # program says it: a stored entry that a browser's preflight does not get through is a warning.
        self.preflight_problem.apply(lambda problem: pulumi.log.warn(problem, resource=self) if problem else None)
