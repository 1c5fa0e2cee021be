"""The one reader of stack config: typed, validated settings with errors that name stack, key, index and fix.

Project keys (namespace = the Pulumi project name):

    corsEntries: list of {name, path, origins, methods, headers, exposedHeaders, maxAge,
                          supportsCredentials, enabled, description, adoptExisting, verifyPreflight,
                          probePath, instance, protect, retainOnDelete}
    instances:   list of {name, url, email | username, passwordSecret | sessionTokenSecret, apiKeySecret,
                          verifyTls, caBundle, timeoutSeconds}   (DreamFactories besides dreamfactory:*)
    hosts:       list of {name, host, port, user, privateKeySecret | agentSocket, hostKey, proxy, healthPublicKey,
                          health, osFamily, domains, email, agreeTos, webServer, webrootPath, installCertificate,
                          firewall, staging, effEmail, acmeServer, acmeCaBundle, certName, extraPorts,
                          upgradeSystem, verifyDns, blockOtherServices, renewBeforeDays}
                 proxy:  {host, port, user, hostKey, privateKeySecret | agentSocket}   (one bastion hop)
                 health: {user, privateKeySecret | agentSocket}   (the read-only identity's connection)

``privateKeySecret`` names another config key of this project that holds the SSH private key as a secret
(``pulumi config set --secret sshKeyDf1 < key``), so the host list itself stays readable in reviews.
``agentSocket`` instead names the socket of an SSH agent holding the key: then no key is in config or state.
An instance's ``*Secret`` keys name secret config keys the same way; left out, its plugin reads
DREAMFACTORY_<NAME>_PASSWORD / _SESSION_TOKEN / _API_KEY from the environment. An entry with ``instance: <name>``
lives on that instance; without it, on the stack's ``dreamfactory:*`` DreamFactory.
The ``dreamfactory:*`` connection keys are read by the provider's ``configure()``; here they are only checked
to exist, so that a missing URL fails the preview instead of the first API call.

Every key of this project's namespace and of ``dreamfactory:`` must be one of the above (or a secret a host names):
a misspelt ``corsEntires`` would otherwise declare no entries, and the next ``up`` would delete every one.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional

import pulumi

from pulumi_command import remote

from components.certbot.spec import DEFAULT_HEALTH_USER, CertbotConfigError, build_spec
from components.dreamfactory import cors_schema
from components.dreamfactory.client import CONFIG_KEYS as CONNECTION_KEYS, ConnectionSettings, instance_environment
from components.dreamfactory.errors import ConfigurationError

SECRET_CONNECTION_KEYS = ("password", "sessionToken", "apiKey")

CORS_KEYS = {
    "name": "name", "path": "path", "origins": "origins", "methods": "methods", "headers": "headers",
    "exposedHeaders": "exposed_headers", "maxAge": "max_age", "supportsCredentials": "supports_credentials",
    "enabled": "enabled", "description": "description", "adoptExisting": "adopt_existing",
    "verifyPreflight": "verify_preflight", "probePath": "probe_path",
}
# Resource options of an entry (not CorsEntry arguments): Pulumi's protect and retainOnDelete, and the instance it
# lives on (its provider).
CORS_OPTION_KEYS = ("protect", "retainOnDelete", "instance")
PROJECT_KEYS = ("corsEntries", "hosts", "instances")
# An instance's keys: DreamFactoryInstance arguments, and the secret config keys that hold its secret ones.
INSTANCE_KEYS = {"name": None, "url": "url", "email": "email", "username": "username", "verifyTls": "verify_tls",
                 "caBundle": "ca_bundle", "timeoutSeconds": "timeout_seconds"}
INSTANCE_SECRET_KEYS = {"passwordSecret": ("password", "password"),  # stack key: (argument, connection key)
                        "sessionTokenSecret": ("session_token", "sessionToken"), "apiKeySecret": ("api_key", "apiKey")}
HOST_KEYS = {
    "name": None, "host": None, "port": None, "user": None, "privateKeySecret": None, "agentSocket": None,
    "hostKey": None, "proxy": None, "health": None, "healthPublicKey": "health_public_key",
    "osFamily": "os_family", "domains": "domains", "email": "email", "agreeTos": "agree_tos",
    "webServer": "web_server", "webrootPath": "webroot_path", "installCertificate": "install_certificate",
    "firewall": "firewall", "staging": "staging", "effEmail": "eff_email", "acmeServer": "acme_server",
    "acmeCaBundle": "acme_ca_bundle", "certName": "cert_name", "extraPorts": "extra_ports",
    "upgradeSystem": "upgrade_system", "verifyDns": "verify_dns", "blockOtherServices": "block_other_services",
    "renewBeforeDays": "renew_before_days",
}
PROXY_KEYS = ("host", "port", "user", "hostKey", "privateKeySecret", "agentSocket")
HEALTH_KEYS = ("user", "privateKeySecret", "agentSocket")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CAMEL = {snake: camel for camel, snake in {**CORS_KEYS, **{k: v for k, v in HOST_KEYS.items() if v}}.items()}


class SettingsError(pulumi.RunError, ValueError):
    """Stack config that cannot work; the message says where and how to fix it. A RunError, so the engine prints
    it as one `error:` line instead of a traceback."""


@dataclass(frozen=True)
class CorsEntrySettings:
    name: str
    arguments: dict[str, Any]  # CorsEntry keyword arguments
    protect: bool = False  # Pulumi refuses to delete the resource (and so the entry) until unprotected
    retain_on_delete: bool = False  # deleting the resource leaves the entry in DreamFactory
    instance: Optional[str] = None  # the DreamFactoryInstance it lives on; None: the stack's dreamfactory:*

    @property
    def options(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(protect=self.protect, retain_on_delete=self.retain_on_delete)


@dataclass(frozen=True)
class SshSettings:
    """One SSH hop: where, as whom, and how it authenticates (a private key from a secret, or an agent socket)."""

    host: str
    port: int
    user: str
    host_key: Optional[str]
    private_key: Optional[pulumi.Output[str]] = None
    agent_socket: Optional[str] = None


@dataclass(frozen=True)
class HostSettings:
    name: str
    connection: SshSettings
    proxy: Optional[SshSettings]  # one bastion hop
    health: Optional[SshSettings]  # the read-only health identity's connection (same host, port and host key)
    arguments: dict[str, Any]  # CertbotHost keyword arguments besides the connections

    def connection_args(self) -> remote.ConnectionArgs:
        return self._args(self.connection)

    def health_connection_args(self) -> Optional[remote.ConnectionArgs]:
        return None if self.health is None else self._args(self.health)

    def _args(self, hop: SshSettings) -> remote.ConnectionArgs:
        proxy = None if self.proxy is None else remote.ProxyConnectionArgs(
            host=self.proxy.host, port=self.proxy.port, user=self.proxy.user, host_key=self.proxy.host_key,
            private_key=self.proxy.private_key, agent_socket_path=self.proxy.agent_socket)
        return remote.ConnectionArgs(host=hop.host, port=hop.port, user=hop.user, host_key=hop.host_key,
                                     private_key=hop.private_key, agent_socket_path=hop.agent_socket, proxy=proxy)


@dataclass(frozen=True)
class InstanceSettings:
    name: str
    arguments: dict[str, Any]  # DreamFactoryInstance keyword arguments, secrets as secret Outputs


@dataclass(frozen=True)
class Settings:
    stack: str
    cors_entries: tuple[CorsEntrySettings, ...]
    hosts: tuple[HostSettings, ...]
    instances: tuple[InstanceSettings, ...] = ()


def _error(stack: str, where: str, reason: str) -> SettingsError:
    return SettingsError(f"stack {stack!r}, config {where}: {reason}")


def _closest(key: str, known: Iterable[str]) -> Optional[str]:
    """The known key a misspelt one most likely meant, if any is close."""
    close = difflib.get_close_matches(key, list(known), n=1)
    return close[0] if close else None


def _check_keys(stack: str, where: str, item: Mapping[str, Any], allowed: Mapping[str, Any]) -> None:
    for key in item:
        if key not in allowed:
            close = _closest(key, allowed)
            hint = f"; did you mean {close!r}?" if close else f"; allowed keys: {', '.join(allowed)}"
            raise _error(stack, f"{where}.{key}", f"unknown key (a typo would silently do nothing){hint}")


def _list_of_items(stack: str, key: str, raw: Any) -> list[Mapping[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise _error(stack, key, "must be a list of objects (YAML `- name: ...` items)")
    return raw


def _suggested_name(name: object) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", str(name).lower()).strip("-")[:63] or "entry-1"


def _in_stack_words(reason: str) -> str:
    """A reason as the stack file spells its keys (maxAge, not max_age)."""
    return re.sub(r"\b[a-z]+(?:_[a-z]+)+\b", lambda match: _CAMEL.get(match.group(0), match.group(0)), reason)


def _name(stack: str, where: str, item: Mapping[str, Any], seen: set[str]) -> str:
    name = item.get("name")
    if name is None:
        raise _error(stack, f"{where}.name", "required: lower-case letters, digits and '-' (it names the resource)")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise _error(stack, f"{where}.name", f"{name!r} is not a resource name: use lower-case letters, digits and "
                                             f"'-' (at most 63), e.g. {_suggested_name(name)!r}")
    if name in seen:
        raise _error(stack, f"{where}.name", f"{name!r} is used twice; resource names must be unique")
    seen.add(name)
    return name


def parse_cors_entries(stack: str, key: str, raw: Any, instances: Iterable[str] = ()) -> tuple[CorsEntrySettings, ...]:
    entries, names, paths = [], set(), {}
    instances = list(instances)
    for index, item in enumerate(_list_of_items(stack, key, raw)):
        where = f"{key}[{index}]"
        _check_keys(stack, where, item, {**CORS_KEYS, **dict.fromkeys(CORS_OPTION_KEYS)})
        name = _name(stack, where, item, names)
        instance = item.get("instance")
        if instance is not None and instance not in instances:
            close = _closest(str(instance), instances)
            known = f"did you mean {close!r}?" if close else \
                f"declared instances: {', '.join(instances)}" if instances else "no instance is declared"
            raise _error(stack, f"{where}.instance", f"unknown instance {instance!r} ({known}); declare it under "
                                                     "instances, or leave instance out for the stack's dreamfactory:*")
        options = {}
        for option in ("protect", "retainOnDelete"):
            value = item.get(option, False)
            if not isinstance(value, bool):
                raise _error(stack, f"{where}.{option}", f"must be true or false, not {value!r}")
            options[option] = value
        arguments = {CORS_KEYS[k]: v for k, v in item.items() if k in CORS_KEYS and k != "name"}
        failures = cors_schema.validate(cors_schema.normalise(arguments))
        if failures:
            field, reason = failures[0]
            raise _error(stack, f"{where}.{_CAMEL.get(field, field)}", _in_stack_words(reason))
        # Paths are unique per DreamFactory: the same path on two instances is two entries.
        path = (instance, cors_schema.normalise(arguments)["path"])
        if path in paths:
            raise _error(stack, f"{where}.path", f"{path[1]!r} is also the path of {paths[path]!r}"
                                                 f"{f' on instance {instance!r}' if instance else ''}; DreamFactory "
                                                 "keeps paths unique, so merge the two entries")
        paths[path] = name
        entries.append(CorsEntrySettings(name, arguments, options["protect"], options["retainOnDelete"], instance))
    return tuple(entries)


def parse_instances(stack: str, key: str, raw: Any, secret: Secret) -> tuple[InstanceSettings, ...]:
    instances, names = [], set()
    for index, item in enumerate(_list_of_items(stack, key, raw)):
        where = f"{key}[{index}]"
        _check_keys(stack, where, item, {**INSTANCE_KEYS, **INSTANCE_SECRET_KEYS})
        name = _name(stack, where, item, names)
        for text_key in ("url", "email", "username", "caBundle"):
            value = item.get(text_key)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise _error(stack, f"{where}.{text_key}", f"must be a non-empty string, not {value!r}")
        if item.get("url") is None:
            raise _error(stack, f"{where}.url", "required: the DreamFactory's address, e.g. https://df-eu.example.com")
        verify_tls, timeout = item.get("verifyTls", True), item.get("timeoutSeconds", 30)
        if not isinstance(verify_tls, bool):
            raise _error(stack, f"{where}.verifyTls", f"must be true or false, not {verify_tls!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise _error(stack, f"{where}.timeoutSeconds", f"must be a number of seconds, not {timeout!r}")
        try:
            ConnectionSettings(url=item["url"], verify_tls=verify_tls, ca_bundle=item.get("caBundle"),
                               timeout_seconds=timeout, require_credentials=False, instance=name)
        except ConfigurationError as exc:
            field = "timeoutSeconds" if "timeoutSeconds" in str(exc) else "url"
            raise _error(stack, f"{where}.{field}", str(exc)) from None
        if "passwordSecret" in item and "sessionTokenSecret" in item:
            raise _error(stack, f"{where}.sessionTokenSecret", "set passwordSecret or sessionTokenSecret, not both")
        if "passwordSecret" in item and not ("email" in item or "username" in item):
            raise _error(stack, f"{where}.email", "required with passwordSecret (or username): who logs in")
        arguments = {snake: item[camel] for camel, snake in INSTANCE_KEYS.items() if snake and camel in item}
        for camel, (argument, connection_key) in INSTANCE_SECRET_KEYS.items():
            if camel not in item:
                continue
            secret_name = item[camel]
            value = secret(secret_name) if isinstance(secret_name, str) and secret_name else None
            if value is None:
                raise _error(stack, f"{where}.{camel}", f"config key {secret_name!r} is not set; run: pulumi config "
                                                        f"set --secret {secret_name} (or leave {camel} out and set "
                                                        f"{instance_environment(name)[connection_key]})")
            arguments[argument] = value
        instances.append(InstanceSettings(name, arguments))
    return tuple(instances)


Secret = Callable[[str], Optional[pulumi.Output[str]]]


def _auth(stack: str, where: str, item: Mapping[str, Any], secret: Secret) -> tuple[Optional[pulumi.Output[str]], Optional[str]]:
    """A hop's key: from the secret ``privateKeySecret`` names, or an agent at ``agentSocket`` (one of the two)."""
    key_name, socket = item.get("privateKeySecret"), item.get("agentSocket")
    if key_name is not None and socket is not None:
        raise _error(stack, f"{where}.agentSocket", "set privateKeySecret or agentSocket, not both")
    if socket is not None:
        if not isinstance(socket, str) or not socket.startswith("/") or any(c.isspace() for c in socket):
            raise _error(stack, f"{where}.agentSocket", "must be the absolute path of an SSH agent's socket, e.g. "
                                                        "$SSH_AUTH_SOCK after eval $(ssh-agent) and ssh-add")
        return None, socket
    if not isinstance(key_name, str) or not key_name:
        raise _error(stack, f"{where}.privateKeySecret", "required (or agentSocket): the name of a secret config key "
                                                         "holding the SSH private key (pulumi config set --secret "
                                                         "<name> < key)")
    private_key = secret(key_name)
    if private_key is None:
        raise _error(stack, f"{where}.privateKeySecret", f"config key {key_name!r} is not set; run: "
                                                         f"pulumi config set --secret {key_name} < ~/.ssh/id_ed25519")
    return private_key, None


