"""Contract tests: two plugin processes configured as two DreamFactoryInstances (as the engine starts one per explicit
provider), each against its own local DreamFactory double with its own credentials."""

from __future__ import annotations

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2 as pb

from tests.support.local_df import ADMIN_EMAIL, start_local_dreamfactory
from tests.support.plugin import Plugin, captured_provider, struct

ENTRY = {"path": "api/v2/*", "origins": ["https://app.example.com"], "methods": ["GET"]}


@pytest.fixture(scope="module")
def servers():
    eu, us = start_local_dreamfactory(), start_local_dreamfactory()
    yield eu, us
    for server in (eu, us):
        server.server.shutdown()


def instance_plugin(name: str, server, env: dict[str, str]) -> Plugin:
    # What a DreamFactoryInstance's inputs are: the connection keys and its name; the password may be left to
    # DREAMFACTORY_<NAME>_PASSWORD.
    return Plugin(captured_provider(), {"dreamfactory:instance": name, "dreamfactory:url": server.url,
                                        "dreamfactory:email": ADMIN_EMAIL}, env=env)


def test_each_instance_writes_to_its_own_dreamfactory_with_its_own_credentials(servers):
    eu, us = servers
    # The default instance's DREAMFACTORY_PASSWORD is in the environment too: it must reach neither.
    env = {"DREAMFACTORY_EU_PASSWORD": eu.password, "DREAMFACTORY_US_PASSWORD": us.password,
           "DREAMFACTORY_PASSWORD": "default-instance-password"}
    plugins = {"eu": instance_plugin("eu", eu, env), "us": instance_plugin("us", us, env)}
    try:
        ids, states = {}, {}
        for name, plugin in plugins.items():
            inputs, failures = plugin.check(f"spa-{name}", {**ENTRY, "instance": name})
            assert failures == []
            ids[name], state = states[name] = plugin.create(f"spa-{name}", inputs)
            assert state["instance"] == name and state["dreamfactory_url"] == (eu if name == "eu" else us).url
        assert [row["path"] for row in eu.rows()] == [row["path"] for row in us.rows()] == ["api/v2/*"]

        # An entry of eu handed to us's plugin (a provider given by mistake; the ids are both 1): an update is
        # refused, a delete leaves it (it was written to another address), and nothing is touched on either server.
        _, eu_state, _ = plugins["eu"].read("spa-eu", ids["eu"], states["eu"][1])
        rows = {"eu": eu.rows(), "us": us.rows()}
        with pytest.raises(grpc.RpcError, match="lives on DreamFactoryInstance 'eu', but this provider is "
                                                "DreamFactoryInstance 'us'"):
            plugins["us"].update("spa-eu", ids["eu"], eu_state, {**eu_state, "methods": ["GET", "POST"]})
        plugins["us"].delete("spa-eu", ids["eu"], eu_state)
        assert {"eu": eu.rows(), "us": us.rows()} == rows

        # Moving the entry between instances is a replace.
        inputs, _ = plugins["us"].check("spa-eu", {**ENTRY, "instance": "us"}, olds=eu_state)
        response = plugins["us"].stub.Diff(pb.DiffRequest(id=ids["eu"], urn=Plugin.urn("spa-eu"),
                                                          olds=struct(eu_state), news=struct(inputs)))
        # (us's plugin also sees that the entry was written to another address.)
        assert response.changes == pb.DiffResponse.DIFF_SOME
        assert set(response.replaces) == {"instance", "dreamfactory_url"}
    finally:
        logs = "".join(plugin.close() for plugin in plugins.values())
    for secret in (eu.password, us.password, "default-instance-password"):
        assert secret not in logs


def test_a_named_instance_without_credentials_says_which_variables_it_reads(servers):
    eu, _ = servers
    plugin = instance_plugin("eu", eu, {"DREAMFACTORY_PASSWORD": "default-instance-password"})
    before = eu.rows()
    try:
        inputs, _ = plugin.check("spa", {**ENTRY, "instance": "eu"})
        with pytest.raises(grpc.RpcError, match="instance 'eu': no DreamFactory credentials: .*DREAMFACTORY_EU_PASSWORD"):
            plugin.create("spa", inputs)
    finally:
        plugin.close()
    assert eu.rows() == before
