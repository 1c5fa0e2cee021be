"""Contract tests: the pickled CorsProvider inside the real plugin process, against the local DreamFactory double.

Each step is the gRPC call the engine makes for `pulumi up` / `refresh` / `destroy`.
"""

from __future__ import annotations

import base64

import grpc
import requests
import pytest
from pulumi.runtime.proto import provider_pb2 as pb

from tests.support.local_df import ADMIN_EMAIL
from tests.support.plugin import Plugin, captured_provider

API_KEY = "api-key-" + "k" * 20
SPA = {"path": "api/v2/*", "origins": ["https://app.example.com"], "methods": ["post", "GET"],
       "headers": ["Content-Type"], "max_age": 3600.0, "description": "SPA front end"}


@pytest.fixture(scope="module")
def provider() -> str:
    return captured_provider()


@pytest.fixture(scope="module")
def shared_plugin(local_df_server, provider):
    config = {"dreamfactory:url": local_df_server.url, "dreamfactory:email": ADMIN_EMAIL,
              "dreamfactory:password": local_df_server.password, "dreamfactory:apiKey": API_KEY,
              "other-project:unrelated": "value"}
    plugin = Plugin(provider, config)
    yield plugin
    plugin.close()


@pytest.fixture
def plugin(shared_plugin, local_df) -> Plugin:
    return shared_plugin


def up(plugin: Plugin, name: str, props: dict) -> tuple[str, dict]:
    """Check then Create, as `pulumi up` does for a new resource."""
    inputs, failures = plugin.check(name, props)
    assert failures == []
    return plugin.create(name, inputs)


