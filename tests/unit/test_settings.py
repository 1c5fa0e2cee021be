"""Stack settings: every bad value is refused naming the stack, the key, the list index and the fix."""

from __future__ import annotations

import pulumi
import pytest

from components.settings import (SettingsError, check_dreamfactory_connection, parse_cors_entries, parse_hosts,
                                 parse_instances)

ENTRY = {"name": "spa", "path": "api/v2/*", "origins": ["https://app.example.com"]}
HOST = {"name": "df-1", "host": "203.0.113.10", "privateKeySecret": "sshKey", "domains": ["df.example.com"],
        "email": "ops@example.com", "agreeTos": True}


def secret(name):
    return pulumi.Output.secret("KEY") if name == "sshKey" else None


def test_valid_entries_become_cors_entry_arguments():
    [entry] = parse_cors_entries("dev", "corsEntries", [{**ENTRY, "maxAge": 60, "exposedHeaders": ["X-A"]}])
    assert entry.name == "spa"
    assert entry.arguments == {"path": "api/v2/*", "origins": ["https://app.example.com"], "max_age": 60,
                               "exposed_headers": ["X-A"]}


@pytest.mark.parametrize(
    "items, where, words",
    [
        ("nope", "corsEntries", "list of objects"),
        ([{**ENTRY, "orgins": ["*"]}], "corsEntries[0].orgins", "did you mean 'origins'"),
        ([{**ENTRY, "name": "Bad Name"}], "corsEntries[0].name", "'Bad Name' is not a resource name"),
        ([{**ENTRY, "name": "SPA"}], "corsEntries[0].name", "e.g. 'spa'"),
        ([{k: v for k, v in ENTRY.items() if k != "name"}], "corsEntries[0].name", "required"),
        ([{**ENTRY, "maxAge": -5}], "corsEntries[0].maxAge", "maxAge must be"),  # the stack file's words
        ([{**ENTRY, "name": "spa\n"}], "corsEntries[0].name", "is not a resource name"),
        ([ENTRY, ENTRY], "corsEntries[1].name", "used twice"),
        ([ENTRY, {**ENTRY, "name": "other"}], "corsEntries[1].path", "merge"),
        ([{**ENTRY, "path": "/api/v2/*"}], "corsEntries[0].path", "'api/v2/*'"),
        ([{**ENTRY, "maxAge": -5}], "corsEntries[0].maxAge", ">= 0"),
        ([{**ENTRY, "origins": ["*"], "supportsCredentials": True}], "corsEntries[0].supportsCredentials", "wildcard"),
    ],
)
def test_bad_cors_entries(items, where, words):
    with pytest.raises(SettingsError) as caught:
        parse_cors_entries("prod", "corsEntries", items)
    assert f"stack 'prod', config {where}:" in str(caught.value) and words in str(caught.value)


def test_valid_host():
    [host] = parse_hosts("dev", "hosts", [{**HOST, "user": "deploy", "port": 2222, "webServer": "apache",
                                            "verifyDns": False, "blockOtherServices": True}], secret)
    assert (host.name, host.connection.host, host.connection.port, host.connection.user) == (
        "df-1", "203.0.113.10", 2222, "deploy")
    assert host.arguments["web_server"] == "apache" and host.arguments["agree_tos"] is True
    assert host.arguments["verify_dns"] is False and host.arguments["block_other_services"] is True
    assert isinstance(host.connection.private_key, pulumi.Output) and host.proxy is None and host.health is None


def test_a_host_through_a_bastion_with_agents_and_a_health_identity():
    item = {**{k: v for k, v in HOST.items() if k != "privateKeySecret"}, "user": "deploy",
            "agentSocket": "/run/deploy-agent.sock", "hostKey": "ssh-ed25519 AAAAtarget",
            "proxy": {"host": "bastion.example.com", "user": "jump", "agentSocket": "/run/deploy-agent.sock",
                      "hostKey": "ssh-ed25519 AAAAbastion"},
            "healthPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHealth",
            "health": {"agentSocket": "/run/health-agent.sock"}}
    [host] = parse_hosts("prod", "hosts", [item], secret)
    deploy, health = host.connection_args(), host.health_connection_args()
    assert deploy.private_key is None and deploy.agent_socket_path == "/run/deploy-agent.sock"
    assert deploy.proxy.host == "bastion.example.com" and deploy.proxy.host_key == "ssh-ed25519 AAAAbastion"
    assert health.user == "dreamfactory-health" and health.agent_socket_path == "/run/health-agent.sock"
    assert (health.host, health.host_key, health.proxy.user) == (deploy.host, "ssh-ed25519 AAAAtarget", "jump")
    assert host.arguments["health_public_key"] == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHealth"


