"""A small, thread-safe DreamFactory REST client (``requests``) for the admin API.

Why it looks like this (facts in ../shared/reference/dreamfactory-api.md):
* Auth is an admin session: ``POST system/admin/session`` returns a JWT sent as
  ``X-DreamFactory-Session-Token``; on 401 (expired), or 403 (logged out) when credentials are configured, we
  log in again once and retry (refresh is not relied on).
* Transient failures (429/502/503/504, connection errors) are retried with backoff by urllib3, but only
  for methods that are safe to replay. POST is never replayed after it may have reached the server.
* The Pulumi plugin serves up to four calls at once on one provider object, so the token is shared
  under a lock and each thread has its own ``requests.Session`` (connection reuse without sharing one).
* Redirects are never followed: ``requests`` would carry the API key and session token (and a login body) to
  whatever origin a 3xx names, in clear after an https -> http one. A redirect fails and names its target.
* ``timeoutSeconds`` is a deadline for the whole call (login, retries and their sleeps included), not a bound on
  each socket read (``deadline.py``).
* Explicit ``caBundle`` / ``verifyTls`` win over ``REQUESTS_CA_BUNDLE`` in the environment.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Optional
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from urllib3.util.retry import Retry

from . import deadline
from .errors import (AuthenticationError, ConfigurationError, DreamFactoryError, RedirectError, TransportError,
                     error_from_response)

log = logging.getLogger("dreamfactory")

SESSION_PATH = "system/admin/session"
CORS_PATH = "system/cors"
PAGE_SIZE = 1000  # asked per page; DreamFactory may return fewer (database.max_records_returned can be lower)
RETRY_STATUSES = (429, 502, 503, 504)
MAX_RETRY_AFTER_SECONDS = 30.0  # honour a server's Retry-After, but never hang a deployment for an hour
# Every PATCH this client sends carries the complete record for one id, so replaying it is harmless.
REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS"})

CONFIG_KEYS = {
    "url": "DREAMFACTORY_URL",
    "apiKey": "DREAMFACTORY_API_KEY",
    "email": "DREAMFACTORY_EMAIL",
    "username": "DREAMFACTORY_USERNAME",
    "password": "DREAMFACTORY_PASSWORD",
    "sessionToken": "DREAMFACTORY_SESSION_TOKEN",
    "verifyTls": None,
    "caBundle": None,
    "timeoutSeconds": None,
}
INSTANCE_KEY = "instance"  # set by an explicit DreamFactoryInstance provider: its name


def instance_environment(instance: str) -> dict[str, Optional[str]]:
    """The environment variables of a named instance, key by key: DREAMFACTORY_<NAME>_PASSWORD and so on (NAME
    upper-cased, other characters than letters and digits as ``_``). The unnamed ones (DREAMFACTORY_PASSWORD) are the
    default instance's and never reach a named one."""
    prefix = "DREAMFACTORY_" + re.sub(r"[^A-Z0-9]", "_", instance.upper()) + "_"
    return {key: env_name and prefix + env_name[len("DREAMFACTORY_"):] for key, env_name in CONFIG_KEYS.items()}


