"""A running local DreamFactory double plus a handle on its test-only controls."""

from __future__ import annotations

import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import requests

from local_dreamfactory import DreamFactoryState, LocalDreamFactory

ADMIN_EMAIL = "admin@example.com"


@dataclass
class LocalDreamFactoryHandle:
    server: LocalDreamFactory
    password: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> DreamFactoryState:
        return self.server.state

    def control(self, method: str, path: str, body: Optional[dict] = None) -> Any:
        response = requests.request(method, f"{self.url}/_test/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    @contextmanager
    def switched(self, **settings: Any) -> Iterator[None]:
        """Run the double with some of its DreamFactoryState settings changed (e.g. cors_regression=True), then
        put them back."""
        with self.state.lock:
            before = {name: getattr(self.state, name) for name in settings}
            for name, value in settings.items():
                setattr(self.state, name, value)
        try:
            yield
        finally:
            with self.state.lock:
                for name, value in before.items():
                    setattr(self.state, name, value)

    def reset(self) -> None:
        self.control("POST", "reset")

    def requests_log(self) -> list[dict]:
        return self.control("GET", "requests")

    def clear_log(self) -> None:
        self.control("DELETE", "requests")

    def inject(self, method: str, path_prefix: str, status: int, *, count: int = 1, after_commit: bool = False,
               body: Optional[str] = None) -> None:
        self.control("POST", "faults", {"method": method, "path_prefix": path_prefix, "status": status,
                                        "count": count, "after_commit": after_commit, "body": body})

    def issued_tokens(self) -> list[str]:
        with self.state.lock:
            return list(self.state.sessions)

    def rows(self) -> list[dict]:
        with self.state.lock:
            return [self.state.public(row) for row in sorted(self.state.rows.values(), key=lambda r: r["id"])]

    def writes(self) -> list[dict]:
        return [r for r in self.requests_log()
                if r["method"] not in ("GET", "OPTIONS") and r["path"] != "system/admin/session"]


def start_local_dreamfactory() -> LocalDreamFactoryHandle:
    password = "pw-" + secrets.token_urlsafe(12)
    server = LocalDreamFactory(DreamFactoryState(admins={ADMIN_EMAIL: password}), test_controls=True)
    server.start_in_thread()
    return LocalDreamFactoryHandle(server, password)
