"""`python -m bench.engine_scale [N ...]`: N CORS entries through the real engine, beside N trivial resources.

The Automation API with an inline program, the project's CLI build, a local file backend and the local
DreamFactory double in its own process (in this one it would share the GIL with the program); `--parallel 16`. Each N runs up, a no-change preview, refresh and destroy, with and without
checkpoints (`PULUMI_SKIP_CHECKPOINTS=true`: the file backend then writes the state once per operation instead of
after every step). Prints seconds per operation and milliseconds per resource; nothing asserts a time.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from pulumi import automation as auto

from bench.trivial_provider import TrivialResource
from components.dreamfactory import CorsEntry
from tests.support.local_df import ADMIN_EMAIL

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / ".build" / "pulumi" / "bin" / "pulumi"
OPERATIONS = ("up", "preview", "refresh", "destroy")


def entry(index: int) -> dict:
    return {"path": f"api/v2/app{index}/*", "origins": ["https://app.example.com"], "methods": ["GET"]}


def cors_program(n: int) -> Callable[[], None]:
    def program() -> None:
        for index in range(n):
            CorsEntry(f"e{index}", **entry(index))
    return program


def trivial_program(n: int) -> Callable[[], None]:
    """The same properties as a created CorsEntry stores, echoed by a provider that does no work."""
    def program() -> None:
        for index in range(n):
            TrivialResource(f"e{index}", {**entry(index), "headers": [], "exposed_headers": [], "max_age": 0,
                                          "supports_credentials": False, "enabled": True, "description": None,
                                          "adopt_existing": False, "verify_preflight": True, "probe_path": None,
                                          "entry_id": index, "preflight_verified": True, "preflight_problem": None,
                                          "created_date": "2026-11-30 12:00:00",
                                          "last_modified_date": "2026-11-30 12:00:00"})
    return program


def timed_run(n: int, kind: str, checkpoints: bool, url: str, password: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        Path(scratch, "state").mkdir()
        env = {"PULUMI_BACKEND_URL": f"file://{scratch}/state", "PULUMI_CONFIG_PASSPHRASE": "bench",
               "PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
               "PULUMI_PYTHON_CMD": sys.executable, "PATH": f"{CLI.parent}:/usr/bin:/bin",
               # The plugin runs in the scratch folder and unpickles the providers from this project.
               "PYTHONPATH": str(ROOT)}
        if not checkpoints:
            env["PULUMI_SKIP_CHECKPOINTS"] = "true"
        program = cors_program(n) if kind == "cors" else trivial_program(n)
        project = auto.ProjectSettings(name="bench-scale", runtime="python")
        # A scratch work_dir: the Automation API writes Pulumi.yaml and the stack file there.
        options = auto.LocalWorkspaceOptions(work_dir=scratch, pulumi_home=f"{scratch}/home", env_vars=env,
                                             project_settings=project, secrets_provider="passphrase",
                                             pulumi_command=auto.PulumiCommand(root=str(CLI.parent.parent),
                                                                               skip_version_check=True))
        stack = auto.create_stack(f"{kind}-{n}", project_name="bench-scale", program=program, opts=options)
        stack.set_config("dreamfactory:url", auto.ConfigValue(url))
        stack.set_config("dreamfactory:email", auto.ConfigValue(ADMIN_EMAIL))
        stack.set_config("dreamfactory:password", auto.ConfigValue(password, secret=True))
        times = {}
        for operation, call in (("up", lambda: stack.up(parallel=16)),
                                ("preview", lambda: stack.preview(parallel=16)),
                                ("refresh", lambda: stack.refresh(parallel=16)),
                                ("destroy", lambda: stack.destroy(parallel=16))):
            started = time.perf_counter()
            result = call()
            times[operation] = time.perf_counter() - started
            if operation == "preview":
                assert result.change_summary.get("same") == n + 1, result.change_summary
        return times


SECTION_TITLE = "## CORS entries through the engine, beside a trivial dynamic provider"
CHECKPOINTED_UP_TO = 1500  # with checkpoints the file backend's cost grows with N²: 5,000 would take hours


def start_double(scratch: str, password: str) -> tuple[subprocess.Popen, str]:
    port_file = Path(scratch, "port")
    server = subprocess.Popen([sys.executable, "-m", "local_dreamfactory", "--port-file", str(port_file)], cwd=ROOT,
                              env={**os.environ, "LOCAL_DF_ADMIN_PASSWORD": password})
    for _ in range(100):
        if port_file.exists() and port_file.read_text().strip():
            return server, f"http://127.0.0.1:{port_file.read_text().strip()}"
        time.sleep(0.1)
    server.kill()
    raise RuntimeError("the local DreamFactory double did not start")


def table(sizes: list[int]) -> list[str]:
    password = "bench-" + secrets.token_urlsafe(12)
    scratch = tempfile.mkdtemp()
    server, url = start_double(scratch, password)
    lines = ["| N | checkpoints | resource | " + " | ".join(f"{op} s (ms/resource)" for op in OPERATIONS)
             + " | ratio " + " / ".join(OPERATIONS) + " |", "|---:|---|---|" + "---:|" * (len(OPERATIONS) + 1)]
    try:
        for n in sizes:
            for checkpoints in ((True, False) if n <= CHECKPOINTED_UP_TO else (False,)):
                runs = {kind: timed_run(n, kind, checkpoints, url, password)
                        for kind in ("trivial", "cors")}
                for kind, times in runs.items():
                    cells = " | ".join(f"{times[op]:.1f} ({1000 * times[op] / n:.1f})" for op in OPERATIONS)
                    ratio = (" / ".join(f"{times[op] / runs['trivial'][op]:.2f}" for op in OPERATIONS)
                             if kind == "cors" else "-")
                    label = "CorsEntry" if kind == "cors" else "trivial dynamic"
                    lines.append(f"| {n} | {'on' if checkpoints else 'skipped'} | {label} | {cells} | {ratio} |")
                    print(lines[-1], flush=True)
    finally:
        server.kill()
    return lines


def kept_section(benchmarks: str) -> str:
    """This bench's section of BENCHMARKS.md (it takes most of an hour, so `make bench` keeps it as it is)."""
    start = benchmarks.find(SECTION_TITLE)
    if start < 0:
        return ""
    end = benchmarks.find("\n## ", start + len(SECTION_TITLE))
    return benchmarks[start:end if end >= 0 else len(benchmarks)].strip() + "\n"


if __name__ == "__main__":
    print("\n".join(table([int(arg) for arg in sys.argv[1:]] or [500, 1500, 5000])))
