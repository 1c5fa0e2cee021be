"""The CORS entry schema: normalisation, validation, and the mapping to and from DreamFactory's wire format.

Pure functions, no pulumi import. Property names are the public argument names of ``CorsEntry``;
wire names are DreamFactory's columns (``origin``, ``header``, ``exposed_header``, ``method``).
Values that are not known yet (preview) arrive as ``UNKNOWN`` and are carried through unvalidated.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

# DreamFactory's verb bitmask order (core:src/Enums/VerbsMask.php); the server returns verbs in this order.
VERBS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "COPY", "TRACE", "CONNECT")

LIST_FIELDS = ("origins", "headers", "exposed_headers", "methods")
MANAGED_FIELDS = (
    "path",
    "origins",
    "description",
    "headers",
    "exposed_headers",
    "max_age",
    "methods",
    "supports_credentials",
    "enabled",
)
DEFAULTS: dict[str, Any] = {
    "description": None,
    "headers": [],
    "exposed_headers": [],
    "max_age": 0,
    "methods": [],
    "supports_credentials": False,
    "enabled": True,
    "adopt_existing": False,
    "verify_preflight": True,
    "probe_path": None,
    "instance": None,
}
# Inputs of the provider itself, not DreamFactory columns: a change to them needs no write, only a new probe.
PROBE_FIELDS = ("verify_preflight", "probe_path")
# The DreamFactoryInstance the entry lives on (None: the stack's dreamfactory:*): part of its identity, since an id
# means nothing on another DreamFactory. A change is a replace: create on the new one, delete from the old one.
IDENTITY_FIELDS = ("instance",)
# The address of the DreamFactory the entry was written to: when the provider's URL changes, the entry is created on
# the new DreamFactory and left on the old one, never read, written or deleted by id there (ARCHITECTURE.md).
WRITTEN_TO = "dreamfactory_url"
OUTPUT_FIELDS = ("entry_id", *MANAGED_FIELDS, "adopt_existing", *PROBE_FIELDS, *IDENTITY_FIELDS, WRITTEN_TO,
                 "preflight_verified", "preflight_problem", "created_date", "last_modified_date")
PROBE_SEGMENT = "dreamfactory-infra-probe"  # what a derived probe path puts where the pattern has '*'

MAX_PATH_LENGTH = 255  # varchar(255) column
# Column limits of cors_config (df-core create_system_tables): MySQL in strict mode and Postgres refuse longer
# values at `up` (SQLSTATE 22001), so `check` refuses them first.
MAX_ORIGIN_LENGTH = 255  # varchar(255): the origins joined with ","
MAX_TEXT_BYTES = 65535  # text: header, exposed_header
MAX_INTEGER = 2147483647  # int: max_age
_ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://"
    r"(?P<host>(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(:(?P<port>[0-9]{1,5}))?"
)
_HEADER_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class _Unknown:
    """A value Pulumi does not know yet (preview); validation skips it."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()

Failure = tuple[str, str]  # (property, reason)


def _is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, list) and any(item is UNKNOWN for item in value))


def _normalise_list(value: Any, *, key: Callable[[str], str] = lambda item: item) -> Any:
    """Trim items and drop duplicates (first one wins); anything that is not a list is returned as is."""
    if not isinstance(value, (list, tuple)):
        return value
    seen: set[str] = set()
    result: list[Any] = []
    for item in value:
        if isinstance(item, str):
            item = item.strip()
            if key(item) in seen:
                continue
            seen.add(key(item))
        result.append(item)
    return result


def _lower_origins(value: Any) -> Any:
    """Browsers send scheme and host in lower case and DreamFactory (php-cors) compares origins exactly."""
    if not isinstance(value, (list, tuple)):
        return value
    return [item.lower() if isinstance(item, str) else item for item in value]


def _normalise_methods(value: Any) -> Any:
    if not isinstance(value, (list, tuple)) or _is_unknown(list(value)):
        return value
    upper = [item.strip().upper() if isinstance(item, str) else item for item in value]
    known = [verb for verb in VERBS if verb in upper]
    others = [item for item in _normalise_list(upper) if item not in VERBS]
    return known + others  # unknown verbs are kept so that validation can name them


def _normalise_number(value: Any) -> Any:
    """Engine numbers are floats (3600.0); an integral float becomes an int."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def normalise(props: dict) -> dict:
    """The canonical form of the user's inputs: defaults filled, lists trimmed, verbs ordered."""
    result = {key: value for key, value in props.items() if not key.startswith("__")}
    for key, default in DEFAULTS.items():
        if result.get(key) is None:
            result[key] = list(default) if isinstance(default, list) else default
    if isinstance(result.get("path"), str):
        result["path"] = result["path"].strip()
    if isinstance(result.get("description"), str):
        result["description"] = result["description"].strip() or None
    if isinstance(result.get("probe_path"), str):
        result["probe_path"] = result["probe_path"].strip().lstrip("/") or None
    result["origins"] = _normalise_list(_lower_origins(result.get("origins")))
    result["headers"] = _normalise_list(result["headers"], key=str.lower)
    result["exposed_headers"] = _normalise_list(result["exposed_headers"], key=str.lower)
    result["methods"] = _normalise_methods(result["methods"])
    result["max_age"] = _normalise_number(result["max_age"])
    return result


