"""The data and rules of the local DreamFactory double: CORS rows, admin sessions, the CORS middleware.

Faithful to ../shared/reference/dreamfactory-api.md as of DreamFactory 7.7 (with the §5.5 fix):
string fields trimmed and "" -> null, ``method`` stored as a verb bitmask, a UNIQUE ``path``,
batch errors on POST, 500 on failed PATCH validation, the auth error table of §3.11.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional
from urllib.parse import unquote

from .table import CorsTable

VERB_BITS = {"GET": 1, "POST": 2, "PUT": 4, "PATCH": 8, "DELETE": 16, "OPTIONS": 32, "HEAD": 64, "COPY": 128, "TRACE": 256, "CONNECT": 512}
COLUMNS = ("id", "path", "description", "origin", "header", "exposed_header", "method", "max_age",
           "supports_credentials", "enabled", "created_date", "last_modified_date", "created_by_id", "last_modified_by_id")
WRITABLE = ("path", "description", "origin", "header", "exposed_header", "method", "max_age", "supports_credentials", "enabled")
# The key DreamFactory seeds for its built-in `admin` app (§4.3); an app with no role.
ADMIN_APP_KEY = "6498a8ad1beb9d84d63035c5d1120c007fad6de706734db9689f8996707e0f7d"

NO_AUTH = ("No session token (JWT) or API Key detected in request. Please send in X-DreamFactory-Session-Token and/or "
           "X-DreamFactory-API-Key request header. You can also use URL query parameters session_token and/or api_key.")
NO_TOKEN = ("No session token (JWT) provided. Please provide a valid JWT using X-DreamFactory-Session-Token request "
            "header or 'session_token' url query parameter.")
EXPIRED = ("Token has expired: Session expired. Please refresh your token (if still within refresh window) or "
           "re-login.")
BLACKLISTED = "The token has been blacklisted: Session terminated. Please re-login."
WRAPPER_MSG = ("No record(s) detected in request. Please make sure record(s) are wrapped in a 'resource' tag. "
               'Example: {"resource":[{"record":1},{"record":2}]}')


class ApiError(Exception):
    """An error DreamFactory would answer with its envelope."""

    def __init__(self, status: int, message: str, code: Any = None, context: Any = None):
        super().__init__(message)
        self.status, self.message, self.context = status, message, context
        self.code = status if code is None else code

    def to_dict(self) -> dict:
        return {"code": self.code, "context": self.context, "message": escape(self.message), "status_code": self.status}


def escape(text: str) -> str:
    """PHP htmlentities(..., ENT_COMPAT): double quotes escaped, single quotes left alone."""
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clean_string(value: Any) -> Any:
    """DF 7's TrimStrings + ConvertEmptyStringsToNull middleware."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def verbs_to_mask(value: Any) -> int:
    if isinstance(value, bool):
        raise ApiError(500, "Invalid verb mask.")
    if isinstance(value, int):
        return value
    if value is None:
        return 0
    if not isinstance(value, list):
        raise ApiError(500, "SQLSTATE[HY000]: General error: 1366 Incorrect integer value for column 'method'", code="HY000")
    mask = 0
    for verb in value:
        if not isinstance(verb, str):
            raise ApiError(500, "Invalid verb value.")
        bit = VERB_BITS.get(verb.upper())
        if bit is None:
            raise ApiError(501, f'The verb "{verb}" is not supported.')
        mask |= bit
    return mask


def mask_to_verbs(mask: int) -> list[str]:
    return [verb for verb, bit in VERB_BITS.items() if mask & bit]


@dataclass
class Session:
    token: str
    user_id: int
    email: str
    expires_at: float
    blacklisted: bool = False


@dataclass
class Fault:
    """An injected failure: answer ``status`` for the next ``count`` matching requests."""

    method: str
    path_prefix: str
    status: int
    count: int = 1
    after_commit: bool = False  # run the real handler first, then fail (the write is kept)
    body: Optional[str] = None  # raw body (e.g. a proxy's HTML page) instead of a DreamFactory envelope


