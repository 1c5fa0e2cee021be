"""``CorsProvider``: the Pulumi dynamic provider for DreamFactory CORS entries.

Pickled by reference (module path + class name), so this module must stay importable with no side
effects, and its path and class name are frozen once stacks exist. The pickled instance holds no
state at all: connection settings arrive through ``configure()`` in the plugin process.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Optional

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)
from pulumi.output import Unknown

from . import cors_schema as schema
from .client import ConnectionSettings, DreamFactoryClient
from .errors import BatchError, DreamFactoryError, NotFoundError, ServerError, TransportError

log = logging.getLogger("dreamfactory")


def _mark_unknowns(value: Any) -> Any:
    """Replace Pulumi's preview-time ``Unknown`` objects with the schema's own marker."""
    if isinstance(value, Unknown):
        return schema.UNKNOWN
    if isinstance(value, list):
        return [_mark_unknowns(item) for item in value]
    return value


def _restore_unknowns(value: Any) -> Any:
    """The inverse of ``_mark_unknowns``, for what goes back to the engine."""
    if value is schema.UNKNOWN:
        return Unknown()
    if isinstance(value, list):
        return [_restore_unknowns(item) for item in value]
    return value


PROBE_ORIGIN = "https://preflight-probe.example"  # any origin, for an entry that allows '*'


def preflight_result(client: DreamFactoryClient, entry: dict) -> tuple[Optional[bool], Optional[str]]:
    """Send the preflight a browser would send for ``entry`` and judge DreamFactory's answer.

    (None, None) when it cannot be checked: verification off, entry disabled, or no probe path (a regex path
    without ``probe_path``). (False, why) when DreamFactory does not answer with the entry's origin and method."""
    probe = schema.probe_path_for(entry)
    if not entry.get("verify_preflight", True) or not entry.get("enabled", True) or probe is None:
        return None, None
    origins, methods = entry.get("origins") or [], entry.get("methods") or []
    origin = PROBE_ORIGIN if not origins or origins[0] == "*" else origins[0]
    method = methods[0] if methods else "GET"
    status, headers = client.preflight(probe, origin, method)
    allow_origin = headers.get("Access-Control-Allow-Origin")
    allow_methods = [m.strip().upper() for m in headers.get("Access-Control-Allow-Methods", "").split(",")]
    if 200 <= status < 300 and allow_origin in (origin, "*") and (method in allow_methods or "*" in allow_methods):
        return True, None
    if not methods:
        cause = "the entry allows no methods, so DreamFactory refuses every preflight; list the methods"
    elif 300 <= status < 400:
        cause = (f"DreamFactory answered {status} redirecting to {headers.get('Location')!r}, and a browser's "
                 "preflight never follows a redirect; set dreamfactory:url to the address that answers directly")
    elif status == 405 and allow_origin == "*" and "*" not in origins:
        cause = ("DreamFactory answers with the framework's CORS defaults, not its CORS table: the CORS-preflight "
                 "regression of DreamFactory 7.x releases before the df-core fix (3eddaa3); upgrade DreamFactory")
    elif allow_origin not in (origin, "*"):
        cause = (f"the answer allows origin {allow_origin!r}, not {origin!r}: another enabled entry with a longer "
                 f"matching path may shadow this one for {probe!r}, or set probe_path to a path this entry serves")
    else:
        cause = f"DreamFactory answered {status} with methods {headers.get('Access-Control-Allow-Methods')!r}"
    return False, f"a browser's preflight (OPTIONS /{probe}, Origin {origin}, method {method}) fails: {cause}"


def _instance_words(instance: Optional[str]) -> str:
    return f"DreamFactoryInstance {instance!r}" if instance else "the stack's DreamFactory (dreamfactory:*)"


