"""The client against hostile or misconfigured servers: redirects, TLS settings beside REQUESTS_CA_BUNDLE, and a
server that answers slowly. Each server here is a small one of the test's own; what it received is the evidence."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
import requests

from components.dreamfactory.client import ConnectionSettings, DreamFactoryClient
from components.dreamfactory.errors import DreamFactoryError, RedirectError, TransportError
from local_dreamfactory import DreamFactoryState, LocalDreamFactory

API_KEY = "api-key-must-not-travel"
PASSWORD = "password-must-not-travel"


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 {} and keeps every request it got (headers and body)."""

    def log_message(self, *args) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                 "body": self.rfile.read(length).decode() if length else ""})
        status, headers = self.server.answer(self)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_PATCH = do_DELETE = do_OPTIONS = _answer


def _serve(answer: Callable[[BaseHTTPRequestHandler], tuple[int, dict]]) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.daemon_threads = True
    server.seen, server.answer = [], answer
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def elsewhere() -> Iterator[ThreadingHTTPServer]:
    """Another origin, which must never hear from the client."""
    yield from _serve(lambda handler: (200, {"Content-Type": "application/json"}))


@pytest.fixture
def redirecting(elsewhere) -> Iterator[ThreadingHTTPServer]:
    """The configured URL, answering every request with a 307 to the same path on ``elsewhere``."""
    yield from _serve(lambda handler: (307, {"Location": _url(elsewhere) + handler.path}))


def test_a_redirect_is_never_followed_and_names_its_target_and_the_setting(redirecting, elsewhere):
    client = DreamFactoryClient(ConnectionSettings(url=_url(redirecting), email="ops@example.com", password=PASSWORD,
                                                   api_key=API_KEY))
    with pytest.raises(RedirectError) as raised:
        client.get_cors(1)
    message = str(raised.value)
    assert f"redirecting to {_url(elsewhere)}/api/v2/system/admin/session" in message
    assert f"set dreamfactory:url to the final URL, {_url(elsewhere)}" in message
    assert elsewhere.seen == []  # neither the login body, nor the API key, nor a token went there
    assert [request["method"] for request in redirecting.seen] == ["POST"]


def test_a_redirect_with_a_token_never_carries_the_token_or_key_anywhere(redirecting, elsewhere):
    client = DreamFactoryClient(ConnectionSettings(url=_url(redirecting), session_token="token-must-not-travel",
                                                   api_key=API_KEY))
    with pytest.raises(RedirectError, match="API calls never follow redirects"):
        client.find_cors_by_path("api/v2/*")
    assert elsewhere.seen == []


def test_a_redirected_preflight_is_a_failed_preflight_not_a_followed_one(redirecting, elsewhere):
    client = DreamFactoryClient(ConnectionSettings(url=_url(redirecting), session_token="t"))
    status, headers = client.preflight("api/v2/x", "https://app.example.com", "GET")
    assert status == 307 and headers["Location"].startswith(_url(elsewhere))
    assert elsewhere.seen == []


# --- TLS settings beside REQUESTS_CA_BUNDLE -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_server(tmp_path_factory) -> Iterator[tuple[str, Path, str]]:
    """The local double over TLS with a self-signed certificate for 127.0.0.1: (url, its certificate, password)."""
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2",
                    "-keyout", str(key), "-out", str(certificate)], check=True, capture_output=True)
    password = "tls-admin-password"
    server = LocalDreamFactory(DreamFactoryState(admins={"admin@example.com": password}))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.start_in_thread()
    yield f"https://127.0.0.1:{server.server_address[1]}", certificate, password
    server.shutdown()
    server.server_close()


@pytest.fixture
def environment_bundle(monkeypatch) -> str:
    """REQUESTS_CA_BUNDLE set, as many CI images and this machine set it, to a bundle without the test's CA."""
    bundle = requests.certs.where()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", bundle)
    return bundle


def test_an_explicit_ca_bundle_wins_over_requests_ca_bundle(tls_server, environment_bundle):
    url, certificate, password = tls_server
    client = DreamFactoryClient(ConnectionSettings(url=url, email="admin@example.com", password=password,
                                                   ca_bundle=str(certificate)))
    assert list(client.iter_cors()) == []


