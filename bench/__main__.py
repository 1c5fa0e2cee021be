"""`python -m bench`: API-call budget, provider overhead against raw HTTP, plugin start-up, host re-run cost.

Everything runs in one process, one after the other, against the local DreamFactory double on loopback, so the
ratios hold on a noisy machine. Figures are printed and written to BENCHMARKS.md; nothing here asserts a time.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import requests
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime._serialization import _serialize
from pulumi.runtime.proto import provider_pb2 as pb

from bench.call_budget import OPERATIONS, count_calls, entry, minimum
from bench.engine_scale import kept_section
from bench.trivial_provider import TrivialProvider
from tests.support.local_df import ADMIN_EMAIL, LocalDreamFactoryHandle, start_local_dreamfactory
from components.dreamfactory.client import ConnectionSettings, DreamFactoryClient
from tests.support.plugin import Plugin, captured_provider, plain, struct

ROOT = Path(__file__).resolve().parents[1]
SIZES = (10, 100, 500)
TIMED = 200  # operations per timing sample


READING = """## Reading the figures

- Requests: every operation costs exactly the minimum at every N (one write per changed entry, one GET per read,
  nothing for a no-change diff, one login per plugin process); totals grow linearly with N. The contract test
  `tests/contract/test_call_budget.py` asserts the same counts.
- Overhead: "our client in-process" is the provider's own HTTP path (`DreamFactoryClient`), at or below a bare
  `requests` call. "Through the plugin" adds Pulumi's per-call cost (gRPC to the plugin process, property
  (de)serialization, an event loop per call in the SDK's server): the floor row measures it with a Check that makes no
  HTTP call. Minus that floor the provider is close to the 1.3x goal; with it, on loopback where DreamFactory answers
  in about a millisecond, the ratio is about 2x. Against a real DreamFactory over a network (tens of milliseconds per
  call) the same fixed cost is a few percent.
- Fixed because of these figures: the local double sent headers and body in two segments, so Nagle plus delayed ACK
  stalled every keep-alive response by about 40 ms (TCP_NODELAY and a buffered writer now).
- Cold start: the difference between the two rows is the import of `components.dreamfactory` (mostly `requests`).
- Host steps: the first run includes real certificate issuance from pebble and a `certbot renew --dry-run`; the
  second run changes nothing and requests nothing (asserted by the lab tests). Every host gets 5 remote commands
  (4 with `firewall="none"`).
- Health probe: one read is one SSH session (paramiko, key auth, pinned host key) running the read-only probe
  (`snap`, `systemctl`, two `ufw` calls, `openssl s_client` per domain; not split further here). The engine calls
  `Check` one resource at a time, so reads made in `check` alone would cost a preview of 20 hosts the "one after
  another" figure; the read-ahead child starts every host's read at once (ARCHITECTURE.md), so a preview costs the
  "at once" figure. Here the 20 hosts are one lab host on 2 cores, so "at once" is CPU-bound; 20 real hosts each
  bring their own CPU and it approaches the slowest single read.
- Fleet preview: N lab hosts, each its own namespaces with its own pebble, DNS and sshd, reached by the plain
  `pulumi preview` over a veth link each. "Engine cost without reads" is a preview of the same N hosts in a stack
  never `up`ed (new hosts are not read at preview, and are previewed as creates, so at small N the difference is
  within the noise): everything but the SSH reads. The next-to-last column is what reading the fleet adds to a
  preview, in units of the slowest single read (goal: at most 1.5). The lab hosts share this machine's 2 cores, so
  N reads at once take longer than one even outside the engine ("all reads at once"); the last column compares the
  preview's read share with that: at or below 1.0, the reads overlap as fully as the cores allow. Real hosts each
  bring their own CPU, and there the reads at once approach the slowest one.