def _host_key(stack: str, where: str, item: Mapping[str, Any]) -> Optional[str]:
    host_key = item.get("hostKey")
    if host_key is not None and (not isinstance(host_key, str) or len(host_key.split()) < 2 or "\n" in host_key):
        raise _error(stack, f"{where}.hostKey", "must be an authorized_keys-format public key, e.g. the output "
                                                "of ssh-keyscan -t ed25519 <host> without the host name")
    return host_key


def _address(stack: str, where: str, item: Mapping[str, Any]) -> str:
    address = item.get("host")
    if not isinstance(address, str) or not address or any(c.isspace() for c in address):
        raise _error(stack, f"{where}.host", "required: the address or DNS name SSH connects to")
    return address


def _proxy(stack: str, where: str, raw: Any, secret: Secret) -> Optional[SshSettings]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _error(stack, where, "must be an object: {host, port, user, hostKey, agentSocket | privateKeySecret}")
    _check_keys(stack, where, raw, dict.fromkeys(PROXY_KEYS))
    port, user = raw.get("port", 22), raw.get("user", "root")
    if isinstance(port, bool) or not isinstance(port, (int, float)) or not 0 < port < 65536:
        raise _error(stack, f"{where}.port", f"{port!r} is not a TCP port")
    if not isinstance(user, str) or not user or any(c.isspace() for c in user):
        raise _error(stack, f"{where}.user", f"{user!r} is not a user name")
    private_key, socket = _auth(stack, where, raw, secret)
    return SshSettings(_address(stack, where, raw), int(port), user, _host_key(stack, where, raw), private_key, socket)


