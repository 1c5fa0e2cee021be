"""A preview of N CertbotHosts through the engine against the slowest single read of one of them.

`python -m bench.fleet_preview 1 3 6` (root; `make bench` runs it with 1, 3 and 6): N lab hosts (debian-12, nginx,
their own pebble, DNS and sshd), each wired to one operator namespace on its own network, where the plain `pulumi`
command runs as users run it. One stack grows to 1, 3, then 6 hosts (`up` each time), and at each size:

- preview: wall time of `pulumi preview` (median of 5), with the read-ahead reading every host at once;
- slowest read: each host's health read on its own (one SSH session running the probe, median of 5), the slowest;
- all reads at once: the N reads started together in threads, as the read-ahead does (median of 5): what this
  machine allows, since the N lab hosts share its cores;
- engine cost without reads: a preview of the same N hosts in a second stack that was never `up`ed (median of 5): a
  new host is not read at preview, so this is start-up, plugins, the program and every host's 8 resources, with
  no SSH at all.

(preview - engine cost) / slowest read is what reading the fleet costs a preview, in units of one read: 1.0 would
be every read fully overlapped; N would be the reads one after another. Divided by "all reads at once" instead, it
says how close the engine comes to the best this machine can do.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Sequence

import yaml

ROOT = Path(__file__).resolve().parents[1]
SIZES = (1, 3, 6)
SAMPLES = 5


def _median_seconds(action, samples: int = SAMPLES) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def read_each() -> None:
    """In the operator's namespace, for the hosts whose health-check properties come on stdin: the median read time of
    each on its own, and of all of them at once (threads, as the read-ahead does)."""
    from concurrent.futures import ThreadPoolExecutor

    from components.certbot.health_provider import _read, _read_target

    hosts = [(props, _read_target(props)) for props in json.load(sys.stdin)]
    each = [_median_seconds(lambda: _read(props, target)) for props, target in hosts]

    def all_at_once() -> None:
        with ThreadPoolExecutor(len(hosts)) as pool:
            list(pool.map(lambda host: _read(*host), hosts))

    json.dump({"each": each, "at_once": _median_seconds(all_at_once)}, sys.stdout)


def _write_stack(project: Path, stack: str, hosts: list[dict[str, Any]]) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) if path.exists() else {}
    document.setdefault("config", {})["dreamfactory-infra:hosts"] = hosts
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _revealed(value: Any) -> Any:
    """A value of `pulumi stack export --show-secrets`, its secrets as plain values (they are wrapped there)."""
    if isinstance(value, dict):
        if "plaintext" in value:
            return _revealed(json.loads(value["plaintext"]))
        return {key: _revealed(item) for key, item in value.items()}
    return [_revealed(item) for item in value] if isinstance(value, list) else value


def _health_props(cli, count: int) -> list[dict[str, Any]]:
    resources = json.loads(cli("stack", "export", "--show-secrets").stdout)["deployment"]["resources"]
    health = [_revealed(r["outputs"]) for r in resources if r["type"] == "pulumi-python:dynamic/certbot:HostHealthCheck"]
    assert len(health) == count, f"expected {count} health checks, found {len(health)}"
    return health


def rows(sizes: Sequence[int] = SIZES) -> list[str]:
    from tests.lab.hostlab import ACME_DIRECTORY, DISTROS, PEBBLE_CA, SSH_USER, HostLab
    from tests.lab.test_host_lab import DOMAINS, NGINX_SITE
    from tests.support.cli import PulumiCli, copy_project

    lines = ["| hosts | preview (s) | engine cost without reads (s) | slowest single read (s) | "
             "all reads at once (s) | (preview - engine cost) / slowest read | (preview - engine cost) / reads at once |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="dfi-fleet-") as scratch:
        operator = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
        stack.callback(operator.wait)
        stack.callback(operator.kill)
        time.sleep(0.1)
        in_operator = ("nsenter", f"--net=/proc/{operator.pid}/ns/net")
        project = copy_project(Path(scratch) / "project", stack_files=())
        cli = PulumiCli(project, Path(scratch), stack="fleet", prefix=in_operator)
        unread = PulumiCli(project, Path(scratch), stack="unread", prefix=in_operator)  # never up: no host is read
        for each in (cli, unread):
            each.init()
        hosts: list[dict[str, Any]] = []
        keys: list[str] = []
        for index in range(max(sizes)):
            lab = stack.enter_context(HostLab(DISTROS["debian-12"], DOMAINS))
            address = lab.connect_client(operator, network=index)
            for name in DOMAINS:
                lab.set_dns(name, address)
            lab.start_nginx(NGINX_SITE)
            lab.start_sshd(listen="0.0.0.0")
            keys.append(lab.file("/root/.ssh/lab_key").read_text())
            hosts.append({"name": f"df-{index}", "host": address, "user": SSH_USER, "privateKeySecret": f"sshKey{index}",
                          "hostKey": " ".join(lab.file("/etc/lab-ssh/host_key.pub").read_text().split()[:2]),
                          "domains": list(DOMAINS), "email": "ops@example.com", "agreeTos": True,
                          "webServer": "nginx", "acmeServer": ACME_DIRECTORY, "acmeCaBundle": PEBBLE_CA})
        for previous, size in zip((0, *sizes), sizes):
            for index in range(previous, size):  # a key no declared host uses is refused as a misspelt key
                for each in (cli, unread):
                    each.set_secret(f"sshKey{index}", keys[index])
            for each in (cli, unread):
                _write_stack(project, each.stack, hosts[:size])
            cli("up", "--yes")
            preview = _median_seconds(lambda: cli("preview", "--expect-no-changes"))
            fixed = _median_seconds(lambda: unread("preview"))
            reader = subprocess.run([*in_operator, sys.executable, "-m", "bench.fleet_preview", "--read-each"],
                                    cwd=ROOT, input=json.dumps(_health_props(cli, size)), capture_output=True,
                                    text=True)
            assert reader.returncode == 0, reader.stderr
            reads = json.loads(reader.stdout)
            slowest, at_once, own = max(reads["each"]), reads["at_once"], preview - fixed
            lines.append(f"| {size} | {preview:.2f} | {fixed:.2f} | {slowest:.2f} | {at_once:.2f} | "
                         f"{own / slowest:.2f} | {own / at_once:.2f} |")
    return lines


if __name__ == "__main__":
    if sys.argv[1:] == ["--read-each"]:
        read_each()
    else:
        print("\n".join(rows([int(arg) for arg in sys.argv[1:]] or SIZES)))
