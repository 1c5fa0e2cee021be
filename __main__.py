"""Composition root: stack settings -> CORS entries and Certbot hosts -> exports. Nothing else lives here."""

import pulumi

from components.certbot import CertbotHost
from components.dreamfactory import CorsEntry, DreamFactoryInstance
from components.settings import load_settings

settings = load_settings()

instances = {instance.name: DreamFactoryInstance(instance.name, **instance.arguments)
             for instance in settings.instances}
cors_entries = {
    entry.name: CorsEntry(entry.name, **entry.arguments, opts=pulumi.ResourceOptions.merge(
        entry.options, pulumi.ResourceOptions(provider=instances.get(entry.instance))))
    for entry in settings.cors_entries
}

hosts = {
    host.name: CertbotHost(host.name, connection=host.connection_args(),
                           health_connection=host.health_connection_args(), **host.arguments)
    for host in settings.hosts
}

pulumi.export("corsEntryIds", {name: entry.entry_id for name, entry in cors_entries.items()})
pulumi.export("hosts", {
    name: {"certificatePath": host.certificate_path, "expiresAt": host.expires_at, "daysLeft": host.days_left,
           "httpsVerified": host.https_verified, "renewalTimerActive": host.renewal_timer_active,
           "problems": host.problems}
    for name, host in hosts.items()
})