def _health(stack: str, where: str, raw: Any, target: SshSettings, secret: Secret) -> Optional[SshSettings]:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise _error(stack, where, "must be an object: {user, agentSocket | privateKeySecret}")
    _check_keys(stack, where, raw, dict.fromkeys(HEALTH_KEYS))
    private_key, socket = _auth(stack, where, raw, secret)
    return SshSettings(target.host, target.port, raw.get("user", DEFAULT_HEALTH_USER), target.host_key, private_key,
                       socket)


def parse_hosts(stack: str, key: str, raw: Any, secret: Secret) -> tuple[HostSettings, ...]:
    hosts, names = [], set()
    for index, item in enumerate(_list_of_items(stack, key, raw)):
        where = f"{key}[{index}]"
        _check_keys(stack, where, item, HOST_KEYS)
        name = _name(stack, where, item, names)
        address = _address(stack, where, item)
        port, user = item.get("port", 22), item.get("user", "root")
        private_key, socket = _auth(stack, where, item, secret)
        host_key = _host_key(stack, where, item)
        arguments = {snake: item[camel] for camel, snake in HOST_KEYS.items() if snake and camel in item}
        health_item = item.get("health")
        health_user = health_item.get("user", DEFAULT_HEALTH_USER) if isinstance(health_item, dict) else DEFAULT_HEALTH_USER
        try:
            build_spec(ssh_port=port, user=user, host=address, health_user=health_user,
                       **{"agree_tos": False, **arguments})
        except CertbotConfigError as exc:
            field = re.search(r"argument '([^']+)'", str(exc))
            camel = _CAMEL.get(field.group(1), field.group(1)) if field else "?"
            camel = {"connection.port": "port", "connection.user": "user", "connection.host": "host",
                     "health_connection.user": "health.user"}.get(camel, camel)
            raise _error(stack, f"{where}.{camel}", str(exc).split(": ", 1)[-1]) from None
        connection = SshSettings(address, int(port), user, host_key, private_key, socket)
        hosts.append(HostSettings(name, connection, _proxy(stack, f"{where}.proxy", item.get("proxy"), secret),
                                  _health(stack, f"{where}.health", health_item, connection, secret), arguments))
    return tuple(hosts)


