"""A provider that does nothing: the baseline for plugin cold start and for the engine's per-resource cost."""

from __future__ import annotations

from typing import Optional

import pulumi
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ResourceProvider

from components.dynamic_resources import register


class TrivialProvider(ResourceProvider):
    def check(self, _olds, news):
        return CheckResult(news, [])

    def diff(self, _id, olds, news):
        return DiffResult(changes=any(olds.get(key) != value for key, value in news.items()))

    def create(self, props):
        return CreateResult(f"trivial-{props['path']}", props)


class TrivialResource(pulumi.CustomResource):
    """Registered like CorsEntry (provider pickled once) with the properties it is given (the bench gives it
    CorsEntry's), so that only the provider's own work differs."""

    def __init__(self, name: str, props: dict, opts: Optional[pulumi.ResourceOptions] = None) -> None:
        register(self, "dynamic:bench:Trivial", name, dict(props), TrivialProvider, opts)
