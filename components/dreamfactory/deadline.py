"""A deadline for a whole HTTP call: connect, every read, every retry and the sleeps between them.

urllib3 bounds each socket operation on its own (a connect, one read), so a server that sends one byte a second
never trips a 2-second timeout, and retries add their own time on top. Here a call opens a ``Deadline``: each
operation gets at most the time left, retries stop when it is gone, and a watchdog shuts down the sockets the call
is using when it passes, which ends a read in progress. Connections reach the deadline through the pool classes of
``DeadlineAdapter`` (the call runs in the calling thread, so the active deadline is a thread-local). One watchdog
thread serves every deadline of the process: a timer thread per call cost about 150 us of each call.
"""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3 import poolmanager
from urllib3.poolmanager import PoolManager

_active = threading.local()


class Deadline:
    """The end of one call; ``watch`` the connections it uses, and they are cut when it passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self.expired = False

    def remaining(self) -> float:
        return max(self._ends - time.monotonic(), 0.0)

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)
            expired = self.expired
        if expired:
            _cut(connection)

    @property
    def ends(self) -> float:
        return self._ends

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            _cut(connection)


class _Watchdog:
    """One daemon thread that expires the deadlines still running when they pass (started on first use)."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._running: set[Deadline] = set()
        self._thread: Optional[threading.Thread] = None
        self._sleeping_until = float("inf")

    def add(self, deadline: Deadline) -> None:
        with self._wake:
            self._running.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="http-deadline", daemon=True)
                self._thread.start()
            if deadline.ends < self._sleeping_until:  # it would sleep past this one
                self._wake.notify()

    def remove(self, deadline: Deadline) -> None:
        with self._wake:
            self._running.discard(deadline)

    def _run(self) -> None:
        while True:
            with self._wake:
                now = time.monotonic()
                due = {deadline for deadline in self._running if deadline.ends <= now}
                self._running -= due
                if not due:
                    self._sleeping_until = min((deadline.ends for deadline in self._running), default=float("inf"))
                    self._wake.wait(None if self._sleeping_until == float("inf") else self._sleeping_until - now)
                    self._sleeping_until = now
                    continue
            for deadline in due:  # outside the lock: cutting sockets may take a moment
                deadline.expire()


_WATCHDOG = _Watchdog()


def _cut(connection: HTTPConnection) -> None:
    """Shut the connection's socket down: a read blocked on it returns at once (the pool drops it afterwards)."""
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, also for TLS: no TLS state change
        except OSError:
            pass


def active() -> Optional[Deadline]:
    return getattr(_active, "deadline", None)


def remaining_or(default: float) -> float:
    """The time left of the active deadline, or ``default`` outside one."""
    deadline = active()
    return default if deadline is None else min(default, deadline.remaining())


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Run a call under a deadline of ``seconds`` (an outer deadline already running is kept)."""
    outer = active()
    if outer is not None:
        yield outer
        return
    current = _active.deadline = Deadline(seconds)
    _WATCHDOG.add(current)
    try:
        yield current
    finally:
        _WATCHDOG.remove(current)
        _active.deadline = None


def _watched(connection: HTTPConnection) -> None:
    current = active()
    if current is not None:
        current.watch(connection)


class _Watched:
    """Mixed into urllib3's connection classes: a connect that finished after the deadline passed is cut at once."""

    def connect(self) -> None:
        super().connect()
        _watched(self)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedPool:
    """Mixed into urllib3's pool classes: a kept-alive connection taken from the pool is watched too."""

    def _get_conn(self, timeout: Optional[float] = None) -> HTTPConnection:
        connection = super()._get_conn(timeout)
        _watched(connection)
        return connection


class _WatchedHTTPPool(_WatchedPool, HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _watch_pools(manager: PoolManager) -> PoolManager:
    # A SOCKS proxy manager has pool classes of its own: those keep urllib3's per-operation timeouts only.
    if manager.pool_classes_by_scheme is poolmanager.pool_classes_by_scheme:
        manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    return manager


class DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through an HTTP(S) proxy) answer to the active deadline."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        return _watch_pools(super().proxy_manager_for(proxy, **proxy_kwargs))
