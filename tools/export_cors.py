"""Read every CORS entry of a running DreamFactory and print it: as a table, or as the stack config
(YAML) that brings the entries under this project with ``adoptExisting: true``.

    DREAMFACTORY_URL=https://df.example.com DREAMFACTORY_EMAIL=ops@example.com DREAMFACTORY_PASSWORD=... \\
        python -m tools.export_cors --yaml > corsEntries.yaml

For one of the stack's ``instances``, name it and give its own environment (DREAMFACTORY_<NAME>_URL, _EMAIL,
_PASSWORD, ...): the entries come out with ``instance: <name>`` and names prefixed with it, so the exports of
several instances paste into one list.

    DREAMFACTORY_EU_URL=https://df-eu.example.com DREAMFACTORY_EU_EMAIL=... DREAMFACTORY_EU_PASSWORD=... \\
        python -m tools.export_cors --instance eu --yaml

Dynamic providers cannot be imported with ``pulumi import``; adoption by path is the way in.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Any, Optional, TextIO

import yaml

from components.dreamfactory import cors_schema
from components.dreamfactory.client import INSTANCE_KEY, ConnectionSettings, DreamFactoryClient
from components.dreamfactory.errors import DreamFactoryError

CONFIG_NAMES = {"exposed_headers": "exposedHeaders", "max_age": "maxAge", "supports_credentials": "supportsCredentials"}


def resource_name(path: str, taken: set[str]) -> str:
    """A stable, readable resource name for an entry's path (api/v2/db/* -> api-v2-db)."""
    base = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")[:50] or "entry"
    name, counter = base, 2
    while name in taken:
        name, counter = f"{base}-{counter}", counter + 1
    taken.add(name)
    return name


def stack_config_entry(record: dict, taken: set[str], instance: Optional[str] = None) -> dict[str, Any]:
    outputs = cors_schema.from_wire(record)
    name = resource_name(f"{instance}-{outputs['path']}" if instance else outputs["path"], taken)
    entry: dict[str, Any] = {"name": name, **({"instance": instance} if instance else {}), "path": outputs["path"],
                             "origins": [origin.strip() for origin in outputs["origins"]]}
    defaults = cors_schema.DEFAULTS
    for field in ("description", "methods", "headers", "exposed_headers", "max_age", "supports_credentials", "enabled"):
        value = outputs[field]
        if isinstance(value, list):
            value = [item.strip() for item in value]
        if value != defaults[field]:
            entry[CONFIG_NAMES.get(field, field)] = value
    entry["adoptExisting"] = True
    return entry


def write_yaml(records: list[dict], project: str, out: TextIO, instance: Optional[str] = None) -> None:
    taken: set[str] = set()
    entries = [stack_config_entry(record, taken, instance) for record in records]
    source = f"instance {instance!r}" if instance else "DreamFactory"
    out.write(f"# {len(entries)} CORS entries read from {source}; paste under `config:` in the stack file.\n")
    yaml.safe_dump({f"{project}:corsEntries": entries}, out, sort_keys=False, default_flow_style=None, width=120)


def write_table(records: list[dict], out: TextIO) -> None:
    out.write(f"{'id':>4}  {'path':<28} {'enabled':<8} {'methods':<32} origins\n")
    for record in records:
        outputs = cors_schema.from_wire(record)
        out.write(f"{outputs['entry_id']:>4}  {outputs['path']:<28} {str(outputs['enabled']).lower():<8} "
                  f"{','.join(outputs['methods']) or '-':<32} {','.join(outputs['origins'])}\n")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.export_cors", description=__doc__.splitlines()[0])
    parser.add_argument("--yaml", action="store_true", help="print stack config for adoption instead of a table")
    parser.add_argument("--project", default="dreamfactory-infra", help="Pulumi project name (config namespace)")
    parser.add_argument("--instance", metavar="NAME", help="one of the stack's instances: read DREAMFACTORY_<NAME>_* "
                                                           "and write entries with instance: NAME")
    args = parser.parse_args(argv)
    config = {f"dreamfactory:{INSTANCE_KEY}": args.instance} if args.instance else {}
    try:
        client = DreamFactoryClient(ConnectionSettings.from_config(config.get, os.environ))
        records = list(client.iter_cors())
    except DreamFactoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.yaml:
        write_yaml(records, args.project, sys.stdout, args.instance)
    else:
        write_table(records, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
