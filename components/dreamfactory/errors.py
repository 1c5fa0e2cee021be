"""Typed errors built from DreamFactory's error envelope.

DreamFactory answers failures with ``{"error": {"code", "context", "message", "status_code"}}``; the
message is HTML-escaped (``&quot;``), and batch failures (code 1000) carry the per-record results in
``context.resource``. Nothing here ever sees a request header or body, so no secret can reach the text.
"""

from __future__ import annotations

import html
from typing import Any, Optional


class DreamFactoryError(Exception):
    """A DreamFactory call failed; ``str()`` is safe to show to an operator."""

    def __init__(
        self,
        message: str,
        *,
        status: Optional[int] = None,
        code: Any = None,
        context: Any = None,
        method: str = "",
        url: str = "",
        record_error: Optional[dict] = None,
    ) -> None:
        self.message = message
        self.status = status
        self.code = code
        self.context = context
        self.method = method
        self.url = url
        self.record_error = record_error
        where = f"{method} {url}: " if method else ""
        status_text = f"HTTP {status}: " if status is not None else ""
        super().__init__(f"DreamFactory {where}{status_text}{message}")


class ConfigurationError(DreamFactoryError):
    """The connection settings are missing or malformed; raised before any request."""

    def __str__(self) -> str:  # no request was made, so no "DreamFactory <method> <url>:" prefix
        return f"DreamFactory connection settings: {self.message}"


class TransportError(DreamFactoryError):
    """No HTTP answer at all (connection refused, TLS failure, timeout)."""


class RedirectError(DreamFactoryError):
    """3xx: the URL is not where DreamFactory answers; redirects are never followed (credentials would go along)."""


class BadRequestError(DreamFactoryError):
    """400: DreamFactory refused the request (validation, missing wrapper, bad filter)."""


class BatchError(BadRequestError):
    """400 with code 1000: one or more records of a batch failed; ``record_error`` is the first failure."""

    @property
    def is_duplicate_key(self) -> bool:
        """True when the failing record hit a UNIQUE index (SQLSTATE 23000 on MySQL/SQLite, 23505 on Postgres)."""
        code = str((self.record_error or {}).get("code", ""))
        return code in {"23000", "23505"} or "Integrity constraint violation" in self.message


class AuthenticationError(DreamFactoryError):
    """401: bad credentials, or an expired or invalid session token."""


class ForbiddenError(DreamFactoryError):
    """403: blacklisted token, inactive user or role, or RBAC denies the call."""


class NotFoundError(DreamFactoryError):
    """404: the record (or session) does not exist."""


class RateLimitedError(DreamFactoryError):
    """429: too many requests, still failing after the bounded retries."""


class ServerError(DreamFactoryError):
    """5xx: DreamFactory or its proxy failed."""


_BY_STATUS: dict[int, type[DreamFactoryError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    429: RateLimitedError,
}


def _first_failed_record(context: Any) -> Optional[dict]:
    """The first per-record error of a BatchException context ``{"error": [i], "resource": [...]}``."""
    if not isinstance(context, dict):
        return None
    records = context.get("resource")
    failed = context.get("error")
    if not isinstance(records, list) or not isinstance(failed, list):
        return None
    for index in failed:
        if isinstance(index, int) and 0 <= index < len(records) and isinstance(records[index], dict):
            return records[index]
    return None


def error_from_response(status: int, body: Any, *, method: str, url: str) -> DreamFactoryError:
    """Build the typed error for a non-2xx answer whose JSON body is ``body`` (or None if not JSON)."""
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        reason = "no DreamFactory error envelope in the response (is the URL pointing at DreamFactory?)"
        cls = ServerError if status >= 500 else _BY_STATUS.get(status, DreamFactoryError)
        return cls(reason, status=status, method=method, url=url)

    code = envelope.get("code")
    context = envelope.get("context")
    message = html.unescape(str(envelope.get("message") or "no message"))
    record_error = _first_failed_record(context) if code == 1000 else None
    if record_error is not None:
        detail = html.unescape(str(record_error.get("message") or ""))
        message = f"{message} {detail}".strip()
        cls: type[DreamFactoryError] = BatchError
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, DreamFactoryError)
    return cls(
        message,
        status=status,
        code=code,
        context=context,
        method=method,
        url=url,
        record_error=record_error,
    )