@pytest.mark.parametrize(
    "item, where, words",
    [
        ({**HOST, "webserver": "nginx"}, "hosts[0].webserver", "did you mean 'webServer'"),
        ({**HOST, "host": ""}, "hosts[0].host", "required"),
        ({**HOST, "privateKeySecret": None}, "hosts[0].privateKeySecret", "pulumi config set --secret"),
        ({**HOST, "privateKeySecret": "missing"}, "hosts[0].privateKeySecret", "'missing' is not set"),
        ({**HOST, "hostKey": "AAAA"}, "hosts[0].hostKey", "authorized_keys"),
        ({**HOST, "agreeTos": False}, "hosts[0].agreeTos", "must be True"),
        ({**HOST, "domains": ["df.example.com;reboot"]}, "hosts[0].domains", "plain DNS name"),
        ({**HOST, "webServer": "caddy"}, "hosts[0].webServer", "not one of"),
        ({**HOST, "port": 0}, "hosts[0].port", "TCP port"),
        ({**HOST, "user": "a b"}, "hosts[0].user", "Unix user"),
        ({**HOST, "host": "203.0.113.10;reboot"}, "hosts[0].host", "DNS name or an IP address"),
        ({**HOST, "verifyDns": "no"}, "hosts[0].verifyDns", "True or False"),
        ({**HOST, "blockOtherServices": 1}, "hosts[0].blockOtherServices", "True or False"),
        ({**HOST, "agentSocket": "/run/agent.sock"}, "hosts[0].agentSocket", "not both"),
        ({**{k: v for k, v in HOST.items() if k != "privateKeySecret"}, "agentSocket": "agent.sock"},
         "hosts[0].agentSocket", "absolute path"),
        ({**HOST, "proxy": {"host": "bastion", "agentSocket": "/a", "hostkey": "x"}}, "hosts[0].proxy.hostkey",
         "did you mean 'hostKey'"),
        ({**HOST, "proxy": {"host": "bastion"}}, "hosts[0].proxy.privateKeySecret", "agentSocket"),
        ({**HOST, "proxy": "bastion:22"}, "hosts[0].proxy", "must be an object"),
        ({**HOST, "health": {"user": "root", "agentSocket": "/a"}}, "hosts[0].health.user", "other than root"),
        ({**HOST, "healthPublicKey": "ssh-ed25519"}, "hosts[0].healthPublicKey", "public key line"),
    ],
)
def test_bad_hosts(item, where, words):
    with pytest.raises(SettingsError) as caught:
        parse_hosts("staging", "hosts", [item], secret)
    assert f"stack 'staging', config {where}:" in str(caught.value) and words in str(caught.value)


class FakeConfig:
    def __init__(self, values):
        self.values = values

    def get(self, key):
        return self.values.get(key)

    def get_secret(self, key):
        return self.values.get(key)