def test_verify_tls_false_wins_over_requests_ca_bundle(tls_server, environment_bundle):
    url, _, password = tls_server
    client = DreamFactoryClient(ConnectionSettings(url=url, email="admin@example.com", password=password,
                                                   verify_tls=False))
    assert list(client.iter_cors()) == []


def test_without_tls_settings_the_environment_bundle_is_used_and_named(tls_server, environment_bundle):
    url, _, password = tls_server
    client = DreamFactoryClient(ConnectionSettings(url=url, email="admin@example.com", password=password))
    with pytest.raises(TransportError) as raised:
        client.get_cors(1)
    assert f"does not verify against {environment_bundle} (REQUESTS_CA_BUNDLE" in str(raised.value)
    assert "set dreamfactory:caBundle" in str(raised.value)


def test_a_wrong_ca_bundle_is_named_as_the_one_that_failed(tls_server, environment_bundle, tmp_path):
    url, _, password = tls_server
    client = DreamFactoryClient(ConnectionSettings(url=url, email="admin@example.com", password=password,
                                                   ca_bundle=environment_bundle))
    with pytest.raises(TransportError, match=f"does not verify against dreamfactory:caBundle \\({environment_bundle}\\)"):
        client.get_cors(1)


# --- timeoutSeconds is a deadline for the whole call -----------------------------------------------------------------

def _dripping_server(connections_that_drip: int) -> Iterator[str]:
    """A server that answers the first ``connections_that_drip`` connections one byte every 0.3 s (a complete
    answer takes about 15 s), and later ones at once."""
    listener = socket.create_server(("127.0.0.1", 0))
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    accepted = []

    def serve(connection: socket.socket, drip: bool) -> None:
        with connection:
            while connection.recv(65536):
                for chunk in ([bytes([byte]) for byte in answer] if drip else [answer]):
                    try:
                        connection.sendall(chunk)
                    except OSError:
                        return
                    if drip:
                        time.sleep(0.3)

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            accepted.append(connection)
            threading.Thread(target=serve, args=(connection, len(accepted) <= connections_that_drip),
                             daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.fixture
def dripping() -> Iterator[str]:
    yield from _dripping_server(connections_that_drip=1000)


def test_a_dripping_server_cannot_hold_a_call_past_timeout_seconds(dripping):
    client = DreamFactoryClient(ConnectionSettings(url=dripping, session_token="t", timeout_seconds=1))
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"no complete answer within dreamfactory:timeoutSeconds \(1 s\)"):
        client.get_cors(1)
    assert time.monotonic() - started < 5  # the answer would have taken about 15 s


def test_a_dripping_preflight_is_bounded_too(dripping):
    client = DreamFactoryClient(ConnectionSettings(url=dripping, session_token="t", timeout_seconds=1))
    started = time.monotonic()
    with pytest.raises(TransportError, match="deadline for the whole call"):
        client.preflight("api/v2/x", "https://app.example.com", "GET")
    assert time.monotonic() - started < 5


def test_retries_and_their_sleeps_end_at_the_deadline():
    calls = []

    def unavailable(handler):
        calls.append(time.monotonic())
        return 503, {"Retry-After": "5", "Content-Type": "application/json"}

    for server in _serve(unavailable):
        client = DreamFactoryClient(ConnectionSettings(url=_url(server), session_token="t", timeout_seconds=1,
                                                       max_retries=4))
        started = time.monotonic()
        with pytest.raises(DreamFactoryError):
            client.get_cors(1)
        assert time.monotonic() - started < 5  # four honoured Retry-After: 5 would take 20 s
        assert 1 <= len(calls) <= 2


def test_the_call_after_a_cut_one_works_on_a_fresh_connection():
    for url in _dripping_server(connections_that_drip=1):
        client = DreamFactoryClient(ConnectionSettings(url=url, session_token="t", timeout_seconds=1))
        with pytest.raises(TransportError, match="deadline"):
            client.get_cors(1)
        assert client.get_cors(1) == {}  # same thread, same session: the cut socket was not reused