def check_dreamfactory_connection(stack: str, config: pulumi.Config, environ: Mapping[str, str],
                                  preview: bool = False) -> None:
    """Before any resource is registered, the validation the provider's configure() applies (ConnectionSettings),
    so a missing URL fails here instead of at the first API call. A preview makes no request (check and diff read
    nothing), so it needs no credentials: a pull request's preview runs without the DreamFactory password, and is
    told once that refresh and up need them. Secrets are only checked for presence."""
    def get(full_key: str) -> Optional[str]:
        key = full_key.split(":", 1)[1]
        if key in SECRET_CONNECTION_KEYS:
            return "<set>" if config.get_secret(key) is not None else None
        return config.get(key)

    try:
        settings = ConnectionSettings.from_config(get, environ, require_credentials=not preview)
    except ConfigurationError as exc:
        raise _error(stack, "dreamfactory:*", str(exc)) from None
    if not settings.has_credentials:
        pulumi.log.warn(f"stack {stack!r}: no DreamFactory credentials (dreamfactory:password or sessionToken, or "
                        "DREAMFACTORY_PASSWORD / DREAMFACTORY_SESSION_TOKEN): this preview needs none, but refresh "
                        "and up do")


def _unknown_key(full_key: str, known: list[str]) -> str:
    namespace, key = full_key.split(":", 1)
    close = _closest(key, known)
    return f"{full_key}: unknown key (" + (f"did you mean {namespace}:{close}?" if close
                                           else f"known keys: {', '.join(known)}") + ")"