@dataclass(frozen=True)
class ConnectionSettings:
    """Where and how to reach DreamFactory. Secrets are excluded from ``repr``."""

    url: str
    email: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    # DreamFactory with DF_LOGIN_ATTRIBUTE=username logs admins in by user name instead of e-mail.
    username: Optional[str] = None
    session_token: Optional[str] = field(default=None, repr=False)
    api_key: Optional[str] = field(default=None, repr=False)
    verify_tls: bool = True
    ca_bundle: Optional[str] = None
    timeout_seconds: float = 30.0
    max_retries: int = 4
    backoff_seconds: float = 0.5
    # False only where no request is made (a preview's check): the URL and formats are still checked.
    require_credentials: bool = field(default=True, repr=False, compare=False)
    # Where each login setting came from ("dreamfactory:email" or "DREAMFACTORY_EMAIL"), for messages.
    sources: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # The DreamFactoryInstance these settings belong to; None: the default one (dreamfactory:* config).
    instance: Optional[str] = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = []
        parts = urlsplit(self.url or "")
        if self.instance is None:
            where, url_help = "dreamfactory:", "(set it with `pulumi config set dreamfactory:url ...` or DREAMFACTORY_URL)"
            login_help = ("set dreamfactory:email (or dreamfactory:username) and dreamfactory:password (secret), or "
                          "dreamfactory:sessionToken (secret), or the DREAMFACTORY_* environment variables")
        else:
            env = instance_environment(self.instance)
            where, url_help = f"instance {self.instance!r} ", f"(its url, or {env['url']})"
            login_help = (f"give its email (or username) and password (the stack file's passwordSecret), or its "
                          f"sessionTokenSecret, or set {env['password']} or {env['sessionToken']}")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(f"{where}url must be an http(s) URL such as https://df.example.com {url_help}")
        elif parts.query or parts.fragment or parts.username:
            problems.append(f"{where}url must not carry credentials, a query or a fragment")
        if self.require_credentials and not self.has_credentials:
            named = f"instance {self.instance!r}: " if self.instance else ""
            problems.append(f"{named}no DreamFactory credentials: {login_help}")
        if not self.timeout_seconds > 0:
            problems.append(f"{where}timeoutSeconds must be a number of seconds greater than 0")
        if problems:
            raise ConfigurationError("; ".join(problems))

    @property
    def has_credentials(self) -> bool:
        return bool(self.session_token) or self.can_login

    @property
    def can_login(self) -> bool:
        return bool((self.email or self.username) and self.password)

    @property
    def login_body(self) -> dict:
        """The admin login request: by user name when one is configured, else by e-mail."""
        if self.username:
            return {"username": self.username, "password": self.password}
        return {"email": self.email, "password": self.password}

    @property
    def api_base(self) -> str:
        return self.url.rstrip("/") + "/api/v2/"

    @property
    def tls_verify(self) -> bool | str:
        """What ``requests`` takes as ``verify``: a CA bundle path when given."""
        if not self.verify_tls:
            return False
        return self.ca_bundle or True

    @classmethod
    def from_config(
        cls, get: Callable[[str], Optional[str]], environ: Mapping[str, str], *, require_credentials: bool = True
    ) -> "ConnectionSettings":
        """Read ``dreamfactory:<key>`` through ``get``; environment variables fill what config leaves empty: the
        DREAMFACTORY_* ones, or for a named instance (``dreamfactory:instance``) only its DREAMFACTORY_<NAME>_* ones."""
        instance = get(f"dreamfactory:{INSTANCE_KEY}") or None
        env_names = CONFIG_KEYS if instance is None else instance_environment(instance)
        values: dict[str, Optional[str]] = {}
        sources: dict[str, str] = {}
        for key, env_name in env_names.items():
            value = get(f"dreamfactory:{key}")
            sources[key] = f"dreamfactory:{key}" if instance is None else f"instance {instance!r} {key}"
            if (value is None or value == "") and env_name:
                value, sources[key] = environ.get(env_name), env_name
            values[key] = value if value not in ("", None) else None
        return cls(
            url=values["url"] or "",
            email=values["email"],
            username=values["username"],
            password=values["password"],
            session_token=values["sessionToken"],
            api_key=values["apiKey"],
            verify_tls=_parse_bool(sources["verifyTls"], values["verifyTls"], default=True),
            ca_bundle=values["caBundle"],
            timeout_seconds=_parse_seconds(sources["timeoutSeconds"], values["timeoutSeconds"], default=30.0),
            require_credentials=require_credentials,
            sources=sources,
            instance=instance,
        )


def _parse_bool(name: str, raw: Optional[str], *, default: bool) -> bool:
    if raw is None:
        return default
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigurationError(f"{name} must be true or false, not {raw!r}")


