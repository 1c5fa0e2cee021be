"""`scripts/local-stack` (make up / make down) sends the admin password only to its own checkout's server: another
program on the port, or another checkout's server, is refused before any request, and `down` stops only its own.
The Pulumi part is a stub here (what it does is tested in tests/e2e); the server and the script are real."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
STUB = "#!/bin/sh\n[ \"$1\" = version ] && echo v0.0.0-stub\nexit 0\n"


def checkout(folder: Path) -> Path:
    """The parts of a checkout the script runs (scripts/, the server, tools/), with the real virtualenv, and a
    stub pulumi + language host first on PATH."""
    for name in ("scripts", "local_dreamfactory", "tools"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__", "pulumi-cli"))
    (folder / "components").symlink_to(ROOT / "components")
    (folder / ".venv").symlink_to(ROOT / ".venv")
    stubs = folder / "stub-bin"
    stubs.mkdir()
    for name in ("pulumi", "pulumi-language-python"):
        (stubs / name).write_text(STUB)
        (stubs / name).chmod(0o755)
    return folder


def local_stack(folder: Path, action: str, port: int, second_port: int) -> subprocess.CompletedProcess:
    """The script with the two servers' ports (the stack's own DreamFactory and instance `second`)."""
    env = {**os.environ, "PATH": f"{folder / 'stub-bin'}:{os.environ['PATH']}", "LOCAL_DREAMFACTORY_PORT": str(port),
           "LOCAL_DREAMFACTORY_SECOND_PORT": str(second_port)}
    return subprocess.run([str(folder / "scripts" / "local-stack"), action], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=120)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Impostor(BaseHTTPRequestHandler):
    """Answers like the double's unauthenticated GET (400) and keeps every request it got."""

    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append(f"{self.command} {self.path} {dict(self.headers)} "
                                f"{self.rfile.read(length).decode() if length else ''}")
        self.send_response(400)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = _answer


@pytest.fixture
def impostor() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Impostor)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_another_listener_on_the_port_gets_no_password_and_up_refuses(tmp_path, impostor):
    folder = checkout(tmp_path / "a")
    port = impostor.server_address[1]
    result = local_stack(folder, "up", port, free_port())
    assert result.returncode == 1
    assert "not from this checkout's local DreamFactory" in result.stderr and "Nothing was sent to it" in result.stderr
    password = (folder / ".local-dreamfactory" / "admin-password").read_text().strip()
    assert not any(password in request for request in impostor.seen)
    assert not any(request.startswith("POST") for request in impostor.seen)


def pid_of(folder: Path, server: str = "") -> int:
    return int((folder / ".local-dreamfactory" / server / "server.pid").read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]


def test_two_checkouts_each_run_and_stop_only_their_own_server(tmp_path):
    first, second = checkout(tmp_path / "first"), checkout(tmp_path / "second")
    ports = free_port(), free_port()
    started = local_stack(first, "up", *ports)
    assert started.returncode == 0, started.stderr
    for port in ports:
        assert f"starting the local DreamFactory-compatible server at http://127.0.0.1:{port}" in started.stdout
    servers = [pid_of(first), pid_of(first, "second")]
    try:
        again = local_stack(first, "up", *ports)
        assert again.returncode == 0 and again.stdout.count("of this checkout already running") == 2

        refused = local_stack(second, "up", *ports)
        assert refused.returncode == 1 and "not from this checkout's local DreamFactory" in refused.stderr
        stopped_nothing = local_stack(second, "down", *ports)
        assert stopped_nothing.stdout.count("no local DreamFactory server of this checkout is running") == 2
        assert all(alive(server) for server in servers)  # the other checkout's `down` left them alone

        stopped = local_stack(first, "down", *ports)
        for port in ports:
            assert f"local DreamFactory server on port {port} stopped" in stopped.stdout
        deadline = time.monotonic() + 10
        while any(alive(server) for server in servers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(server) for server in servers)
    finally:
        for server in servers:
            if alive(server):
                os.kill(server, 9)