def test_full_lifecycle(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    [row] = local_df.rows()
    assert str(row["id"]) == entry_id
    assert row["origin"] == "https://app.example.com" and row["method"] == ["GET", "POST"]
    assert row["header"] == "Content-Type" and row["max_age"] == 3600 and row["description"] == "SPA front end"
    assert state["entry_id"] == row["id"] and state["methods"] == ["GET", "POST"]
    assert state["created_date"] == row["created_date"]

    inputs, _ = plugin.check("spa", {**SPA, "origins": ["https://app.example.com", "https://admin.example.com"],
                                     "headers": [], "description": None}, olds=state)
    assert plugin.diff("spa", entry_id, state, inputs) == pb.DiffResponse.DIFF_SOME
    state = plugin.update("spa", entry_id, state, inputs)
    [row] = local_df.rows()
    assert row["origin"] == "https://app.example.com,https://admin.example.com"
    assert row["header"] is None and row["description"] is None  # cleared with explicit nulls
    assert state["origins"] == ["https://app.example.com", "https://admin.example.com"] and state["headers"] == []

    read_id, refreshed, _ = plugin.read("spa", entry_id, state)
    assert read_id == entry_id and refreshed["origins"] == state["origins"]

    plugin.delete("spa", entry_id, refreshed)
    assert local_df.rows() == []


def test_no_change_diff_is_none_and_ignores_provider_and_adoption_flag(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    inputs, _ = plugin.check("spa", {**SPA, "adopt_existing": True, "methods": ["GET", "POST", "get"]}, olds=state)
    stored_by_an_older_release = {**state, "__provider": "b2xkZXItcGlja2xl"}
    assert plugin.diff("spa", entry_id, stored_by_an_older_release, inputs) == pb.DiffResponse.DIFF_NONE


def test_refresh_reports_out_of_band_edit_and_next_update_restores_it(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    local_df.control("PATCH", f"cors/{entry_id}", {"origin": "https://evil.example.com", "max_age": 1})
    _, refreshed, refreshed_inputs = plugin.read("spa", entry_id, state)
    assert refreshed["origins"] == ["https://evil.example.com"] and refreshed["max_age"] == 1
    assert refreshed_inputs["origins"] == ["https://evil.example.com"]
    inputs, _ = plugin.check("spa", SPA, olds=refreshed_inputs)
    assert plugin.diff("spa", entry_id, refreshed, inputs) == pb.DiffResponse.DIFF_SOME
    plugin.update("spa", entry_id, refreshed, inputs)
    assert local_df.rows()[0]["origin"] == "https://app.example.com" and local_df.rows()[0]["max_age"] == 3600


def test_refresh_drops_an_entry_deleted_out_of_band_and_delete_tolerates_it(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    local_df.control("DELETE", f"cors/{entry_id}")
    read_id, outputs, _ = plugin.read("spa", entry_id, state)
    assert read_id == ""
    assert set(outputs) == {"__provider"}
    plugin.delete("spa", entry_id, state)  # 404 counts as done


def test_update_of_an_entry_deleted_out_of_band_says_to_refresh(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    local_df.control("DELETE", f"cors/{entry_id}")
    inputs, _ = plugin.check("spa", {**SPA, "max_age": 5})
    with pytest.raises(grpc.RpcError) as caught:
        plugin.update("spa", entry_id, state, inputs)
    assert "pulumi refresh" in caught.value.details()


def test_duplicate_path_fails_naming_the_path_and_the_option(plugin, local_df):
    up(plugin, "first", SPA)
    inputs, _ = plugin.check("second", {**SPA, "max_age": 7})  # the same path, another entry
    with pytest.raises(grpc.RpcError) as caught:
        plugin.create("second", inputs)
    assert "'api/v2/*' already exists (entry id 1)" in caught.value.details()
    assert "adopt_existing=True" in caught.value.details()
    assert len(local_df.rows()) == 1 and local_df.rows()[0]["max_age"] != 7


def test_a_create_whose_path_holds_an_equal_entry_takes_that_orphan_without_a_write(plugin, local_df):
    """An `up` killed after DreamFactory stored an entry but before the state recorded it leaves that entry, equal
    to what the next `up` creates again: the create takes it (one POST refused, no PATCH, no second row)."""
    orphan, _ = up(plugin, "spa", SPA)
    local_df.clear_log()
    entry_id, state = up(plugin, "spa", SPA)
    assert entry_id == orphan and state["path"] == "api/v2/*" and state["adopt_existing"] is False
    assert [(r["method"], r["path"]) for r in local_df.writes()] == [("POST", "system/cors")]
    assert len(local_df.rows()) == 1


@pytest.fixture
def mysql_paths(local_df):
    """The double compares paths as MySQL's utf8mb4_unicode_ci collation does (unique index and filter)."""
    with local_df.switched(case_insensitive_paths=True):
        yield


def test_on_mysql_a_path_differing_only_in_case_is_adopted_and_a_duplicate_names_it(plugin, local_df, mysql_paths):
    existing, _ = up(plugin, "by-hand", {**SPA, "path": "API/v2/*"})
    inputs, _ = plugin.check("second", SPA)
    with pytest.raises(grpc.RpcError) as caught:
        plugin.create("second", inputs)
    assert f"as entry id {existing} with path 'API/v2/*'" in caught.value.details()
    assert "without regard to case" in caught.value.details()
    local_df.clear_log()
    entry_id, state = up(plugin, "adopted", {**SPA, "adopt_existing": True})
    assert entry_id == existing and state["path"] == "api/v2/*"
    assert [r["method"] for r in local_df.writes()] == ["PATCH"]  # the path's case, converged in place
    assert [row["path"] for row in local_df.rows()] == ["api/v2/*"]


@pytest.fixture
def regression(local_df):
    """The double answers as DreamFactory 7.x releases with the CORS-preflight regression do."""
    with local_df.switched(cors_regression=True):
        yield


def test_preflight_is_verified_against_the_real_middleware(plugin, local_df):
    _, state = up(plugin, "spa", SPA)
    assert state["preflight_verified"] is True and state.get("preflight_problem") is None
    _, disabled = up(plugin, "off", {**SPA, "path": "api/v2/off/*", "enabled": False})
    assert disabled.get("preflight_verified") is None
    _, regex = up(plugin, "regex", {**SPA, "path": "^/api/v2/re[0-9]+"})
    assert regex.get("preflight_verified") is None  # no probe path can be derived from a regular expression
    _, probed = up(plugin, "regex-probed", {**SPA, "path": "^/api/v2/rx[0-9]+", "probe_path": "/api/v2/rx42"})
    assert probed["preflight_verified"] is True
    _, none = up(plugin, "no-methods", {**SPA, "path": "api/v2/nm/*", "methods": []})
    assert none["preflight_verified"] is False and "allows no methods" in none["preflight_problem"]


def test_changing_only_the_probe_re_probes_without_writing_and_then_settles(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    changed = {**SPA, "probe_path": "api/v2/db/_table"}
    inputs, _ = plugin.check("spa", changed, olds=state)
    assert plugin.diff("spa", entry_id, state, {**inputs, "__provider": plugin.provider}) == pb.DiffResponse.DIFF_SOME
    local_df.clear_log()
    state = plugin.update("spa", entry_id, state, inputs)
    assert [(r["method"], r["path"]) for r in local_df.requests_log()] == [("OPTIONS", "db/_table")]  # no write
    assert state["probe_path"] == "api/v2/db/_table" and state["preflight_verified"] is True
    inputs, _ = plugin.check("spa", changed, olds=state)
    assert plugin.diff("spa", entry_id, state, {**inputs, "__provider": plugin.provider}) == pb.DiffResponse.DIFF_NONE
    off, _ = plugin.check("spa", {**changed, "verify_preflight": False}, olds=state)
    state = plugin.update("spa", entry_id, state, off)
    assert state.get("preflight_verified") is None and local_df.writes() == []


def test_preflight_fails_with_the_cause_on_a_dreamfactory_with_the_regression(plugin, local_df, regression):
    entry_id, state = up(plugin, "spa", SPA)
    assert state["preflight_verified"] is False
    assert "CORS-preflight regression" in state["preflight_problem"] and "upgrade DreamFactory" in state["preflight_problem"]
    assert len(local_df.rows()) == 1  # stored all the same: the entry is right, the server ignores it


def test_a_shadowing_entry_is_named_as_the_likely_cause(plugin, local_df):
    up(plugin, "wide", {**SPA, "path": "api/v2/db/*", "origins": ["https://other.example.com"]})
    _, narrow = up(plugin, "narrow", {**SPA, "path": "api/v2/*"})
    # The probe api/v2/dreamfactory-infra-probe matches only api/v2/*, so this one verifies; a longer pattern that
    # also matches the probe path wins in DreamFactory and shadows it:
    assert narrow["preflight_verified"] is True
    _, shadowed = up(plugin, "shadowed", {**SPA, "path": "api/*", "probe_path": "api/v2/db/x"})
    assert shadowed["preflight_verified"] is False and "shadow" in shadowed["preflight_problem"]


def test_adoption_takes_the_existing_entry_and_converges_it(plugin, local_df):
    existing, _ = up(plugin, "by-hand", {**SPA, "max_age": 5, "origins": ["https://old.example.com"]})
    local_df.clear_log()
    entry_id, state = up(plugin, "adopted", {**SPA, "adopt_existing": True})
    assert entry_id == existing
    assert [r["method"] for r in local_df.writes()] == ["PATCH"]
    assert local_df.rows()[0]["origin"] == "https://app.example.com" and state["adopt_existing"] is True


def test_adoption_of_an_equal_entry_writes_nothing_and_creates_when_absent(plugin, local_df):
    existing, _ = up(plugin, "by-hand", SPA)
    local_df.clear_log()
    assert up(plugin, "adopted", {**SPA, "adopt_existing": True})[0] == existing
    assert local_df.writes() == []
    other, _ = up(plugin, "fresh", {**SPA, "path": "api/v2/files/*", "adopt_existing": True})
    assert other != existing and len(local_df.rows()) == 2


def test_session_expiry_mid_run_logs_in_again(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    local_df.control("POST", "expire-tokens")
    local_df.clear_log()
    _, refreshed, _ = plugin.read("spa", entry_id, state)
    assert refreshed["path"] == "api/v2/*"
    assert [(r["method"], r["path"], r["status"]) for r in local_df.requests_log()] == [
        ("GET", f"system/cors/{entry_id}", 401),
        ("POST", "system/admin/session", 200),
        ("GET", f"system/cors/{entry_id}", 200),
        ("OPTIONS", "dreamfactory-infra-probe", 204),  # the preflight check (no credentials, so no 401)
    ]


def test_injected_503s_on_reads_and_updates_are_retried(plugin, local_df):
    entry_id, state = up(plugin, "spa", SPA)
    local_df.inject("GET", f"system/cors/{entry_id}", 503, count=2)
    assert plugin.read("spa", entry_id, state)[0] == entry_id
    local_df.inject("PATCH", f"system/cors/{entry_id}", 503, count=1)
    inputs, _ = plugin.check("spa", {**SPA, "max_age": 7})
    assert plugin.update("spa", entry_id, state, inputs)["max_age"] == 7


def test_a_500_after_commit_on_create_adopts_the_stored_entry_instead_of_a_duplicate(plugin, local_df):
    local_df.inject("POST", "system/cors", 500, after_commit=True)
    entry_id, state = up(plugin, "spa", SPA)
    rows = local_df.rows()
    assert len(rows) == 1 and str(rows[0]["id"]) == entry_id and state["path"] == "api/v2/*"
    assert sum(1 for r in local_df.requests_log() if r["method"] == "POST" and r["path"] == "system/cors") == 1


def test_a_500_before_commit_on_create_fails_with_dreamfactorys_message_and_stores_nothing(plugin, local_df):
    local_df.inject("POST", "system/cors", 500)
    inputs, _ = plugin.check("spa", SPA)
    with pytest.raises(grpc.RpcError) as caught:
        plugin.create("spa", inputs)
    assert "HTTP 500: Internal Server Error" in caught.value.details()
    assert local_df.rows() == []
    plugin.create("spa", inputs)  # the next `pulumi up` creates exactly one
    assert len(local_df.rows()) == 1


def test_check_failures_come_back_before_any_api_call(plugin, local_df):
    local_df.clear_log()
    _, failures = plugin.check("bad", {"path": "/api/v2/*", "origins": ["*"], "supports_credentials": True,
                                       "methods": ["GET", "FETCH"]})
    assert {name for name, _ in failures} == {"path", "supports_credentials", "methods"}
    assert local_df.requests_log() == []


def test_check_tolerates_preview_unknowns(plugin, local_df):
    from pulumi.runtime import rpc

    inputs, failures = plugin.check("preview", {"path": rpc.UNKNOWN, "origins": [rpc.UNKNOWN], "max_age": rpc.UNKNOWN})
    assert failures == []
    assert plugin.diff("preview", "1", {"path": "api/v2/*", "origins": ["https://a.example"]},
                       {**inputs, "__provider": plugin.provider}) == pb.DiffResponse.DIFF_SOME


def test_api_call_budget(plugin, local_df):
    local_df.clear_log()
    entry_id, state = up(plugin, "spa", SPA)
    calls = [(r["method"], r["path"]) for r in local_df.requests_log()]
    # One write; a login only if this is the plugin's first call (see test_logs_in_once_per_plugin_process).
    assert [call for call in calls if call[1] != "system/admin/session"] == [
        ("POST", "system/cors"), ("OPTIONS", "dreamfactory-infra-probe")]  # one write, then the preflight check
    assert calls.count(("POST", "system/admin/session")) <= 1
    local_df.clear_log()
    inputs, _ = plugin.check("spa", SPA, olds=state)
    assert plugin.diff("spa", entry_id, state, inputs) == pb.DiffResponse.DIFF_NONE
    assert local_df.requests_log() == []
    plugin.read("spa", entry_id, state)
    assert [(r["method"], r["path"]) for r in local_df.requests_log()] == [
        ("GET", f"system/cors/{entry_id}"), ("OPTIONS", "dreamfactory-infra-probe")]


def test_logs_in_once_per_plugin_process(local_df_server, provider):
    local_df_server.reset()
    plugin = Plugin(provider, {"dreamfactory:url": local_df_server.url, "dreamfactory:email": ADMIN_EMAIL,
                               "dreamfactory:password": local_df_server.password})
    try:
        for index in range(3):
            up(plugin, f"e{index}", {**SPA, "path": f"api/v2/e{index}/*"})
    finally:
        plugin.close()
    logins = [r for r in local_df_server.requests_log() if r["path"] == "system/admin/session"]
    assert len(logins) == 1


def test_environment_variables_fill_missing_config(local_df_server, provider):
    local_df_server.reset()
    plugin = Plugin(provider, {}, env={"DREAMFACTORY_URL": local_df_server.url, "DREAMFACTORY_EMAIL": ADMIN_EMAIL,
                                       "DREAMFACTORY_PASSWORD": local_df_server.password})
    try:
        entry_id, _ = up(plugin, "spa", SPA)
    finally:
        plugin.close()
    assert local_df_server.rows()[0]["id"] == int(entry_id)


def test_missing_url_fails_with_the_config_key_to_set(provider):
    plugin = Plugin(provider, {"dreamfactory:email": ADMIN_EMAIL, "dreamfactory:password": "x"},
                    env={"DREAMFACTORY_URL": ""})
    try:
        inputs, _ = plugin.check("spa", SPA)
        with pytest.raises(grpc.RpcError) as caught:
            plugin.create("spa", inputs)
    finally:
        plugin.close()
    assert "pulumi config set dreamfactory:url" in caught.value.details()


def test_no_secret_in_outputs_pickle_or_plugin_log(local_df, provider):
    plugin = Plugin(provider, {"dreamfactory:url": local_df.url, "dreamfactory:email": ADMIN_EMAIL,
                               "dreamfactory:password": local_df.password, "dreamfactory:apiKey": API_KEY})
    try:
        entry_id, state = up(plugin, "spa", SPA)
        local_df.control("POST", "expire-tokens")
        _, refreshed, refreshed_inputs = plugin.read("spa", entry_id, state)
        local_df.inject("POST", "system/cors", 500)
        inputs, _ = plugin.check("other", {**SPA, "path": "api/v2/other/*"})
        with pytest.raises(grpc.RpcError) as caught:
            plugin.create("other", inputs)
    finally:
        log = plugin.close()
    secrets = [local_df.password, API_KEY, *local_df.issued_tokens()]
    assert len(secrets) >= 4  # the password, the key and at least the two session tokens of this plugin
    haystack = repr([state, refreshed, refreshed_inputs, inputs, caught.value.details()]) + provider + log
    pickled = base64.b64decode(provider)
    for secret in secrets:
        assert secret not in haystack
        assert secret.encode() not in pickled


def test_check_refuses_what_dreamfactorys_columns_cannot_hold_before_any_call(plugin, local_df):
    local_df.clear_log()
    origins = [f"https://tenant-{n}.customer-portal.example.com" for n in range(8)]
    _, failures = plugin.check("long", {**SPA, "origins": origins})
    [(field, reason)] = failures
    assert field == "origins" and f"are {len(','.join(origins))} characters" in reason and "at most 255" in reason
    _, failures = plugin.check("old", {**SPA, "max_age": 2.0 ** 31})
    assert [field for field, _ in failures] == ["max_age"]
    assert local_df.requests_log() == []


def test_a_logged_out_session_token_in_config_gets_one_login_with_the_configured_credentials(local_df_server, provider):
    local_df_server.reset()
    config = {"dreamfactory:url": local_df_server.url, "dreamfactory:email": ADMIN_EMAIL,
              "dreamfactory:password": local_df_server.password}
    first = Plugin(provider, config)
    try:
        up(first, "warm-up", {**SPA, "path": "api/v2/warm/*"})
    finally:
        first.close()
    stale = local_df_server.issued_tokens()[-1]  # the one the warm-up logged in with
    requests.delete(f"{local_df_server.url}/api/v2/system/admin/session",
                    headers={"X-DreamFactory-Session-Token": stale}, timeout=10)  # logged out: blacklisted, 403
    local_df_server.clear_log()
    plugin = Plugin(provider, {**config, "dreamfactory:sessionToken": stale})
    try:
        entry_id, _ = up(plugin, "spa", SPA)
    finally:
        plugin.close()
    statuses = [(r["method"], r["path"], r["status"]) for r in local_df_server.requests_log()]
    assert statuses[:3] == [("POST", "system/cors", 403), ("POST", "system/admin/session", 200),
                            ("POST", "system/cors", 201)]
    assert str(local_df_server.rows()[-1]["id"]) == entry_id


def test_origins_in_mixed_case_are_stored_lower_case_and_the_diff_stays_clean(plugin, local_df):
    entry_id, state = up(plugin, "spa", {**SPA, "origins": ["HTTPS://App.Example.com"]})
    assert local_df.rows()[0]["origin"] == "https://app.example.com"
    inputs, _ = plugin.check("spa", {**SPA, "origins": ["HTTPS://App.Example.com"]}, olds=state)
    assert plugin.diff("spa", entry_id, state, inputs) == pb.DiffResponse.DIFF_NONE


def test_username_login_through_the_plugin(local_df_server, provider):
    local_df_server.reset()
    admins = {**local_df_server.state.admins, "dfadmin": local_df_server.password}
    with local_df_server.switched(login_attribute="username", admins=admins):
        plugin = Plugin(provider, {"dreamfactory:url": local_df_server.url, "dreamfactory:username": "dfadmin",
                                   "dreamfactory:password": local_df_server.password})
        try:
            entry_id, _ = up(plugin, "spa", SPA)
        finally:
            plugin.close()
        assert str(local_df_server.rows()[0]["id"]) == entry_id
