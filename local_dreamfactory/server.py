"""HTTP front of the local DreamFactory double (standard library only).

Pipeline per request, as in DreamFactory: CORS middleware (answers preflights before auth) ->
verb override -> auth check -> resource handler. Test-only controls live under ``/_test/`` and
exist only when the server is started with them enabled.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import parse_qsl, urlsplit

from .state import ApiError, DreamFactoryState, Fault

API_PREFIXES = ("/api/v2/", "/api/")
TEST_PREFIX = "/_test/"
# Not DreamFactory's: `make up` asks it to tell its own server from whatever else may listen on the port.
INSTANCE_PATH = "/_local/instance"


class Handler(BaseHTTPRequestHandler):
    server: "LocalDreamFactory"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one segment; otherwise Nagle plus the client's delayed ACK stall every
    # keep-alive response by about 40 ms.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    # -- plumbing ---------------------------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _send(self, status: int, body: Any, headers: Optional[dict[str, str]] = None, raw: Optional[str] = None) -> None:
        payload = raw.encode() if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(status)
        content_type = "text/html" if raw is not None else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query))
        method = self.command.upper()
        state = self.server.state
        if url.path == INSTANCE_PATH and method == "GET" and self.server.instance_id:
            self._send(200, {"instance": self.server.instance_id})
            return
        if url.path.startswith(TEST_PREFIX) and self.server.test_controls:
            self._test_control(method, url.path[len(TEST_PREFIX):], self._body())
            return
        prefix = next((p for p in API_PREFIXES if url.path.startswith(p)), None)
        if prefix is None:
            self._send(404, {"error": ApiError(404, "Route not found.").to_dict()})
            return
        resource_path = url.path[len(prefix):].strip("/")
        preflight = method == "OPTIONS" and self.headers.get("Access-Control-Request-Method")
        status, cors = state.cors_headers(url.path, self.headers.get("Origin"), self.headers.get("Access-Control-Request-Method") if preflight else None,
                                          self.headers.get("Access-Control-Request-Headers"))
        if preflight:
            self._log("OPTIONS", resource_path, status or 405)
            self._send(status or 405, None, cors)
            return
        override = self.headers.get("X-HTTP-Method") or self.headers.get("X-Method-Override") or params.pop("method", None)
        if method == "POST" and override:
            method = "PATCH" if override.upper() == "MERGE" else override.upper()
        body = self._body()
        fault = state.take_fault(method, resource_path)
        if fault is not None and not fault.after_commit:
            self._fail(fault, cors, resource_path)
            return
        try:
            status, result = self._route(method, resource_path, params, body)
        except ApiError as error:
            status, result = error.status, {"error": error.to_dict()}
        if fault is not None:
            self._fail(fault, cors, resource_path)
            return
        self._log(method, resource_path, status)
        self._send(status, result, cors)

    def _fail(self, fault: Fault, cors: dict[str, str], resource_path: str) -> None:
        self._log(self.command.upper(), resource_path, fault.status)
        if fault.body is not None:
            self._send(fault.status, None, cors, raw=fault.body)
        else:
            self._send(fault.status, {"error": ApiError(fault.status, HTTPStatus(fault.status).phrase).to_dict()}, cors)

    def _log(self, method: str, path: str, status: int) -> None:
        with self.server.state.lock:
            self.server.state.requests.append({"method": method, "path": path, "status": status})

    # -- routes ---------------------------------------------------------------------------------------------

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        state = self.server.state
        token = self.headers.get("X-DreamFactory-Session-Token") or params.get("session_token")
        authorization = self.headers.get("Authorization") or ""
        if not token and authorization.startswith("Bearer "):
            token = authorization[7:]
        api_key = self.headers.get("X-DreamFactory-API-Key") or params.get("api_key")
        if path == "system/admin/session":
            handlers = {
                "POST": lambda: state.login(body),
                "GET": lambda: state.session_info(token),
                "PUT": lambda: state.refresh(token),
                "DELETE": lambda: state.logout(token),
            }
            if method not in handlers:
                raise ApiError(405, f"{method} is not supported on this resource.")
            return 200, handlers[method]()
        session = state.authenticate(token, api_key)
        if path == "system/cors":
            fields = params.get("fields")
            if method == "GET":
                return 200, state.list(params)
            if method == "POST":
                return 201, state.create(body, session.user_id, fields)
            if method == "DELETE":
                return 200, state.delete_many(params.get("ids"), body, params.get("force", "").lower() == "true")
            raise ApiError(400, "Bulk update is not supported by this local double; update by id.")
        if path.startswith("system/cors/"):
            raw_id = path.rsplit("/", 1)[1]
            if not raw_id.isdigit():
                raise ApiError(404, f"Record with identifier '{raw_id}' not found.")
            row_id, fields = int(raw_id), params.get("fields")
            if method == "GET":
                return 200, state.get(row_id, fields)
            if method in ("PATCH", "PUT"):  # PUT is an alias of PATCH in DreamFactory
                return 200, state.update(row_id, body, session.user_id, fields)
            if method == "DELETE":
                return 200, state.delete(row_id, fields)
            raise ApiError(405, f"{method} is not supported on this resource.")
        raise ApiError(404, f"Resource '{path}' not found for service 'system'.")

    def _test_control(self, method: str, path: str, body: Any) -> None:
        state = self.server.state
        try:
            if (method, path) == ("POST", "reset"):
                state.reset()
                result: Any = {"success": True}
            elif (method, path) == ("POST", "expire-tokens"):
                state.expire_tokens()
                result = {"success": True}
            elif (method, path) == ("POST", "faults"):
                with state.lock:
                    state.faults.append(Fault(**body))
                result = {"success": True}
            elif (method, path) == ("GET", "requests"):
                with state.lock:
                    result = list(state.requests)
            elif (method, path) == ("DELETE", "requests"):
                with state.lock:
                    state.requests.clear()
                result = {"success": True}
            elif path.startswith("cors/") and method == "PATCH":
                result = state.edit_out_of_band(int(path[5:]), body or {})
            elif path.startswith("cors/") and method == "DELETE":
                state.delete_out_of_band(int(path[5:]))
                result = {"success": True}
            else:
                raise ApiError(404, f"no test control {method} {path}")
        except ApiError as error:
            self._send(error.status, {"error": error.to_dict()})
            return
        self._send(200, result)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch


class LocalDreamFactory(ThreadingHTTPServer):
    """A DreamFactory-compatible API on loopback; ``url`` is its base URL."""

    daemon_threads = True

    def __init__(self, state: DreamFactoryState, *, host: str = "127.0.0.1", port: int = 0,
                 test_controls: bool = False, verbose: bool = False, instance_id: Optional[str] = None):
        super().__init__((host, port), Handler)
        self.state, self.test_controls, self.verbose = state, test_controls, verbose
        self.instance_id = instance_id  # answered at INSTANCE_PATH when set

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="local-dreamfactory", daemon=True)
        thread.start()
        return thread