def _check_path(path: Any) -> list[Failure]:
    if path is UNKNOWN:
        return []
    if not isinstance(path, str) or not path:
        return [("path", "path is required: the URL pattern the entry applies to, e.g. 'api/v2/*'")]
    failures = []
    if path.startswith("/"):
        failures.append((
            "path",
            f"path {path!r} starts with '/': DreamFactory matches patterns against the request path without its "
            f"leading slash, so this entry would never apply; use {path.lstrip('/')!r}",
        ))
    if len(path) > MAX_PATH_LENGTH:
        failures.append(("path", f"path is {len(path)} characters long; DreamFactory stores at most {MAX_PATH_LENGTH}"))
    if re.search(r"[\s'\"]", path):
        failures.append(("path", f"path {path!r} contains whitespace or a quote; remove it (no request path matches it)"))
    return failures


def _check_string_list(name: str, value: Any, *, required: bool) -> list[Failure]:
    if value is UNKNOWN:
        return []
    if value is None and required:
        return [(name, f"{name} is required: give at least one entry")]
    if not isinstance(value, list):
        return [(name, f"{name} must be a list of strings")]
    if required and not value:
        return [(name, f"{name} is required: give at least one entry")]
    failures = []
    for index, item in enumerate(value):
        if item is UNKNOWN:
            continue
        if not isinstance(item, str) or not item:
            failures.append((name, f"{name}[{index}] must be a non-empty string"))
        elif "," in item:
            failures.append((
                name,
                f"{name}[{index}] {item!r} contains a comma; DreamFactory stores the list comma-separated, "
                "so give each value as its own list item",
            ))
    return failures


def _check_origins(origins: Any) -> list[Failure]:
    failures = _check_string_list("origins", origins, required=True)
    if failures or origins is UNKNOWN:
        return failures
    for index, origin in enumerate(origins):
        if origin is UNKNOWN or origin == "*":
            continue
        if not _ORIGIN.fullmatch(origin.lower()):
            hint = ""
            scheme, sep, rest = origin.partition("://")
            if sep and "/" in rest:
                hint = f"; drop the path: {scheme}://{rest.split('/', 1)[0]}"
            elif not sep:
                hint = f"; add the scheme, e.g. https://{origin}"
            failures.append((
                "origins",
                f"origins[{index}] {origin!r} is not an origin: use '*' or scheme://host[:port] with no path{hint}",
            ))
        elif (port := _ORIGIN.fullmatch(origin.lower()).group("port")) and not 0 < int(port) < 65536:
            failures.append(("origins", f"origins[{index}] {origin!r} has a port outside 1-65535"))
    return failures


def _check_headers(name: str, headers: Any) -> list[Failure]:
    failures = _check_string_list(name, headers, required=False)
    if failures or headers is UNKNOWN:
        return failures
    return [
        (name, f"{name}[{index}] {header!r} is not an HTTP header name (letters, digits and -_. only) or '*'")
        for index, header in enumerate(headers)
        if header is not UNKNOWN and header != "*" and not _HEADER_TOKEN.fullmatch(header)
    ]


def _check_methods(methods: Any) -> list[Failure]:
    if _is_unknown(methods):
        return []
    if not isinstance(methods, list):
        return [("methods", "methods must be a list of HTTP verbs")]
    return [
        ("methods", f"methods: {verb!r} is not a verb DreamFactory supports; use any of {', '.join(VERBS)}")
        for verb in methods
        if verb not in VERBS
    ]


def _check_bool(name: str, value: Any) -> list[Failure]:
    if value is UNKNOWN or isinstance(value, bool):
        return []
    return [(name, f"{name} must be true or false, not {value!r}")]


def _check_column_lengths(props: dict) -> list[Failure]:
    failures: list[Failure] = []
    origins = props.get("origins")
    if isinstance(origins, list) and not _is_unknown(origins) and all(isinstance(o, str) for o in origins):
        joined = len(",".join(origins))
        if joined > MAX_ORIGIN_LENGTH:
            failures.append(("origins", f"origins joined with ',' are {joined} characters; DreamFactory stores at most "
                                        f"{MAX_ORIGIN_LENGTH}: list fewer, or use a pattern such as "
                                        "'https://*.example.com'"))
    for name in ("headers", "exposed_headers"):
        items = props.get(name)
        if isinstance(items, list) and not _is_unknown(items) and all(isinstance(i, str) for i in items):
            size = len(",".join(items).encode())
            if size > MAX_TEXT_BYTES:
                failures.append((name, f"{name} joined with ',' are {size} bytes; DreamFactory stores at most "
                                       f"{MAX_TEXT_BYTES}"))
    return failures


