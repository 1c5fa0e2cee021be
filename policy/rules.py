"""The policy pack's rules as plain functions of (resource type, props, stack): unit-testable without an engine.

Props are what the resources register: CorsEntry keeps its snake_case argument names (and ``instance``, the
DreamFactoryInstance it lives on); a DreamFactoryInstance its ``dreamfactory:*`` keys; CertbotHost registers
domains, web_server, staging, acme_server, host_key_pinned, health_identity and private_key_in_config for exactly
these checks.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

CORS_ENTRY = "pulumi-python:dynamic/dreamfactory:CorsEntry"
CERTBOT_HOST = "dreamfactory:certbot:CertbotHost"
INSTANCE = "pulumi:providers:pulumi-python"  # a DreamFactoryInstance (its props: the dreamfactory:* keys)


def per_instance(message: str, props: Mapping[str, Any]) -> str:
    """A violation on a DreamFactoryInstance, or on an entry that lives on one, names that instance: the same path on
    two instances is two entries, and the rules apply to each on its own."""
    instance = props.get("instance") or props.get("dreamfactory:instance")  # an entry's, or the instance's own
    return f"instance {instance!r}: {message}" if instance else message


def is_production(stack: str) -> bool:
    return stack.startswith("prod")


def wildcard_origin_with_credentials(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type == CORS_ENTRY and "*" in (props.get("origins") or []) and props.get("supports_credentials"):
        return ("origins contains '*' while supports_credentials is true: browsers refuse it and it would expose "
                "credentialed responses to any site; list the exact origins")
    return None


def wildcard_origin(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type == CORS_ENTRY and "*" in (props.get("origins") or []):
        return f"path {props.get('path')!r} allows any origin ('*'); list the front ends that need it"
    return None


def wildcard_origin_in_production(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    return wildcard_origin(resource_type, props, stack) if is_production(stack) else None


def wildcard_origin_outside_production(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    return None if is_production(stack) else wildcard_origin(resource_type, props, stack)


def untrusted_ca_in_production(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type != CERTBOT_HOST or not is_production(stack):
        return None
    if props.get("staging"):
        return "staging=true on a production stack: browsers will not trust Let's Encrypt staging certificates"
    if props.get("acme_server"):
        return f"acme_server {props['acme_server']!r} on a production stack: use Let's Encrypt production"
    return None


def unpinned_host_key(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type == CERTBOT_HOST and not props.get("host_key_pinned"):
        return "connection.host_key is not set, so the SSH host key is not verified; pin it (hostKey in the stack file)"
    return None


def no_health_identity_in_production(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type == CERTBOT_HOST and is_production(stack) and not props.get("health_identity"):
        return ("no healthPublicKey: pull-request previews of this production stack must read the host with the "
                "deploy key (root through sudo); install the read-only health identity and give previews only its key")
    return None


def private_key_in_production_config(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type == CERTBOT_HOST and is_production(stack) and props.get("private_key_in_config"):
        return ("an SSH private key is stored in the stack config (privateKeySecret): anyone who can decrypt the "
                "stack's secrets has it, and the steps keep it in state; load it into an ssh-agent and set agentSocket")
    return None


def insecure_instance_in_production(resource_type: str, props: Mapping[str, Any], stack: str) -> Optional[str]:
    if resource_type != INSTANCE or not props.get("dreamfactory:instance") or not is_production(stack):
        return None
    if str(props.get("dreamfactory:url", "")).startswith("http://"):
        return ("its url is http://: the admin password and session token cross the network in clear; use https")
    if str(props.get("dreamfactory:verifyTls", "true")).lower() == "false":
        return "verifyTls is false: any certificate is accepted, so anyone on the path can take the admin session"
    return None


# (name, description, rule, enforcement) in the order the pack lists them.
RULES = (
    ("cors-no-wildcard-origin-with-credentials", "No CORS entry allows any origin with credentials",
     wildcard_origin_with_credentials, "mandatory"),
    ("cors-no-wildcard-origin-in-production", "No CORS entry allows any origin on prod* stacks",
     wildcard_origin_in_production, "mandatory"),
    ("cors-wildcard-origin", "CORS entries that allow any origin (outside prod* stacks)",
     wildcard_origin_outside_production, "advisory"),
    ("certbot-production-ca-in-production", "Hosts on prod* stacks use Let's Encrypt production",
     untrusted_ca_in_production, "mandatory"),
    ("certbot-pinned-host-key", "Hosts pin their SSH host key", unpinned_host_key, "advisory"),
    ("certbot-health-identity-in-production", "Hosts on prod* stacks have a read-only health identity",
     no_health_identity_in_production, "advisory"),
    ("certbot-agent-not-config-key-in-production", "Hosts on prod* stacks authenticate through an ssh-agent",
     private_key_in_production_config, "advisory"),
    ("dreamfactory-instance-tls-in-production", "DreamFactory instances on prod* stacks are reached over verified TLS",
     insecure_instance_in_production, "mandatory"),
)
