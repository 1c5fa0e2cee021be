"""The local DreamFactory double follows the reference behaviour the provider relies on."""

from __future__ import annotations

import json
import random
import re

import pytest
import requests

from local_dreamfactory import ADMIN_APP_KEY, DreamFactoryState, LocalDreamFactory
from local_dreamfactory.state import ApiError
from tests.support.local_df import ADMIN_EMAIL


def api(local_df, method, path, token=None, **kwargs):
    headers = kwargs.pop("headers", {})
    if token:
        headers["X-DreamFactory-Session-Token"] = token
    return requests.request(method, f"{local_df.url}/api/v2/{path}", headers=headers, timeout=10, **kwargs)


def login(local_df) -> str:
    response = api(local_df, "POST", "system/admin/session", json={"email": ADMIN_EMAIL, "password": local_df.password})
    assert response.status_code == 200
    return response.json()["session_token"]


def error(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["message"]


def test_auth_error_table(local_df):
    assert error(api(local_df, "GET", "system/cors"))[0] == 400
    assert "No session token (JWT) provided" in error(api(local_df, "GET", "system/cors",
                                                          headers={"X-DreamFactory-API-Key": ADMIN_APP_KEY}))[1]
    assert error(api(local_df, "GET", "system/cors", token="garbage")) == (401, "Invalid token: Wrong number of segments")
    assert error(api(local_df, "POST", "system/admin/session", json={"email": ADMIN_EMAIL, "password": "x"})) == (
        401, "Invalid credentials supplied.")
    token = login(local_df)
    assert api(local_df, "GET", "system/cors", token=token).json() == {"resource": []}
    local_df.control("POST", "expire-tokens")
    assert error(api(local_df, "GET", "system/cors", token=token))[1].startswith("Token has expired")
    token = login(local_df)
    assert api(local_df, "DELETE", "system/admin/session", token=token).json() == {"success": True}
    assert error(api(local_df, "GET", "system/cors", token=token))[0] == 403


def test_wrapping_and_status_codes(local_df):
    token = login(local_df)
    assert error(api(local_df, "POST", "system/cors", token=token, json={"path": "a", "origin": "*"}))[1].startswith(
        "No record(s) detected")
    created = api(local_df, "POST", "system/cors", token=token, json={"resource": [{"path": "a/*", "origin": "*"}]})
    assert created.status_code == 201 and created.json() == {"resource": [{"id": 1}]}
    assert api(local_df, "PUT", "system/cors/1", token=token, json={"max_age": 9}).json() == {"id": 1}
    record = api(local_df, "GET", "system/cors/1", token=token).json()
    assert record["origin"] == "*" and record["max_age"] == 9 and record["method"] == []
    failed = api(local_df, "PATCH", "system/cors/1", token=token, json={"origin": "  "})
    assert error(failed) == (500, "Failed to update resource: Invalid data supplied. The origin is required.")
    missing = api(local_df, "POST", "system/cors", token=token, json={"resource": [{"path": "b"}]})
    assert missing.json()["error"]["context"]["resource"][0]["context"] == {"origin": ["The origin is required."]}
    assert error(api(local_df, "DELETE", "system/cors", token=token))[0] == 400
    assert api(local_df, "DELETE", "system/cors/1", token=token).json() == {"id": 1}
    assert error(api(local_df, "GET", "system/cors/1", token=token)) == (404, "Record with identifier '1' not found.")


def test_preflight_is_answered_before_auth_by_the_longest_matching_enabled_path(local_df):
    token = login(local_df)
    rows = [{"path": "api/v2/*", "origin": "https://a.example", "method": ["GET"], "max_age": 60},
            {"path": "api/v2/db/*", "origin": "https://a.example,https://b.example", "method": ["GET", "POST"],
             "header": "Content-Type", "supports_credentials": True},
            {"path": "/api/v2/db/_table/*", "origin": "*", "method": ["DELETE"]},
            {"path": "api/v2/db/_table/x", "origin": "*", "method": ["PUT"], "enabled": False}]
    api(local_df, "POST", "system/cors", token=token, json={"resource": rows})

    def preflight(path, origin, verb):
        return requests.options(f"{local_df.url}/api/v2/{path}", timeout=10,
                                headers={"Origin": origin, "Access-Control-Request-Method": verb})

    general = preflight("system/cors", "https://z.example", "GET")
    assert general.status_code == 204 and general.headers["Access-Control-Allow-Origin"] == "https://a.example"
    assert general.headers["Access-Control-Max-Age"] == "60"
    db = preflight("db/_table/x", "https://b.example", "POST")
    assert db.status_code == 204 and db.headers["Access-Control-Allow-Origin"] == "https://b.example"
    assert db.headers["Access-Control-Allow-Credentials"] == "true"
    assert db.headers["Access-Control-Allow-Methods"] == "GET, POST"
    assert preflight("db/_table/x", "https://b.example", "DELETE").status_code == 405  # leading '/' never matches
    assert "Access-Control-Allow-Origin" not in preflight("db/x", "https://c.example", "GET").headers
    assert preflight("files/x", "https://a.example", "PUT").status_code == 405


def test_test_controls_are_off_by_default():
    server = LocalDreamFactory(DreamFactoryState(admins={"a@example.com": "pw"}))
    server.start_in_thread()
    try:
        assert requests.post(f"{server.url}/_test/reset", timeout=10).status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_the_indexed_middleware_and_unique_path_agree_with_a_full_scan_through_writes():
    """The double indexes rows by path (ARCHITECTURE.md); random paths, requests, updates and deletes must give the
    answer a scan of every row gives: the longest matching enabled path, the lowest id among equals."""
    chance = random.Random(7)
    state = DreamFactoryState(admins={ADMIN_EMAIL: "pw"})

    def random_path() -> str:
        return "".join(chance.choice("ab/*") for _ in range(chance.randint(1, 6)))

    def scanned(subject: str):
        matching = [row for row in sorted(state.rows.values(), key=lambda row: row["id"])
                    if row["enabled"] and re.fullmatch(re.escape(row["path"]).replace(r"\*", ".*"), subject, re.DOTALL)]
        return max(matching, key=lambda row: len(row["path"]), default=None)  # max keeps the first of equals

    for _ in range(300):
        action, ids, path = chance.random(), [row["id"] for row in state.rows.values()], random_path()
        target = None if action < 0.5 or not ids else chance.choice(ids)
        taken = {row["path"] for row in state.rows.values() if row["id"] != target}
        try:
            if target is None:
                state.create({"resource": [{"path": path, "origin": "*", "enabled": chance.random() < 0.8}]}, 1, None)
            elif action < 0.8:
                state.update(target, {"path": path, "enabled": chance.random() < 0.8}, 1, None)
            else:
                state.delete(target, None)
                continue
            assert path not in taken
        except ApiError as error:
            assert path in taken and "Duplicate entry" in json.dumps(error.to_dict()) + json.dumps(error.context)
        for subject in ("".join(chance.choice("ab/") for _ in range(chance.randint(0, 6))) for _ in range(5)):
            assert state.cors_row_for(subject) is scanned(subject.strip("/") or "/"), subject  # as DreamFactory strips it
        ids = [row["id"] for row in state.rows.values()]
        assert ids == sorted(ids)  # an update keeps the row's place: the table iterates in id order
    assert len({row["path"] for row in state.rows.values()}) == len(state.rows) > 5


def test_a_regex_path_is_tried_on_every_request_and_case_folding_finds_the_duplicate():
    state = DreamFactoryState(admins={ADMIN_EMAIL: "pw"})
    state.create({"resource": [{"path": "^/api/v2/f(iles)?/", "origin": "*"}, {"path": "api/v2/DB/*", "origin": "*"}]},
                 1, None)
    assert state.cors_row_for("/api/v2/files/x")["id"] == 1
    assert state.cors_row_for("/api/v2/DB/x")["id"] == 2
    assert state.cors_row_for("/api/v2/system/x") is None
    state.create({"resource": [{"path": "api/v2/db/*", "origin": "*"}]}, 1, None)  # another path where case counts
    state.case_insensitive_paths = True  # MySQL's collation
    with pytest.raises(ApiError, match="Duplicate entry 'API/V2/DB/\\*'"):
        state.update(3, {"path": "API/V2/DB/*"}, 1, None)
