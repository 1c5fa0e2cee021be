"""Registering ``pulumi.dynamic`` resources with their provider pickled once per program.

Shared by ``dreamfactory/`` and ``certbot/`` (which never import each other). Both providers are pickled by
reference (module path + class name, no state), so every resource of one provider carries the same short string.
pulumi's ``serialize_provider`` wraps pickle's ``_batch_setitems`` once more on every call and never unwraps it;
calling it per resource ended a stack of about 960 dynamic resources in RecursionError (pulumi/pulumi#17803).
"""

from __future__ import annotations

import functools
from typing import Any, Optional

import pulumi
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider


@functools.cache
def serialized_provider(provider_class: type[ResourceProvider]) -> str:
    """``provider_class()`` pickled by reference, made once; nothing secret is captured, so it is a plain string."""
    return serialize_provider(provider_class())


def register(resource: pulumi.CustomResource, type_name: str, name: str, props: dict[str, Any],
             provider_class: type[ResourceProvider], opts: Optional[pulumi.ResourceOptions]) -> None:
    """Register ``resource`` as ``dynamic.Resource.__init__`` does, with the one serialised provider."""
    props[PROVIDER_KEY] = serialized_provider(provider_class)
    pulumi.CustomResource.__init__(resource, f"pulumi-python:{type_name}", name, props, opts)