def validate(props: dict) -> list[Failure]:
    """Every problem with normalised ``props``, each naming the property and the fix."""
    failures = _check_path(props.get("path"))
    failures += _check_origins(props.get("origins"))
    failures += _check_headers("headers", props.get("headers"))
    failures += _check_headers("exposed_headers", props.get("exposed_headers"))
    failures += _check_methods(props.get("methods"))
    max_age = props.get("max_age")
    if max_age is not UNKNOWN and (isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0):
        failures.append(("max_age", f"max_age must be a whole number of seconds >= 0, not {max_age!r}"))
    elif max_age is not UNKNOWN and max_age > MAX_INTEGER:
        failures.append(("max_age", f"max_age {max_age} is above {MAX_INTEGER}, the largest DreamFactory stores"))
    failures += _check_column_lengths(props)
    description = props.get("description")
    if description is not None and description is not UNKNOWN:
        if not isinstance(description, str):
            failures.append(("description", "description must be a string"))
        elif len(description) > 255:
            failures.append(("description", "description is longer than the 255 characters DreamFactory stores"))
    for name in ("supports_credentials", "enabled", "adopt_existing", "verify_preflight"):
        failures += _check_bool(name, props.get(name))
    probe = props.get("probe_path")
    if probe is not None and probe is not UNKNOWN and (not isinstance(probe, str) or re.search(r"[\s?#]", probe)):
        failures.append(("probe_path", f"probe_path {probe!r} must be a request path such as 'api/v2/db/_table' "
                                       "(no spaces, query or fragment)"))
    origins = props.get("origins")
    if props.get("supports_credentials") is True and isinstance(origins, list) and "*" in origins:
        failures.append((
            "supports_credentials",
            "origins contains '*' while supports_credentials is true: the CORS standard forbids credentials with a "
            "wildcard origin; list the exact origins or set supports_credentials to false",
        ))
    unknown_keys = sorted(set(props) - set(MANAGED_FIELDS) - set(DEFAULTS) - set(OUTPUT_FIELDS))
    failures += [(key, f"{key} is not a CorsEntry argument") for key in unknown_keys]
    return failures


def probe_path_for(props: dict) -> Optional[str]:
    """The request path a browser's preflight would use for this entry: ``probe_path``, else the pattern with each
    '*' filled in; None for a regular-expression path (DreamFactory's '^...') without ``probe_path``."""
    if props.get("probe_path"):
        return props["probe_path"]
    path = props.get("path")
    if not isinstance(path, str) or path.startswith("^"):  # DreamFactory's regular-expression paths
        return None
    return path.replace("*", PROBE_SEGMENT)


def _join(items: list[str]) -> Optional[str]:
    return ",".join(items) if items else None


def to_wire(props: dict) -> dict:
    """The DreamFactory record for normalised, valid ``props``; cleared fields are explicit nulls."""
    return {
        "path": props["path"],
        "description": props["description"],
        "origin": ",".join(props["origins"]),
        "header": _join(props["headers"]),
        "exposed_header": _join(props["exposed_headers"]),
        "method": list(props["methods"]),
        "max_age": props["max_age"],
        "supports_credentials": props["supports_credentials"],
        "enabled": props["enabled"],
    }


def _split(value: Optional[str]) -> list[str]:
    # Not trimmed: DreamFactory does not trim either, so " b.com" is real drift worth showing.
    return value.split(",") if value else []


def from_wire(record: dict) -> dict:
    """Outputs for a DreamFactory record (managed fields, id and dates), exactly as the server has them."""
    methods = record.get("method") or []
    return {
        "entry_id": int(record["id"]),
        "path": record.get("path"),
        "description": record.get("description") or None,
        "origins": _split(record.get("origin")),
        "headers": _split(record.get("header")),
        "exposed_headers": _split(record.get("exposed_header")),
        "methods": [verb for verb in VERBS if verb in methods],
        "max_age": _normalise_number(record.get("max_age") or 0),
        "supports_credentials": bool(record.get("supports_credentials")),
        "enabled": bool(record.get("enabled")),
        "created_date": record.get("created_date"),
        "last_modified_date": record.get("last_modified_date"),
    }


def changed_probe_fields(olds: dict, news: dict) -> list[str]:
    return [name for name in PROBE_FIELDS if olds.get(name, DEFAULTS[name]) != news.get(name, DEFAULTS[name])]


def changed_fields(olds: dict, news: dict) -> list[str]:
    """Managed fields whose values differ between stored outputs and new inputs (both normalised)."""
    return [name for name in MANAGED_FIELDS if _comparable(olds.get(name)) != _comparable(news.get(name))]


def _comparable(value: Any) -> Any:
    if value is UNKNOWN or (isinstance(value, list) and UNKNOWN in value):
        return object()  # never equal: an unknown value may change
    return _normalise_number(value)