class CorsProvider(ResourceProvider):
    """Create, read, update and delete ``system/cors`` entries."""

    # Nothing secret is captured (credentials come from configure()), so the serialized provider
    # need not be encrypted in state: that saves one secret per resource.
    serialize_as_secret_always = False

    def configure(self, req: ConfigureRequest) -> None:
        self._settings_source = req.config.get
        self.__dict__.pop("_configured_url_value", None)  # read again from this config

    def _configured_url(self) -> str:
        """The address this plugin process is configured for (no request, no credentials needed); read once, as the
        config does not change in a plugin process and diff asks for every entry."""
        url = self.__dict__.get("_configured_url_value")
        if url is None:
            get = self.__dict__.get("_settings_source", lambda key: None)
            url = ConnectionSettings.from_config(get, os.environ, require_credentials=False).url.rstrip("/")
            self._configured_url_value = url
        return url

    def _elsewhere(self, props: dict) -> Optional[str]:
        """The address of another DreamFactory that ``props``' entry was written to, if the URL changed since."""
        written_to = props.get(schema.WRITTEN_TO)
        return written_to if written_to and written_to != self._configured_url() else None

    def _client(self, props: dict) -> DreamFactoryClient:
        """The client of the DreamFactory this plugin process is configured for, which must be the one ``props``'
        entry lives on: an id read, written or deleted on another DreamFactory would be someone else's entry."""
        # Built on first use, once per plugin process; the plugin may call from four threads at once.
        lock = self.__dict__.setdefault("_client_lock", threading.Lock())
        with lock:
            client = self.__dict__.get("_client_instance")
            if client is None:
                get = self.__dict__.get("_settings_source", lambda key: None)
                settings = ConnectionSettings.from_config(get, os.environ)
                client = self._client_instance = DreamFactoryClient(settings)
                self._configured_instance = settings.instance
        configured, wanted = self._configured_instance, props.get("instance") or None
        if configured != wanted:
            raise DreamFactoryError(
                f"CORS entry {props.get('path')!r} lives on {_instance_words(wanted)}, but this provider is "
                f"{_instance_words(configured)}; give the entry the provider of its instance")
        return client

    def __getstate__(self) -> dict:
        # Never pickle a client, a lock or the config reader: only the class reference travels.
        return {}

    # -- check / diff --------------------------------------------------------------------------------

    def check(self, _olds: dict, news: dict) -> CheckResult:
        props = schema.normalise({key: _mark_unknowns(value) for key, value in news.items()})
        failures = [CheckFailure(name, reason) for name, reason in schema.validate(props)]
        return CheckResult({key: _restore_unknowns(value) for key, value in props.items()}, failures)

    def diff(self, _id: str, olds: dict, news: dict) -> DiffResult:
        news = schema.normalise({key: _mark_unknowns(value) for key, value in news.items()})
        changed = schema.changed_fields(olds, news) + schema.changed_probe_fields(olds, news)
        moved = [name for name in schema.IDENTITY_FIELDS if (olds.get(name) or None) != (news.get(name) or None)]
        if self._elsewhere(olds):  # the instance's URL changed: create it there (the old one is left, see delete)
            moved.append(schema.WRITTEN_TO)
        return DiffResult(changes=bool(changed or moved), replaces=moved, delete_before_replace=False)

    # -- create / read / update / delete -----------------------------------------------------------

    def create(self, props: dict) -> CreateResult:
        props = schema.normalise(props)
        client = self._client(props)
        if props["adopt_existing"]:
            existing = client.find_cors_by_path(props["path"])
            if existing is not None:
                log.info("adopting existing CORS entry %s for path %r", existing["id"], props["path"])
                return CreateResult(str(existing["id"]), self._verified(client, self._converge(client, existing, props)))
        wire = schema.to_wire(props)
        try:
            record = client.create_cors(wire)
        except BatchError as exc:
            if not exc.is_duplicate_key:
                raise
            # An entry equal to this create is its own orphan: an earlier `up` stored it and was killed before
            # the state recorded it. Anything else at this path is someone else's entry.
            record = self._identical_entry(client, wire)
            if record is None:
                raise self._duplicate_path_error(client, props["path"], exc) from None
            log.warning("path %r already holds an entry equal to this one (id %s), left by an interrupted run; "
                        "using it", wire["path"], record["id"])
        except (ServerError, TransportError) as exc:
            # The POST may have been committed before the failure; never POST twice, look instead.
            record = self._identical_entry(client, wire)
            if record is None:
                raise
            log.warning("create of path %r failed (%s) but the entry was stored; using it", wire["path"], exc)
        return CreateResult(str(record["id"]), self._verified(client, self._outputs(record, props)))

    def read(self, id_: str, props: dict) -> ReadResult:
        if self._elsewhere(props):  # its id means nothing here; the next up creates it on the new DreamFactory
            return ReadResult(id_, props)
        client = self._client(props)
        try:
            record = client.get_cors(int(id_))
        except NotFoundError:
            log.info("CORS entry %s no longer exists in DreamFactory", id_)
            return ReadResult(None, {})
        outputs = self._verified(client, self._outputs(record, props))
        inputs = {name: outputs[name]
                  for name in (*schema.MANAGED_FIELDS, "adopt_existing", *schema.PROBE_FIELDS, *schema.IDENTITY_FIELDS)}
        return ReadResult(id_, outputs, inputs)

    def update(self, id_: str, olds: dict, news: dict) -> UpdateResult:
        props = schema.normalise(news)
        client = self._client(props)
        if not schema.changed_fields(olds, props):  # only verify_preflight / probe_path changed: probe again
            kept = {key: value for key, value in olds.items() if not key.startswith("__")}
            return UpdateResult(self._verified(client, {**kept, **{k: props[k] for k in schema.PROBE_FIELDS}}))
        try:
            record = client.update_cors(int(id_), schema.to_wire(props))
        except NotFoundError:
            raise DreamFactoryError(
                f"CORS entry {id_} (path {olds.get('path')!r}) was deleted outside Pulumi; run `pulumi refresh` "
                "so that the next `pulumi up` creates it again",
                status=404,
            ) from None
        return UpdateResult(self._verified(client, self._outputs(record, props)))

    def delete(self, id_: str, props: dict) -> None:
        elsewhere = self._elsewhere(props)
        if elsewhere:  # never delete by id on a DreamFactory the entry was not written to
            log.warning("CORS entry %s (path %r) was written to %s, not %s; left there", id_, props.get("path"),
                        elsewhere, self._configured_url())
            return
        try:
            self._client(props).delete_cors(int(id_))
        except NotFoundError:
            log.info("CORS entry %s was already gone", id_)

    # -- helpers ---------------------------------------------------------------------------------------

    def _outputs(self, record: dict, props: dict) -> dict:
        outputs = schema.from_wire(record)
        outputs["adopt_existing"] = bool(props.get("adopt_existing", False))
        for name in (*schema.PROBE_FIELDS, *schema.IDENTITY_FIELDS):
            outputs[name] = props.get(name, schema.DEFAULTS[name])
        outputs[schema.WRITTEN_TO] = self._configured_url()
        return outputs

    @staticmethod
    def _verified(client: DreamFactoryClient, outputs: dict) -> dict:
        """``outputs`` with ``preflight_verified`` (True / False / None) and, when False, ``preflight_problem``."""
        verified, problem = preflight_result(client, outputs)
        if problem:
            log.warning("CORS entry %s (path %r): %s", outputs.get("entry_id"), outputs.get("path"), problem)
        return {**outputs, "preflight_verified": verified, "preflight_problem": problem}

    def _converge(self, client: DreamFactoryClient, existing: dict, props: dict) -> dict:
        current = schema.from_wire(existing)
        if not schema.changed_fields(current, props):
            return self._outputs(existing, props)
        return self._outputs(client.update_cors(existing["id"], schema.to_wire(props)), props)

    @staticmethod
    def _duplicate_path_error(client: DreamFactoryClient, path: str, cause: BatchError) -> DreamFactoryError:
        existing = client.find_cors_by_path(path)
        which = f" (entry id {existing['id']})" if existing else ""
        if existing and existing.get("path") != path:
            which = (f" as entry id {existing['id']} with path {existing.get('path')!r} (DreamFactory's database "
                     "compares paths without regard to case)")
        return DreamFactoryError(
            f"a CORS entry with path {path!r} already exists{which}; set adopt_existing=True (adoptExisting: true "
            "in the stack file) to manage that entry with this resource, or choose another path",
            status=cause.status,
            code=cause.code,
        )

    @staticmethod
    def _identical_entry(client: DreamFactoryClient, wire: dict) -> Optional[dict]:
        """The entry at ``wire``'s path when every managed field equals ``wire`` (what this create sends), else None."""
        try:
            existing = client.find_cors_by_path(wire["path"])
        except DreamFactoryError:
            return None
        if existing is None or schema.changed_fields(schema.from_wire(existing), schema.from_wire({**wire, "id": 0})):
            return None
        return existing