@pytest.mark.parametrize(
    "values, environ, words",
    [
        ({}, {}, "dreamfactory:url must be an http(s) URL"),
        ({"url": "df.example.com"}, {}, "http(s) URL"),
        ({"url": "https://df.example.com", "email": "a@b.c"}, {}, "no DreamFactory credentials"),
        ({"url": "https://df.example.com", "sessionToken": "t", "timeoutSeconds": "soon"}, {}, "timeoutSeconds"),
    ],
)
def test_dreamfactory_connection_is_checked_at_preview(values, environ, words):
    with pytest.raises(SettingsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        check_dreamfactory_connection("dev", FakeConfig(values), environ)


def test_dreamfactory_connection_from_environment():
    check_dreamfactory_connection("dev", FakeConfig({}), {"DREAMFACTORY_URL": "https://x.example.com",
                                                         "DREAMFACTORY_SESSION_TOKEN": "t"})


def test_dreamfactory_login_by_username():
    check_dreamfactory_connection("dev", FakeConfig({"url": "https://x.example.com", "username": "dfadmin",
                                                     "password": "p"}), {})
    check_dreamfactory_connection("dev", FakeConfig({"url": "https://x.example.com"}),
                                  {"DREAMFACTORY_USERNAME": "dfadmin", "DREAMFACTORY_PASSWORD": "p"})
    with pytest.raises(SettingsError, match="no DreamFactory credentials"):
        check_dreamfactory_connection("dev", FakeConfig({"url": "https://x.example.com", "username": "dfadmin"}), {})


def test_preflight_keys_reach_the_cors_entry_arguments():
    [entry] = parse_cors_entries("dev", "corsEntries", [{"name": "re", "path": "^/api/v2/db[0-9]+", "origins": ["*"],
                                                         "methods": ["GET"], "verifyPreflight": True,
                                                         "probePath": "api/v2/db1"}])
    assert entry.arguments["verify_preflight"] is True and entry.arguments["probe_path"] == "api/v2/db1"
    with pytest.raises(SettingsError, match="probePath"):
        parse_cors_entries("dev", "corsEntries", [{"name": "x", "path": "api/*", "origins": ["*"],
                                                   "probePath": "api/v2 x"}])


INSTANCE = {"name": "eu", "url": "https://df-eu.example.com", "email": "ops@example.com",
            "passwordSecret": "dfPasswordEu"}


def instance_secret(name):
    return pulumi.Output.secret("pw") if name in ("dfPasswordEu", "dfTokenUs") else None


def test_instances_and_the_entries_that_live_on_them():
    instances = parse_instances("dev", "instances", [
        {**INSTANCE, "verifyTls": False, "timeoutSeconds": 10},
        {"name": "us", "url": "https://df-us.example.com", "sessionTokenSecret": "dfTokenUs"},
        {"name": "lab", "url": "http://127.0.0.1:8080"},  # credentials from DREAMFACTORY_LAB_* at run time
    ], instance_secret)
    assert [instance.name for instance in instances] == ["eu", "us", "lab"]
    eu, us, lab = (instance.arguments for instance in instances)
    assert isinstance(eu.pop("password"), pulumi.Output) and isinstance(us.pop("session_token"), pulumi.Output)
    assert eu == {"url": "https://df-eu.example.com", "email": "ops@example.com", "verify_tls": False,
                  "timeout_seconds": 10}
    assert lab == {"url": "http://127.0.0.1:8080"}
    # The same path on two instances is two entries; on one DreamFactory it is a conflict, as without instances.
    entries = parse_cors_entries("dev", "corsEntries", [ENTRY, {**ENTRY, "name": "spa-eu", "instance": "eu"},
                                                        {**ENTRY, "name": "spa-us", "instance": "us"}], ["eu", "us"])
    assert [entry.instance for entry in entries] == [None, "eu", "us"]


@pytest.mark.parametrize(
    "items, where, words",
    [
        ([{**INSTANCE, "url": None}], "instances[0].url", "required"),
        ([{**INSTANCE, "url": 8080}], "instances[0].url", "non-empty string"),
        ([{k: v for k, v in INSTANCE.items() if k != "url"}], "instances[0].url", "required"),
        ([{**INSTANCE, "url": "df-eu.example.com"}], "instances[0].url", "instance 'eu' url must be an http(s) URL"),
        ([INSTANCE, INSTANCE], "instances[1].name", "used twice"),
        ([{**INSTANCE, "name": "EU"}], "instances[0].name", "e.g. 'eu'"),
        ([{**INSTANCE, "passwordSecret": "dfPasswordEU"}], "instances[0].passwordSecret",
         "config key 'dfPasswordEU' is not set; run: pulumi config set --secret dfPasswordEU (or leave passwordSecret "
         "out and set DREAMFACTORY_EU_PASSWORD)"),
        ([{**INSTANCE, "passwordSecert": "x"}], "instances[0].passwordSecert", "did you mean 'passwordSecret'"),
        ([{**INSTANCE, "verifyTls": "no"}], "instances[0].verifyTls", "true or false"),
        ([{**INSTANCE, "timeoutSeconds": 0}], "instances[0].timeoutSeconds", "greater than 0"),
        ([{k: v for k, v in INSTANCE.items() if k != "email"}], "instances[0].email", "who logs in"),
    ],
)
def test_bad_instances(items, where, words):
    with pytest.raises(SettingsError) as caught:
        parse_instances("prod", "instances", items, instance_secret)
    assert f"stack 'prod', config {where}:" in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize(
    "items, instances, where, words",
    [
        ([{**ENTRY, "instance": "eu-west"}], ["eu-west-1", "us"], "corsEntries[0].instance",
         "unknown instance 'eu-west' (did you mean 'eu-west-1'?)"),
        ([{**ENTRY, "instance": "eu"}], [], "corsEntries[0].instance", "no instance is declared"),
        ([{**ENTRY, "instance": "eu"}, {**ENTRY, "name": "again", "instance": "eu"}], ["eu"],
         "corsEntries[1].path", "is also the path of 'spa' on instance 'eu'"),
    ],
)
def test_an_entry_names_a_declared_instance_and_paths_are_unique_per_instance(items, instances, where, words):
    with pytest.raises(SettingsError) as caught:
        parse_cors_entries("prod", "corsEntries", items, instances)
    assert f"stack 'prod', config {where}:" in str(caught.value) and words in str(caught.value)