@dataclass
class DreamFactoryState:
    admins: dict[str, str]
    token_ttl_seconds: float = 24 * 3600
    api_keys: tuple[str, ...] = (ADMIN_APP_KEY,)
    # MySQL (utf8mb4_unicode_ci): the path's unique index and `filter=path='...'` ignore case; SQLite/Postgres don't.
    case_insensitive_paths: bool = False
    # The CORS-preflight regression of DreamFactory 7.x releases before df-core 3eddaa3: the framework's default
    # CORS config overwrites the table's, so every api/* answer says `Access-Control-Allow-Origin: *` and every
    # preflight is 405, whatever the entries say.
    cors_regression: bool = False
    # DF_LOGIN_ATTRIBUTE: "email" (DreamFactory's default) or "username"; `admins` is keyed by it.
    login_attribute: str = "email"
    # database.max_records_returned (DB_MAX_RECORDS_RETURNED): a larger `limit`, or none, is lowered to it.
    max_records_returned: int = 100000
    rows: CorsTable = field(default_factory=CorsTable)
    sessions: dict[str, Session] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    next_id: int = 1
    data_file: Optional[str] = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- persistence and test controls --------------------------------------------------------------

    def load(self) -> None:
        if not self.data_file:
            return
        try:
            with open(self.data_file, encoding="utf-8") as handle:
                saved = json.load(handle)
        except FileNotFoundError:
            return
        self.rows.clear()
        for row in saved["rows"]:
            self.rows.put(row)
        self.next_id = saved["next_id"]

    def save(self) -> None:
        if self.data_file:
            with open(self.data_file, "w", encoding="utf-8") as handle:
                json.dump({"rows": list(self.rows.values()), "next_id": self.next_id}, handle, indent=1)

    def reset(self) -> None:
        """Empty the CORS table, faults and request log; sessions survive, as a table wipe leaves them."""
        with self.lock:
            self.rows.clear()
            self.faults.clear()
            self.requests.clear()
            self.next_id = 1
            self.save()

    def expire_tokens(self) -> None:
        with self.lock:
            for session in self.sessions.values():
                session.expires_at = 0

    def take_fault(self, method: str, path: str) -> Optional[Fault]:
        with self.lock:
            for fault in self.faults:
                if fault.method == method and path.startswith(fault.path_prefix) and fault.count > 0:
                    fault.count -= 1
                    return fault
        return None

    def edit_out_of_band(self, row_id: int, changes: dict) -> dict:
        """Change a row as someone in the admin UI or the database would, bypassing the API."""
        with self.lock:
            row = self.rows.get(row_id)
            if row is None:
                raise ApiError(404, f"Record with identifier '{row_id}' not found.")
            row = {**row, **changes, "last_modified_date": now_iso()}
            self.rows.put(row)
            self.save()
            return self.public(row)

    def delete_out_of_band(self, row_id: int) -> None:
        with self.lock:
            self.rows.pop(row_id)
            self.save()

    # -- auth (§3.11, §4) ------------------------------------------------------------------------------

    def login(self, body: Any) -> dict:
        body = body if isinstance(body, dict) else {}
        email, password = _clean_string(body.get(self.login_attribute)), body.get("password")
        if not email:
            raise ApiError(400, f"Login request is missing required {self.login_attribute}.")
        if not password:
            raise ApiError(400, "Login request is missing required password.")
        with self.lock:
            if self.admins.get(email) != password:
                raise ApiError(401, "Invalid credentials supplied.")
            token = _new_token(email)
            user_id = sorted(self.admins).index(email) + 1
            self.sessions[token] = Session(token, user_id, email, time.time() + self.token_ttl_seconds)
        expiry = datetime.fromtimestamp(time.time() + self.token_ttl_seconds, timezone.utc)
        return {
            "session_token": token, "session_id": token, "id": user_id, "name": "Admin User", "first_name": "Admin",
            "last_name": "User", "email": email, "is_sys_admin": True,
            "last_login_date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S"), "host": "local-dreamfactory",
            "token_expiry_date": expiry.strftime("%Y-%m-%d %H:%M:%S"),
        }

    def authenticate(self, token: Optional[str], api_key: Optional[str]) -> Session:
        if not token:
            raise ApiError(400, NO_TOKEN if api_key else NO_AUTH)
        if token.count(".") != 2:
            raise ApiError(401, "Invalid token: Wrong number of segments")
        with self.lock:
            session = self.sessions.get(token)
            if session is None:
                raise ApiError(401, "Invalid token: Token Signature could not be verified.")
            if session.blacklisted:
                raise ApiError(403, BLACKLISTED)
            if session.expires_at <= time.time():
                raise ApiError(401, EXPIRED)
            return session

    def session_info(self, token: Optional[str]) -> dict:
        if not token:
            raise ApiError(404, "No user session found.")
        session = self.authenticate(token, None)
        return {"session_token": token, "session_id": token, "id": session.user_id, "email": session.email, "is_sys_admin": True}

    def refresh(self, token: Optional[str]) -> dict:
        with self.lock:
            session = self.sessions.get(token or "")
            if session is None or session.blacklisted:
                raise ApiError(401, "Token refresh failed. Token has expired and can no longer be refreshed")
            session.blacklisted = True
            new = _new_token(session.email)
            self.sessions[new] = Session(new, session.user_id, session.email, time.time() + self.token_ttl_seconds)
        return {"session_token": new, "session_id": new, "id": session.user_id, "email": session.email}

    def logout(self, token: Optional[str]) -> dict:
        session = self.authenticate(token, None)
        with self.lock:
            session.blacklisted = True
        return {"success": True}

    # -- system/cors (§1-§3) -------------------------------------------------------------------------------

    def public(self, row: dict, fields: Optional[str] = "*") -> dict:
        record = {column: row.get(column) for column in COLUMNS}
        record["method"] = mask_to_verbs(row.get("method") or 0)
        if fields and fields != "*":
            wanted = [name.strip() for name in fields.split(",")]
            record = {name: record[name] for name in wanted if name in record}
        return record

    def _result(self, row: dict, fields: Optional[str]) -> dict:
        return self.public(row, fields) if fields else {"id": row["id"]}

    def _validate(self, row: dict) -> None:
        errors = {}
        if not row.get("path"):
            errors["path"] = ["The path is required."]
        if not row.get("origin"):
            errors["origin"] = ["The origin is required."]
        if errors:
            text = " ".join(message for messages in errors.values() for message in messages)
            raise ApiError(400, f"Invalid data supplied. {text}", context=errors)
        if not isinstance(row.get("max_age") or 0, int) or isinstance(row.get("max_age"), bool):
            raise ApiError(500, "SQLSTATE[HY000]: General error: 1366 Incorrect integer value for column 'max_age'", code="HY000")
        if any(row_id != row.get("id") for row_id in self.rows.ids_with_path(row["path"], self.case_insensitive_paths)):
            raise ApiError(
                500,
                f"SQLSTATE[23000]: Integrity constraint violation: 1062 Duplicate entry '{row['path']}' for key "
                "'cors_config_path_unique' (Connection: mysql, SQL: insert into `cors_config` ...)",
                code="23000",
            )

    def _apply(self, row: dict, record: dict) -> None:
        for column in WRITABLE:
            if column not in record:
                continue
            value = _clean_string(record[column])
            if column == "method":
                value = verbs_to_mask(record[column])
            elif column in ("supports_credentials", "enabled"):
                value = bool(value)
            elif column == "max_age":
                value = 0 if value is None else value
            row[column] = value

    def list(self, params: dict[str, str]) -> dict:
        with self.lock:
            rows = sorted(self.rows.values(), key=lambda row: row["id"])
            if params.get("ids"):
                wanted = [int(part) for part in params["ids"].split(",")]
                missing = [row_id for row_id in wanted if row_id not in self.rows]
                if missing:
                    raise ApiError(400, "Batch Error: Not all requested records could be retrieved.", code=1000)
                rows = [self.rows[row_id] for row_id in wanted]
            if params.get("filter"):
                rows = [row for row in rows
                        if _filter_matches(params["filter"], self.public(row), self.case_insensitive_paths)]
            if params.get("order", "").lower().endswith("desc"):
                rows.reverse()
            limit = int(params.get("limit") or self.max_records_returned)
            limit = limit if 1 <= limit <= self.max_records_returned else self.max_records_returned
            offset = int(params.get("offset") or 0)
            page = rows[offset:offset + limit]
            body: dict = {"resource": [self.public(row, params.get("fields") or "*") for row in page]}
            if params.get("include_count", "").lower() == "true":
                body["meta"] = {"count": len(rows)}
            return body

    def get(self, row_id: int, fields: Optional[str]) -> dict:
        with self.lock:
            row = self.rows.get(row_id)
            if row is None:
                raise ApiError(404, f"Record with identifier '{row_id}' not found.")
            return self.public(row, fields or "*")

    def create(self, body: Any, user_id: int, fields: Optional[str]) -> dict:
        records = body.get("resource") if isinstance(body, dict) else body
        if not isinstance(records, list) or not records:
            raise ApiError(400, WRAPPER_MSG)
        results: list[Any] = []
        with self.lock:
            for index, record in enumerate(records):
                try:
                    if not isinstance(record, dict):
                        raise ApiError(400, "Invalid record.")
                    row: dict = {"id": None, "description": None, "header": None, "exposed_header": None, "method": 0,
                                 "max_age": 0, "supports_credentials": False, "enabled": True}
                    self._apply(row, record)
                    self._validate(row)
                except ApiError as error:
                    results.append(error.to_dict() if error.code != "23000" else {"code": error.code, "message": error.message})
                    raise ApiError(400, "Batch Error: Not all requested records could be created.", code=1000,
                                   context={"error": [index], "resource": results}) from None
                stamp = now_iso()
                row.update(id=self.next_id, created_date=stamp, last_modified_date=stamp, created_by_id=user_id,
                           last_modified_by_id=None)
                self.rows.put(row)
                self.next_id += 1
                results.append(self._result(row, fields))
            self.save()
        return {"resource": results}

    def update(self, row_id: int, body: Any, user_id: int, fields: Optional[str]) -> dict:
        with self.lock:
            current = self.rows.get(row_id)
            if current is None:
                raise ApiError(404, f"Record with identifier '{row_id}' not found.")
            row = dict(current)
            try:
                self._apply(row, body if isinstance(body, dict) else {})
                self._validate(row)
            except ApiError as error:
                raise ApiError(500, f"Failed to update resource: {error.message}") from None
            row.update(last_modified_date=now_iso(), last_modified_by_id=user_id)
            self.rows.put(row)
            self.save()
            return self._result(row, fields)

    def delete(self, row_id: int, fields: Optional[str]) -> dict:
        with self.lock:
            row = self.rows.get(row_id)
            if row is None:
                raise ApiError(404, f"Record with identifier '{row_id}' not found.")
            result = self._result(row, fields)
            self.rows.pop(row_id)
            self.save()
            return result

    def delete_many(self, ids: Optional[str], body: Any, force: bool) -> dict:
        with self.lock:
            if force:
                self.rows.clear()
                self.save()
                return {}
            if ids:
                wanted = [int(part) for part in ids.split(",")]
            else:
                records = body.get("resource", []) if isinstance(body, dict) else []
                wanted = [int(record["id"]) for record in records if isinstance(record, dict) and "id" in record]
            if not wanted:
                raise ApiError(400, "No filter or records given for delete request.")
            for row_id in wanted:
                if row_id not in self.rows:
                    raise ApiError(400, "Batch Error: Not all requested records could be deleted.", code=1000)
            for row_id in wanted:
                self.rows.pop(row_id)
            self.save()
            return {"resource": [{"id": row_id} for row_id in wanted]}

    # -- the CORS middleware (§5) --------------------------------------------------------------------------

    def cors_row_for(self, raw_path: str) -> Optional[dict]:
        subject = unquote(raw_path.strip("/")) or "/"
        best = None
        with self.lock:
            for row in self.rows.middleware_candidates(subject):
                if not row.get("enabled"):
                    continue
                pattern = row["path"]
                matches = _glob(pattern, subject)
                if not matches and pattern.startswith("^"):
                    matches = re.search(pattern, raw_path, re.IGNORECASE) is not None
                if matches and (best is None or len(pattern) > len(best["path"])):
                    best = row
        return best

    def cors_headers(self, raw_path: str, origin: Optional[str], preflight_method: Optional[str],
                     request_headers: Optional[str]) -> tuple[Optional[int], dict[str, str]]:
        """(status for a preflight or None, headers to add) as DfCorsService and HandleCors would."""
        if self.cors_regression:
            headers = {"Access-Control-Allow-Origin": "*"}
            if preflight_method is None:
                return None, headers
            return 405, {**headers, "Access-Control-Allow-Methods": "*", "Access-Control-Max-Age": "0"}
        row = self.cors_row_for(raw_path)
        origins = (row.get("origin") or "").split(",") if row else []
        methods = mask_to_verbs(row.get("method") or 0) if row else []
        credentials = bool(row and row.get("supports_credentials"))
        headers: dict[str, str] = {}
        if "*" in origins and not credentials:
            headers["Access-Control-Allow-Origin"] = "*"
        elif len(origins) == 1 and origins[0] and "*" not in origins[0]:
            headers["Access-Control-Allow-Origin"] = origins[0]
        elif origin and any(_origin_matches(allowed, origin) for allowed in origins):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Vary"] = "Origin"
        allowed = "Access-Control-Allow-Origin" in headers
        if allowed and credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        if preflight_method is None:
            exposed = (row.get("exposed_header") or "") if row else ""
            if allowed and exposed:
                headers["Access-Control-Expose-Headers"] = ", ".join(exposed.split(","))
            return None, headers
        status = 204 if preflight_method.upper() in methods or "*" in methods else 405
        if allowed:
            headers["Access-Control-Allow-Methods"] = ", ".join(methods)
            header_list = ((row.get("header") or "").split(",")) if row else []
            headers["Access-Control-Allow-Headers"] = (request_headers or "") if "*" in header_list else ", ".join(header_list)
            headers["Access-Control-Max-Age"] = str(row.get("max_age") or 0) if row else "0"
        headers["Vary"] = ", ".join(filter(None, [headers.get("Vary"), "Access-Control-Request-Method"]))
        return status, headers