def _named_secrets(host_items: Any, instance_items: Any) -> list[str]:
    """The config keys named as secrets: ``privateKeySecret`` of a host, its bastion, its health identity, and an
    instance's ``passwordSecret`` / ``sessionTokenSecret`` / ``apiKeySecret``."""
    names = []
    for item in host_items if isinstance(host_items, list) else ():
        for hop in (item, item.get("proxy"), item.get("health")) if isinstance(item, dict) else ():
            if isinstance(hop, dict) and isinstance(hop.get("privateKeySecret"), str):
                names.append(hop["privateKeySecret"])
    for item in instance_items if isinstance(instance_items, list) else ():
        names += [item[key] for key in INSTANCE_SECRET_KEYS if isinstance(item, dict) and isinstance(item.get(key), str)]
    return names


def check_config_keys(stack: str, project: str, keys: Iterable[str], host_items: Any, instance_items: Any = None) -> None:
    """Every key of the project's namespace and of ``dreamfactory:`` is one this program reads: the project's lists,
    the secrets the hosts and instances name, and the DreamFactory connection keys."""
    secrets = _named_secrets(host_items, instance_items)
    known = {project: [*PROJECT_KEYS, *secrets],
             "dreamfactory": list(CONNECTION_KEYS)}
    unknown = [_unknown_key(full_key, known[namespace]) for full_key in sorted(keys)
               for namespace, _, key in [full_key.partition(":")] if namespace in known and key not in known[namespace]]
    if unknown:
        raise SettingsError(f"stack {stack!r}, config {'; config '.join(unknown)}. A misspelt key silently does "
                            "nothing, or declares no CORS entries and deletes every one; fix it in "
                            f"stacks/Pulumi.{stack}.yaml (or `pulumi config rm <key>` and `pulumi config set ...`)")