"""


def plugin_for(local_df: LocalDreamFactoryHandle, provider: str) -> Plugin:
    return Plugin(provider, {"dreamfactory:url": local_df.url, "dreamfactory:email": ADMIN_EMAIL,
                             "dreamfactory:password": local_df.password})


def call_budget(local_df: LocalDreamFactoryHandle, provider: str) -> list[str]:
    lines = ["| N | operation | requests | minimum | logins |", "|---:|---|---:|---:|---:|"]
    for n in SIZES:
        plugin = plugin_for(local_df, provider)
        try:
            counts = count_calls(plugin, local_df, n)
        finally:
            plugin.close()
        for operation in OPERATIONS:
            lines.append(f"| {n} | {operation} | {counts[operation]['requests']} | {minimum(operation, n)} | "
                         f"{counts[operation]['logins']} |")
    return lines


def overhead(local_df: LocalDreamFactoryHandle, provider: str) -> list[str]:
    """Median time of each operation through the plugin against the same HTTP request made with bare requests.

    Requests to the plugin are built before the clock starts, so only the gRPC call is timed, as the engine
    would see it. The plugin's floor (a Check, which makes no HTTP call) and our client called in-process
    split the difference into Pulumi's plugin machinery and our own code.
    """
    local_df.reset()
    plugin = plugin_for(local_df, provider)
    session = requests.Session()
    token = session.post(f"{local_df.url}/api/v2/system/admin/session",
                         json={"email": ADMIN_EMAIL, "password": local_df.password}).json()["session_token"]
    session.headers["X-DreamFactory-Session-Token"] = token
    client = DreamFactoryClient(ConnectionSettings(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password))
    api = f"{local_df.url}/api/v2/system/cors"
    samples: dict[str, list[list[float]]] = {op: [[], [], []] for op in ("floor", "create", "read", "update", "delete")}

    def timed(operation: str, which: int, call: Callable[[], object]) -> object:
        started = time.perf_counter()
        result = call()
        samples[operation][which].append(time.perf_counter() - started)
        return result

    try:
        for index in range(TIMED):
            # Interleaved, provider then bare then in-process client, so that drift hits all alike.
            name, urn = f"p{index}", plugin.urn(f"p{index}")
            inputs, _ = plugin.check(name, entry(index))
            check = pb.CheckRequest(urn=urn, olds=struct({}), news=struct({**entry(index), "__provider": provider}))
            timed("floor", 0, lambda: plugin.stub.Check(check))
            created = timed("create", 0, lambda: plugin.stub.Create(pb.CreateRequest(urn=urn, properties=struct(inputs))))
            record = {"path": f"api/v2/bare{index}/*", "origin": "https://app.example.com", "method": ["GET"], "max_age": 60}
            bare = timed("create", 1, lambda: session.post(api, params={"fields": "*"}, json={"resource": [record]}).json())
            bare_id = bare["resource"][0]["id"]
            mine = timed("create", 2, lambda: client.create_cors({**record, "path": f"api/v2/mine{index}/*"}))
            state = struct(plain(created.properties))
            read = pb.ReadRequest(id=created.id, urn=urn, properties=state)
            timed("read", 0, lambda: plugin.stub.Read(read))
            timed("read", 1, lambda: session.get(f"{api}/{bare_id}").json())
            timed("read", 2, lambda: client.get_cors(mine["id"]))
            news, _ = plugin.check(name, entry(index, max_age=120))
            update = pb.UpdateRequest(id=created.id, urn=urn, olds=state, news=struct(news))
            timed("update", 0, lambda: plugin.stub.Update(update))
            full = {**record, "description": None, "header": None, "exposed_header": None, "max_age": 120,
                    "supports_credentials": False, "enabled": True}
            timed("update", 1, lambda: session.patch(f"{api}/{bare_id}", params={"fields": "*"}, json=full).json())
            timed("update", 2, lambda: client.update_cors(mine["id"], {**full, "path": mine["path"]}))
            delete = pb.DeleteRequest(id=created.id, urn=urn, properties=state)
            timed("delete", 0, lambda: plugin.stub.Delete(delete))
            timed("delete", 1, lambda: session.delete(f"{api}/{bare_id}").json())
            timed("delete", 2, lambda: client.delete_cors(mine["id"]))
    finally:
        plugin.close()
    floor = statistics.median(samples["floor"][0]) * 1000
    lines = [f"Plugin floor (a Check through gRPC, no HTTP): {floor:.2f} ms.\n",
             "| operation | through the plugin (ms) | bare requests (ms) | ratio | plugin minus floor, ratio | "
             "our client in-process (ms) | ratio |", "|---|---:|---:|---:|---:|---:|---:|"]
    for operation in ("create", "read", "update", "delete"):
        through, bare, mine = (statistics.median(values) * 1000 for values in samples[operation])
        lines.append(f"| {operation} | {through:.2f} | {bare:.2f} | {through / bare:.2f}x | "
                     f"{(through - floor) / bare:.2f}x | {mine:.2f} | {mine / bare:.2f}x |")
    return lines


def cold_start(provider: str, runs: int = 5) -> list[str]:
    """Process start to the first answered Check, and peak memory, for our provider and a trivial one."""
    trivial, _ = _serialize(True, serialize_provider, TrivialProvider())
    results = {}
    for label, pickled in (("CorsProvider", provider), ("trivial provider", trivial)):
        times, peaks = [], []
        for _ in range(runs):
            started = time.perf_counter()
            plugin = Plugin(pickled, {})
            plugin.stub.Check(pb.CheckRequest(urn=plugin.urn("cold"), olds=struct({}),
                                              news=struct({**entry(0), "__provider": pickled})))
            times.append(time.perf_counter() - started)
            status = Path(f"/proc/{plugin.process.pid}/status").read_text()
            peaks.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))))
            plugin.close()
        results[label] = (statistics.median(times) * 1000, statistics.median(peaks) / 1024)
    lines = ["| provider | cold start to first Check (ms) | peak RSS (MiB) |", "|---|---:|---:|"]
    lines += [f"| {label} | {ms:.0f} | {mib:.1f} |" for label, (ms, mib) in results.items()]
    return lines


def host_runs() -> list[str]:
    if os.geteuid() != 0:
        return ["(skipped: the host lab needs root)"]
    from tests.lab.hostlab import DISTROS, HostLab
    from tests.lab.test_host_lab import DOMAINS, SCENARIOS, STEPS, prepare, registered_scripts, run_steps

    lines = ["| scenario | remote commands | first run (s) | second run, no change (s) |", "|---|---:|---:|---:|"]
    for scenario in SCENARIOS:
        scripts = registered_scripts(scenario)
        with HostLab(DISTROS[scenario.distro], DOMAINS) as lab:
            prepare(lab, scenario)
            durations = []
            for _ in range(2):
                started = time.perf_counter()
                run_steps(lab, scripts, scenario.user)
                durations.append(time.perf_counter() - started)
        lines.append(f"| {scenario.id} | {len(STEPS)} | {durations[0]:.1f} | {durations[1]:.1f} |")
    return lines


def host_health() -> list[str]:
    """The health probe over real SSH to a lab host (debian-12, nginx, after a real run of every step)."""
    if os.geteuid() != 0:
        return ["(skipped: the host lab needs root)"]
    import json

    from components.certbot.health import Expectations
    from components.certbot.scripts import HEALTH_PROBE, as_remote_command, render_script
    from components.certbot.spec import build_spec
    from tests.lab.hostlab import ACME_DIRECTORY, DISTROS, PEBBLE_CA, SSH_USER, HostLab
    from tests.lab.test_host_lab import DOMAINS, NGINX_SITE, host_scripts, run_steps

    spec = build_spec(domains=list(DOMAINS), email="ops@example.com", agree_tos=True, acme_server=ACME_DIRECTORY,
                      acme_ca_bundle=PEBBLE_CA, owner="lab", user=SSH_USER, host="127.0.0.1")
    expect = Expectations.from_spec(spec)
    with HostLab(DISTROS["debian-12"], DOMAINS) as lab:
        lab.start_nginx(NGINX_SITE)
        lab.start_sshd()
        run_steps(lab, host_scripts(user=SSH_USER), SSH_USER)
        props = {"host": "127.0.0.1", "port": 22, "user": SSH_USER, "owner": "lab",
                 "private_key": lab.file("/root/.ssh/lab_key").read_text(),
                 "host_key": " ".join(lab.file("/etc/lab-ssh/host_key.pub").read_text().split()[:2]),
                 "probe": as_remote_command(render_script(HEALTH_PROBE, spec), spec.sudo),
                 "domains": list(expect.domains), "serve_https": expect.serve_https, "firewall": expect.firewall,
                 "renew_before_days": expect.renew_before_days}
        result = subprocess.run([*lab.netns(), sys.executable, "-m", "bench.host_health_probe"], cwd=ROOT,
                                input=json.dumps(props), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
    timings = json.loads(result.stdout)
    return ["| reads | one after another (s) | at once (s) |", "|---|---:|---:|",
            f"| 1 host (median of 10; slowest {timings['slowest']:.2f} s) | {timings['single']:.2f} | - |",
            f"| 20 hosts | {timings['serial']:.2f} | {timings['concurrent']:.2f} |"]


def fleet_preview() -> list[str]:
    """`pulumi preview` of 1, 3 and 6 lab hosts (bench/fleet_preview.py)."""
    if os.geteuid() != 0:
        return ["(skipped: the host lab needs root)"]
    from bench.fleet_preview import rows

    return rows()


def main() -> int:
    local_df = start_local_dreamfactory()
    provider = captured_provider()
    started = time.perf_counter()
    sections = [
        ("HTTP requests per operation (through the plugin process)", call_budget(local_df, provider)),
        (f"Median time per operation against the same bare `requests` call ({TIMED} each, interleaved)",
         overhead(local_df, provider)),
        ("Plugin cold start (median of 5)", cold_start(provider)),
        ("CertbotHost steps on lab hosts (real tools, see ARCHITECTURE.md)", host_runs()),
        ("CertbotHost health probe over SSH (paramiko, a lab host; see the reading below)", host_health()),
        ("A fleet's preview through the engine against its slowest read (lab hosts; see the reading below)",
         fleet_preview()),
    ]
    local_df.server.shutdown()
    total = time.perf_counter() - started
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    text = [f"# Benchmarks\n\nProduced by `make bench` (`.venv/bin/python -m bench`) at commit {commit or 'unknown'} on "
            f"{machine}; the whole run took {total:.0f} s. The local DreamFactory double and the plugin run on loopback, "
            "so HTTP times are the floor a real DreamFactory adds to.\n"]
    for title, lines in sections:
        text.append(f"## {title}\n\n" + "\n".join(lines) + "\n")
    benchmarks = ROOT / "BENCHMARKS.md"
    text.append(kept_section(benchmarks.read_text() if benchmarks.exists() else ""))
    text.append(READING)
    output = "\n".join(text)
    print(output)
    (ROOT / "BENCHMARKS.md").write_text(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