@functools.lru_cache(maxsize=None)
def _glob_regex(pattern: str) -> re.Pattern:
    # Every request is matched against every entry: with more patterns than re's own cache holds (512), each
    # request would compile them all again.
    return re.compile("".join(".*" if char == "*" else re.escape(char) for char in pattern), re.DOTALL)


def _glob(pattern: str, subject: str) -> bool:
    """Laravel Str::is: '*' matches any run of characters including '/', anchored, case-sensitive."""
    return _glob_regex(pattern).fullmatch(subject) is not None


def _origin_matches(allowed: str, origin: str) -> bool:
    if "*" in allowed:
        return _glob(allowed, origin)
    return allowed == origin


_FILTER = re.compile(r"^\(?\s*(\w+)\s*=\s*'((?:[^']|'')*)'\s*\)?$")


def _filter_matches(expression: str, record: dict, ignore_case: bool = False) -> bool:
    """The subset of DreamFactory's filter syntax the project uses: ``field='value'`` (MySQL's collation ignores
    case when ``ignore_case``)."""
    match = _FILTER.match(expression.strip())
    if not match:
        raise ApiError(400, f"Invalid or unparsable filter request: '{expression}'")
    name, value = match.group(1), match.group(2).replace("''", "'")
    if name not in record:
        raise ApiError(400, f"Invalid or unparsable field in filter request: '{name}'")
    if ignore_case:
        return str(record[name]).lower() == value.lower()
    return str(record[name]) == value


def _new_token(email: str) -> str:
    def segment(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    claims = {"sub": email, "iat": int(time.time()), "jti": secrets.token_hex(8)}
    return f"{segment({'typ': 'JWT', 'alg': 'HS256'})}.{segment(claims)}.{secrets.token_urlsafe(32)}"
