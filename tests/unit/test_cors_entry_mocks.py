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


def test_thousands_of_entries_serialise_the_provider_once(run, monkeypatch):
    # pulumi's serialize_provider wraps pickle's _batch_setitems once more on every call and never unwraps it, so a
    # stack of about 960 dynamic resources ended in RecursionError (issue 13, item 8; pulumi/pulumi#17803).
    import pulumi.dynamic.dynamic as dynamic

    from components import dynamic_resources
    from components.dreamfactory import CorsEntry

    dynamic_resources.serialized_provider.cache_clear()
    calls = []
    real = dynamic.serialize_provider
    monkeypatch.setattr(dynamic_resources, "serialize_provider", lambda provider: calls.append(1) or real(provider))

    @pulumi.runtime.test
    def declare():
        entries = [CorsEntry(f"e{n}", path=f"api/v2/app{n}/*", origins=["*"]) for n in range(1500)]
        return pulumi.Output.all(*[entry.urn for entry in entries[-3:]])

    declare()
    assert len([r for r in run.mocks.registrations if r.typ.endswith("CorsEntry")]) == 1500
    assert len(calls) == 1


def test_an_entry_without_methods_is_warned_about_at_preview(run):
    from components.dreamfactory import CorsEntry

    @pulumi.runtime.test
    def declare():
        CorsEntry("none", path="api/v2/a/*", origins=["https://app.example.com"])
        return CorsEntry("listed", path="api/v2/b/*", origins=["https://app.example.com"], methods=["GET"]).urn

    declare()  # the warning is logged by a task of its own: judged once the program, and that task, are done
    warned = [message for message in run.warnings if "lists no methods" in message]
    assert len(warned) == 1 and "'none'" in warned[0]


@pulumi.runtime.test
def test_an_instance_is_an_explicit_provider_whose_secrets_are_secret_and_whose_entries_use_it(run):
    from components.dreamfactory import CorsEntry, DreamFactoryInstance

    eu = DreamFactoryInstance("eu", url="https://df-eu.example.com", email="ops@example.com", password="plain-pw",
                              api_key="plain-key", verify_tls=False, timeout_seconds=10)
    on_eu = CorsEntry("spa-eu", path="api/v2/*", origins=["https://app.example.com"], methods=["GET"],
                      opts=pulumi.ResourceOptions(provider=eu))
    default = CorsEntry("spa", path="api/v2/*", origins=["https://app.example.com"], methods=["GET"])

    def check(_):
        registered = run.mocks.named("eu")
        assert registered.typ == "pulumi:providers:pulumi-python"
        inputs = dict(registered.inputs)
        # Stored as secrets although plain strings were passed: they stay encrypted in state.
        assert rpc.is_rpc_secret(inputs.pop("dreamfactory:password"))
        assert rpc.is_rpc_secret(inputs.pop("dreamfactory:apiKey"))
        assert inputs == {"dreamfactory:instance": "eu", "dreamfactory:url": "https://df-eu.example.com",
                          "dreamfactory:email": "ops@example.com", "dreamfactory:verifyTls": "false",
                          "dreamfactory:timeoutSeconds": "10"}
        assert run.mocks.named("spa-eu").provider.endswith("pulumi:providers:pulumi-python::eu::eu-id")
        assert run.mocks.named("spa").provider == ""  # the stack's dreamfactory:* DreamFactory, as before

    return pulumi.Output.all(on_eu.urn, default.urn).apply(check)


def test_an_instance_with_a_bad_name_or_url_is_refused_before_anything_is_registered(run):
    from components.dreamfactory import DreamFactoryInstance
    from components.dreamfactory.errors import ConfigurationError

    # A RunError: the engine prints the message as one `error:` line, with no traceback.
    with pytest.raises((ConfigurationError, pulumi.RunError), match="DreamFactoryInstance name 'EU West'") as caught:
        DreamFactoryInstance("EU West", url="https://df-eu.example.com")
    assert isinstance(caught.value, pulumi.RunError) and isinstance(caught.value, ConfigurationError)
    with pytest.raises(pulumi.RunError, match="instance 'eu' url must be an http"):
        DreamFactoryInstance("eu", url="df-eu.example.com")
    assert run.mocks.registrations == []