def _parse_seconds(name: str, raw: Optional[str], *, default: float) -> float:
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {raw!r}") from None


class _BoundedRetry(Retry):
    """urllib3's Retry with Retry-After capped, and no sleep or retry past the call's deadline."""

    def get_retry_after(self, response) -> Optional[float]:
        seconds = super().get_retry_after(response)
        return None if seconds is None else deadline.remaining_or(min(seconds, MAX_RETRY_AFTER_SECONDS))

    def get_backoff_time(self) -> float:
        return deadline.remaining_or(super().get_backoff_time())

    def is_exhausted(self) -> bool:
        return super().is_exhausted() or deadline.remaining_or(1.0) <= 0


class DreamFactoryClient:
    """Admin-session client. One instance may be shared by many threads."""

    def __init__(self, settings: ConnectionSettings, *, session_factory: Callable[[], requests.Session] = requests.Session):
        self._settings = settings
        self._session_factory = session_factory
        self._local = threading.local()
        self._token_lock = threading.Lock()
        self._token: Optional[str] = settings.session_token

    # -- transport ---------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            retry = _BoundedRetry(
                total=self._settings.max_retries,
                status_forcelist=RETRY_STATUSES,
                allowed_methods=REPLAYABLE_METHODS,
                backoff_factor=self._settings.backoff_seconds,
                raise_on_status=False,
                respect_retry_after_header=True,
            )
            session = self._session_factory()
            adapter = deadline.DeadlineAdapter(max_retries=retry)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"Accept": "application/json", "User-Agent": "dreamfactory-infra"})
            session.verify = self._settings.tls_verify
            self._read_environment_once(session)
            self._local.session = session
        return session

    def _read_environment_once(self, session: requests.Session) -> None:
        """Settle now what requests would read from the environment on every call: the proxy variables (with
        NO_PROXY) and REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE, with requests' own precedence. Per call they cost about a
        third of the client's CPU (BENCHMARKS.md), and a plugin process's environment does not change. ~/.netrc is
        no longer consulted: every call carries a session token, never basic auth.

        An explicit dreamfactory:caBundle or verifyTls false is passed as the call's own ``verify``, which requests
        never replaces with the environment's bundle; only the default (verify, no bundle given) takes it."""
        explicit = None if self._settings.tls_verify is True else self._settings.tls_verify
        environment = session.merge_environment_settings(self._settings.api_base, {}, None, explicit, None)
        session.proxies, session.verify, session.cert = environment["proxies"], environment["verify"], environment["cert"]
        session.trust_env = False

    def _send(self, method: str, path: str, *, token: Optional[str], params: Optional[dict], body: Any) -> requests.Response:
        url = self._settings.api_base + path
        headers = {}
        if token:
            headers["X-DreamFactory-Session-Token"] = token
        if self._settings.api_key:
            headers["X-DreamFactory-API-Key"] = self._settings.api_key
        response = self._transport(method, url, params=params, json=body, headers=headers)
        log.debug("%s %s -> %s", method, path, response.status_code)
        return response

    def _transport(self, method: str, url: str, *, redirect_fails: bool = True, **arguments: Any) -> requests.Response:
        """One HTTP exchange inside the active deadline; never follows a redirect (returned only when
        ``redirect_fails`` is False: a browser's preflight that gets one has failed, which is the caller's answer)."""
        call = deadline.active()
        left = deadline.remaining_or(self._settings.timeout_seconds)
        if left <= 0:
            raise self._deadline_error(method, url)
        try:
            response = self._session().request(method, url, timeout=left, allow_redirects=False, **arguments)
        except requests.exceptions.SSLError as exc:
            raise TransportError(f"TLS verification failed ({type(exc).__name__}); {self._tls_advice()}",
                                 method=method, url=url) from None
        except requests.exceptions.RequestException as exc:
            if call is not None and (call.expired or call.remaining() <= 0):
                raise self._deadline_error(method, url) from None
            reason = type(exc.__context__ or exc).__name__
            raise TransportError(
                f"no answer after retries ({type(exc).__name__}: {reason}); check dreamfactory:url and the network",
                method=method,
                url=url,
            ) from None
        if response.is_redirect and redirect_fails:
            raise self._redirect_error(method, url, response)
        return response

    def _deadline_error(self, method: str, url: str) -> TransportError:
        return TransportError(
            f"no complete answer within dreamfactory:timeoutSeconds ({self._settings.timeout_seconds:g} s), the "
            "deadline for the whole call including retries; check the server and the network, or raise it",
            method=method, url=url)

    def _redirect_error(self, method: str, url: str, response: requests.Response) -> RedirectError:
        """A 3xx names where it points (without its query, which may carry a token) and the setting to change."""
        target = urlsplit(urljoin(url, response.headers["Location"]))
        netloc = f"{target.hostname or ''}{f':{target.port}' if target.port else ''}"  # no user:password either
        shown = urlunsplit((target.scheme, netloc, target.path, "", ""))
        asked = urlsplit(url).path
        base_path = target.path[: -len(asked)] if asked and target.path.endswith(asked) else None
        if base_path is not None:
            final = urlunsplit((target.scheme, netloc, base_path, "", ""))
            advice = f"set dreamfactory:url to the final URL, {final}"
        else:
            advice = "set dreamfactory:url to the URL DreamFactory answers on without a redirect"
        return RedirectError(
            f"answered {response.status_code} redirecting to {shown}; API calls never follow redirects (the "
            f"credentials would go along to that address), so {advice}",
            status=response.status_code, method=method, url=url)

    def _tls_advice(self) -> str:
        settings = self._settings
        if settings.ca_bundle:
            return (f"the server's certificate does not verify against dreamfactory:caBundle ({settings.ca_bundle}); "
                    "point it at the CA that signs the server's certificate")
        bundle = self._session().verify
        if isinstance(bundle, str):
            return (f"the server's certificate does not verify against {bundle} (REQUESTS_CA_BUNDLE or "
                    "CURL_CA_BUNDLE in the environment); set dreamfactory:caBundle to the CA that signs it, or "
                    "dreamfactory:verifyTls false for a test instance")
        return ("set dreamfactory:caBundle to the CA that signs the server's certificate, or dreamfactory:verifyTls "
                "false for a test instance")

    @staticmethod
    def _decode(response: requests.Response, method: str, path: str) -> Any:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.status_code >= 400:
            raise error_from_response(response.status_code, body, method=method, url="/api/v2/" + path)
        if response.content and body is None:
            raise DreamFactoryError(
                f"HTTP {response.status_code} with a body that is not JSON (is the URL pointing at DreamFactory?)",
                method=method,
                url="/api/v2/" + path,
            )
        return body

    # -- authentication ------------------------------------------------------------------------------

    def _login(self) -> str:
        settings = self._settings
        if not settings.can_login:
            raise AuthenticationError(
                "the session token was refused and no credentials are configured to log in again; "
                "set dreamfactory:email and dreamfactory:password, or a fresh dreamfactory:sessionToken",
                status=401,
            )
        response = self._send(
            "POST", SESSION_PATH, token=None, params=None, body=settings.login_body
        )
        try:
            session = self._decode(response, "POST", SESSION_PATH)
        except AuthenticationError as exc:
            login = "username" if settings.username else "email"
            raise AuthenticationError(
                f"admin login refused: {exc.message} (check {settings.sources.get(login, f'dreamfactory:{login}')}"
                f" and {settings.sources.get('password', 'dreamfactory:password')})",
                status=exc.status,
                code=exc.code,
                method="POST",
                url="/api/v2/" + SESSION_PATH,
            ) from None
        token = session.get("session_token") if isinstance(session, dict) else None
        if not token:
            raise DreamFactoryError("admin login answered without a session_token", method="POST", url="/api/v2/" + SESSION_PATH)
        return token

    def _current_token(self) -> str:
        with self._token_lock:
            if self._token is None:
                self._token = self._login()
            return self._token

    def _renew_token(self, refused: str) -> str:
        """Log in again unless another thread already replaced the refused token."""
        with self._token_lock:
            if self._token == refused or self._token is None:
                self._token = self._login()
            return self._token

    # -- requests ----------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Optional[dict] = None, body: Any = None) -> Any:
        """Send one authenticated call; when the token is refused, log in again once and repeat it.

        An expired token answers 401, a logged-out (blacklisted) one 403: both get one fresh login when
        email and password are configured. Without them a 403 is DreamFactory's own answer, surfaced as is."""
        with deadline.deadline(self._settings.timeout_seconds):
            token = self._current_token()
            response = self._send(method, path, token=token, params=params, body=body)
            if response.status_code == 401 or (response.status_code == 403 and self._settings.can_login):
                token = self._renew_token(token)
                response = self._send(method, path, token=token, params=params, body=body)
            return self._decode(response, method, path)

    def preflight(self, request_path: str, origin: str, method: str) -> tuple[int, dict[str, str]]:
        """The CORS preflight a browser sends before a cross-origin call: ``OPTIONS`` with ``Origin`` and
        ``Access-Control-Request-Method``, no credentials. Returns the status and the response headers."""
        url = self._settings.url.rstrip("/") + "/" + request_path.lstrip("/")
        with deadline.deadline(self._settings.timeout_seconds):
            response = self._transport("OPTIONS", url, redirect_fails=False,
                                       headers={"Origin": origin, "Access-Control-Request-Method": method})
        return response.status_code, dict(response.headers)

    # -- system/cors -----------------------------------------------------------------------------------

    def get_cors(self, entry_id: int) -> dict:
        return self.request("GET", f"{CORS_PATH}/{int(entry_id)}")

    def create_cors(self, record: dict) -> dict:
        created = self.request("POST", CORS_PATH, params={"fields": "*"}, body={"resource": [record]})
        return _unwrap(created)[0]

    def update_cors(self, entry_id: int, record: dict) -> dict:
        return self.request("PATCH", f"{CORS_PATH}/{int(entry_id)}", params={"fields": "*"}, body=record)

    def delete_cors(self, entry_id: int) -> None:
        self.request("DELETE", f"{CORS_PATH}/{int(entry_id)}")

    def find_cors_by_path(self, path: str) -> Optional[dict]:
        """The entry whose ``path`` equals ``path``, or None (one GET). On MySQL the path's unique index ignores
        case, so an entry whose path differs only in case is that same entry there and is returned when no exact
        match exists (it is the one a create would collide with)."""
        found = _unwrap(self.request("GET", CORS_PATH, params={"fields": "*", "filter": f"path='{path}'"}))
        exact = [record for record in found if record.get("path") == path]
        same_but_case = [record for record in found if str(record.get("path", "")).lower() == path.lower()]
        return (exact or same_but_case or [None])[0]

    def iter_cors(self) -> Iterator[dict]:
        """Every CORS entry, in id order, page by page until an empty page (a short page proves nothing: the
        server's max_records_returned may be below PAGE_SIZE)."""
        offset = 0
        while True:
            page = _unwrap(self.request("GET", CORS_PATH, params={"fields": "*", "limit": PAGE_SIZE, "offset": offset, "order": "id ASC"}))
            if not page:
                return
            yield from page
            offset += len(page)


def _unwrap(body: Any) -> list[dict]:
    """DreamFactory wraps lists in ``resource`` by default; a bare array is accepted too."""
    if isinstance(body, dict):
        body = body.get("resource", [])
    if not isinstance(body, list):
        raise DreamFactoryError(f"expected a list of records, got {type(body).__name__}")
    return body
