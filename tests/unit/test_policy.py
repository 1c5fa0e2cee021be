"""The policy pack's validators, called with resource arguments as the policy SDK passes them."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

from policy.rules import CERTBOT_HOST, CORS_ENTRY, INSTANCE, RULES

POLICY_MAIN = Path(__file__).resolve().parents[2] / "policy" / "__main__.py"


@pytest.fixture(scope="module")
def policies():
    """The ResourceValidationPolicy objects the pack really builds (PolicyPack itself is not started)."""
    with mock.patch("pulumi_policy.PolicyPack") as pack:
        runpy.run_path(str(POLICY_MAIN))
    return {policy.name: policy for policy in pack.call_args.kwargs["policies"]}


def violations(policies, name, resource_type, props, stack):
    reported = []
    args = SimpleNamespace(resource_type=resource_type, props=props, urn="urn:x", name="r")
    with mock.patch("pulumi.get_stack", return_value=stack):
        policies[name].validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_pack_lists_every_rule_with_its_enforcement(policies):
    assert list(policies) == [name for name, *_ in RULES]
    levels = {name: policy.enforcement_level.value for name, policy in policies.items()}
    assert levels["cors-no-wildcard-origin-with-credentials"] == "mandatory"
    assert levels["cors-wildcard-origin"] == "advisory"
    assert levels["certbot-pinned-host-key"] == "advisory"


@pytest.mark.parametrize(
    "name, resource_type, props, stack, expected",
    [
        ("cors-no-wildcard-origin-with-credentials", CORS_ENTRY, {"origins": ["*"], "supports_credentials": True}, "dev", 1),
        ("cors-no-wildcard-origin-with-credentials", CORS_ENTRY, {"origins": ["*"], "supports_credentials": False}, "dev", 0),
        ("cors-no-wildcard-origin-in-production", CORS_ENTRY, {"origins": ["*"], "path": "api/*"}, "prod-eu", 1),
        ("cors-no-wildcard-origin-in-production", CORS_ENTRY, {"origins": ["*"], "path": "api/*"}, "staging", 0),
        ("cors-wildcard-origin", CORS_ENTRY, {"origins": ["*"], "path": "api/*"}, "staging", 1),
        ("cors-wildcard-origin", CORS_ENTRY, {"origins": ["*"], "path": "api/*"}, "prod", 0),
        ("cors-wildcard-origin", CORS_ENTRY, {"origins": ["https://a.example"]}, "dev", 0),
        ("certbot-production-ca-in-production", CERTBOT_HOST, {"staging": True}, "prod", 1),
        ("certbot-production-ca-in-production", CERTBOT_HOST, {"acme_server": "https://ca.internal/dir"}, "prod", 1),
        ("certbot-production-ca-in-production", CERTBOT_HOST, {"staging": True}, "dev", 0),
        ("certbot-pinned-host-key", CERTBOT_HOST, {"host_key_pinned": False}, "dev", 1),
        ("certbot-pinned-host-key", CERTBOT_HOST, {"host_key_pinned": True}, "dev", 0),
        ("certbot-pinned-host-key", CORS_ENTRY, {}, "dev", 0),
        ("certbot-health-identity-in-production", CERTBOT_HOST, {"health_identity": False}, "prod", 1),
        ("certbot-health-identity-in-production", CERTBOT_HOST, {"health_identity": True}, "prod", 0),
        ("certbot-health-identity-in-production", CERTBOT_HOST, {"health_identity": False}, "dev", 0),
        ("certbot-agent-not-config-key-in-production", CERTBOT_HOST, {"private_key_in_config": True}, "prod-eu", 1),
        ("certbot-agent-not-config-key-in-production", CERTBOT_HOST, {"private_key_in_config": False}, "prod", 0),
        ("certbot-agent-not-config-key-in-production", CERTBOT_HOST, {"private_key_in_config": True}, "staging", 0),
    ],
)
def test_validators(policies, name, resource_type, props, stack, expected):
    assert len(violations(policies, name, resource_type, props, stack)) == expected


def test_an_entry_on_an_instance_is_judged_on_its_own_and_named_by_it(policies):
    on_eu = {"origins": ["*"], "path": "api/*", "instance": "eu"}
    assert violations(policies, "cors-no-wildcard-origin-in-production", CORS_ENTRY, on_eu, "prod") == [
        "instance 'eu': path 'api/*' allows any origin ('*'); list the front ends that need it"]
    assert violations(policies, "cors-no-wildcard-origin-in-production", CORS_ENTRY,
                      {**on_eu, "origins": ["https://a.example"], "instance": "us"}, "prod") == []


@pytest.mark.parametrize("props, stack, words", [
    ({"dreamfactory:instance": "eu", "dreamfactory:url": "http://df-eu.example.com"}, "prod", "its url is http://"),
    ({"dreamfactory:instance": "eu", "dreamfactory:url": "https://df-eu.example.com",
      "dreamfactory:verifyTls": "false"}, "prod-eu", "verifyTls is false"),
    ({"dreamfactory:instance": "eu", "dreamfactory:url": "https://df-eu.example.com"}, "prod", None),
    ({"dreamfactory:instance": "eu", "dreamfactory:url": "http://127.0.0.1:8765"}, "local", None),
])
def test_instances_on_production_stacks_use_verified_tls(policies, props, stack, words):
    reported = violations(policies, "dreamfactory-instance-tls-in-production", INSTANCE, props, stack)
    assert (reported[0].startswith("instance 'eu': ") and words in reported[0]) if words else reported == []