def check_entries_declared(stack: str, project: str, keys: Iterable[str]) -> None:
    """A stack that talks to a DreamFactory must say which CORS entries it manages, even none: with the list key
    missing (deleted, or lost in a merge), the next ``up`` would delete every entry the stack manages."""
    keys = set(keys)
    talks_to = "dreamfactory:url" if "dreamfactory:url" in keys else f"{project}:instances" \
        if f"{project}:instances" in keys else None
    if talks_to and f"{project}:corsEntries" not in keys:
        raise _error(stack, f"{project}:corsEntries", f"missing while {talks_to} is set, so the next `up` would "
                                                      "delete every CORS entry this stack manages; declare the entries,"
                                                      " or `corsEntries: []` when the stack should manage none")


def config_keys() -> set[str]:
    """Every config key of this run (the engine passes them in the process's config, or PULUMI_CONFIG)."""
    return set(pulumi.runtime.config.CONFIG.get()) | set(pulumi.runtime.config.get_config_env())


def load_settings() -> Settings:
    """Read and validate this stack's config (call from the program, under the engine or mocks)."""
    stack, project_name = pulumi.get_stack(), pulumi.get_project()
    project = pulumi.Config()
    keys = config_keys()
    host_items, instance_items = project.get_object("hosts"), project.get_object("instances")
    check_config_keys(stack, project_name, keys, host_items, instance_items)
    check_entries_declared(stack, project_name, keys)
    instances = parse_instances(stack, "instances", instance_items, project.get_secret)
    cors_entries = parse_cors_entries(stack, "corsEntries", project.get_object("corsEntries"),
                                      [instance.name for instance in instances])
    hosts = parse_hosts(stack, "hosts", host_items, project.get_secret)
    if any(entry.instance is None for entry in cors_entries):  # entries on the stack's own dreamfactory:*
        check_dreamfactory_connection(stack, pulumi.Config("dreamfactory"), os.environ, pulumi.runtime.is_dry_run())
    return Settings(stack, cors_entries, hosts, instances)
