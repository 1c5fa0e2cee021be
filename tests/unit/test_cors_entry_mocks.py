"""CorsEntry under Pulumi mocks: what it registers with the engine."""

from __future__ import annotations

import pulumi
import pytest
from pulumi.runtime import rpc

from tests.support.mocks import install_mocks


@pytest.fixture
def run():
    return install_mocks(outputs=lambda typ, name, inputs: {"entry_id": 42})


@pulumi.runtime.test
def test_cors_entry_registers_its_arguments_and_a_by_reference_provider(run):
    from components.dreamfactory import CorsEntry

    entry = CorsEntry("spa", path="api/v2/*", origins=["https://app.example.com"], methods=["GET", "POST"],
                      headers=["Content-Type"], max_age=3600, supports_credentials=False, description="SPA",
                      adopt_existing=True)

    def check(values):
        entry_id, path = values
        registered = run.mocks.named("spa")
        assert registered.typ == "pulumi-python:dynamic/dreamfactory:CorsEntry"
        inputs = dict(registered.inputs)
        provider = inputs.pop("__provider")
        assert not rpc.is_rpc_secret(provider)  # nothing secret is captured, so it is stored in the clear
        assert len(provider) < 200  # by reference: module path and class name, no code
        assert inputs == {"path": "api/v2/*", "origins": ["https://app.example.com"], "methods": ["GET", "POST"],
                          "headers": ["Content-Type"], "max_age": 3600, "supports_credentials": False,
                          "description": "SPA", "adopt_existing": True}
        assert entry_id == 42 and path == "api/v2/*"

    return pulumi.Output.all(entry.entry_id, entry.path).apply(check)


@pulumi.runtime.test
def test_cors_entry_omits_unset_arguments(run):
    from components.dreamfactory import CorsEntry

    entry = CorsEntry("minimal", path="api/*", origins=["*"])

    def check(_):
        assert set(run.mocks.named("minimal").inputs) == {"path", "origins", "__provider"}

    return entry.urn.apply(check)
