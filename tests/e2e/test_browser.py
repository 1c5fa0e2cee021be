"""A real browser against the `local` stack's CORS entries (issue 13, item 9): headless Chromium (Debian's package)
loads a page from http://127.0.0.1:3000, an origin the `spa` entry allows, and calls the local DreamFactory-compatible
API on another origin with fetch() and a custom header, so the browser sends its own preflight and applies its own
rules to the answers. After `up` drops that origin from the entry, the same page is blocked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty, Queue

import pytest
import yaml

from tests.e2e.conftest import PROJECT, requires_cli

CHROMIUM = shutil.which("chromium")
pytestmark = [requires_cli, pytest.mark.skipif(CHROMIUM is None, reason="no chromium: apt-get install chromium "
                                                                         "(.ci/run does)")]
PAGE_ORIGIN = ("127.0.0.1", 3000)  # listed in stacks/Pulumi.local.yaml for the `spa` entry
PAGE = """<!doctype html><title>cors probe</title><script>
const api = new URLSearchParams(location.search).get("api");
fetch(api + "/api/v2/system/environment", {headers: {"X-DreamFactory-API-Key": "browser-test"}})
  .then(response => ({fetched: true, status: response.status}), error => ({fetched: false, error: String(error)}))
  .then(result => fetch("/result", {method: "POST", body: JSON.stringify(result)}));
</script>"""


class PageServer(ThreadingHTTPServer):
    """Serves the page on the page origin and receives the page's verdict (same origin, so no CORS there)."""

    def __init__(self) -> None:
        self.results: Queue = Queue()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = PAGE.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                outer.results.put(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(PAGE_ORIGIN, Handler)


def browser_fetch(server: PageServer, api: str, profile: Path) -> dict:
    """Load the page in headless Chromium and return what its fetch() got."""
    url = f"http://{PAGE_ORIGIN[0]}:{PAGE_ORIGIN[1]}/page.html?api={api}"
    # Flags from this machine's notes: no sandbox as root, no background networking (the network is closed).
    browser = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return server.results.get(timeout=60)
    except Empty:
        pytest.fail("Chromium reported nothing within 60 s")
    finally:
        browser.kill()
        browser.wait()


def test_chromium_follows_the_entries_pulumi_up_sets(stack, project: Path, local_df, tmp_path: Path):
    server = PageServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        stack.up(program=stack.workspace.program)
        local_df.clear_log()
        allowed = browser_fetch(server, local_df.url, tmp_path / "profile-1")
        assert allowed["fetched"] is True, allowed
        # The browser's own preflight reached the double and was allowed (the provider's probes were before).
        assert {"method": "OPTIONS", "path": "system/environment", "status": 204} in local_df.requests_log()

        # `up` with the page's origin dropped from the entry: the browser must now refuse the answer.
        stack_file = project / "stacks" / "Pulumi.local.yaml"
        document = yaml.safe_load(stack_file.read_text())
        spa = next(entry for entry in document["config"][f"{PROJECT}:corsEntries"] if entry["name"] == "spa")
        spa["origins"] = ["http://localhost:3000"]
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
        stack.up(program=stack.workspace.program)
        blocked = browser_fetch(server, local_df.url, tmp_path / "profile-2")
        assert blocked["fetched"] is False and "Failed to fetch" in blocked["error"], blocked
    finally:
        server.shutdown()
        server.server_close()
        stack.destroy(program=stack.workspace.program)
