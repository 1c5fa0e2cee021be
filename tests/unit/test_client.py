"""The DreamFactory client against the local DreamFactory double."""

from __future__ import annotations

import threading

import pytest
import requests

from components.dreamfactory.client import ConnectionSettings, DreamFactoryClient
from components.dreamfactory.errors import (
    AuthenticationError,
    BadRequestError,
    BatchError,
    ConfigurationError,
    ForbiddenError,
    NotFoundError,
    ServerError,
    TransportError,
    error_from_response,
)
from tests.support.local_df import ADMIN_EMAIL

RECORD = {"path": "api/v2/*", "origin": "https://app.example.com", "method": ["GET"]}


def make_client(local_df, **overrides) -> DreamFactoryClient:
    settings = dict(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password, backoff_seconds=0.01)
    settings.update(overrides)
    return DreamFactoryClient(ConnectionSettings(**settings))


def logins(local_df) -> int:
    return sum(1 for r in local_df.requests_log() if r["path"] == "system/admin/session" and r["method"] == "POST")


def test_crud_round_trip(local_df):
    client = make_client(local_df)
    created = client.create_cors(RECORD)
    assert created["path"] == "api/v2/*" and created["method"] == ["GET"]
    updated = client.update_cors(created["id"], {"max_age": 60})
    assert updated["max_age"] == 60 and updated["origin"] == RECORD["origin"]
    assert client.get_cors(created["id"])["max_age"] == 60
    assert client.find_cors_by_path("api/v2/*")["id"] == created["id"]
    assert client.find_cors_by_path("api/v2/other") is None
    client.delete_cors(created["id"])
    with pytest.raises(NotFoundError, match="Record with identifier"):
        client.get_cors(created["id"])


def test_logs_in_once_and_again_only_after_the_token_expires(local_df):
    client = make_client(local_df)
    client.create_cors(RECORD)
    client.find_cors_by_path("x")
    assert logins(local_df) == 1
    local_df.control("POST", "expire-tokens")
    assert client.find_cors_by_path("api/v2/*") is not None
    assert logins(local_df) == 2


def test_concurrent_calls_after_expiry_share_one_new_login(local_df):
    client = make_client(local_df)
    client.find_cors_by_path("x")
    local_df.control("POST", "expire-tokens")
    errors = []

    def call():
        try:
            client.find_cors_by_path("x")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert logins(local_df) == 2


def test_wrong_password_is_an_authentication_error_without_the_password(local_df):
    client = make_client(local_df, password="not-the-password")
    with pytest.raises(AuthenticationError) as caught:
        client.find_cors_by_path("x")
    assert "Invalid credentials supplied." in str(caught.value)
    assert "dreamfactory:password" in str(caught.value)
    assert "not-the-password" not in repr(caught.value) + str(caught.value)


def test_given_session_token_is_used_without_login(local_df):
    token = make_client(local_df)._login()
    local_df.clear_log()
    client = DreamFactoryClient(ConnectionSettings(url=local_df.url, session_token=token))
    client.find_cors_by_path("x")
    assert logins(local_df) == 0
    local_df.control("POST", "expire-tokens")
    with pytest.raises(AuthenticationError, match="no credentials are configured"):
        client.find_cors_by_path("x")


def test_a_logged_out_token_gets_one_fresh_login_when_credentials_allow_it(local_df):
    stale = make_client(local_df)._login()
    make_client(local_df, session_token=stale).request("DELETE", "system/admin/session")  # logout: blacklisted
    local_df.clear_log()
    client = make_client(local_df, session_token=stale)
    assert client.find_cors_by_path("x") is None
    assert logins(local_df) == 1
    without_credentials = DreamFactoryClient(ConnectionSettings(url=local_df.url, session_token=stale))
    with pytest.raises(ForbiddenError, match="blacklisted") as caught:
        without_credentials.find_cors_by_path("x")
    assert caught.value.status == 403 and logins(local_df) == 1  # DreamFactory's answer, no login attempted


def test_username_login_for_a_dreamfactory_that_logs_in_by_username(local_df):
    admins = {**local_df.state.admins, "dfadmin": local_df.password}  # DF_LOGIN_ATTRIBUTE=username: by user name
    with local_df.switched(login_attribute="username", admins=admins):
        with pytest.raises(BadRequestError, match="missing required username"):
            make_client(local_df).find_cors_by_path("x")  # e-mail login is refused by such a server
        settings = ConnectionSettings.from_config(
            {"dreamfactory:url": local_df.url}.get,
            {"DREAMFACTORY_USERNAME": "dfadmin", "DREAMFACTORY_PASSWORD": local_df.password})
        assert settings.username == "dfadmin" and settings.email is None
        assert DreamFactoryClient(settings).find_cors_by_path("x") is None


def test_listing_pages_until_an_empty_page_when_the_server_caps_lists_lower(local_df):
    client = make_client(local_df)
    for number in range(7):
        client.create_cors({**RECORD, "path": f"api/v2/app{number}/*"})
    with local_df.switched(max_records_returned=3):  # an operator's lowered DB_MAX_RECORDS_RETURNED
        local_df.clear_log()
        assert [entry["path"] for entry in client.iter_cors()] == [f"api/v2/app{n}/*" for n in range(7)]
        pages = [r for r in local_df.requests_log() if r["method"] == "GET" and r["path"] == "system/cors"]
        assert len(pages) == 4  # 3 + 3 + 1 + the empty page that ends it


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_idempotent_calls_are_retried_on_transient_statuses(local_df, status):
    client = make_client(local_df)
    created = client.create_cors(RECORD)
    local_df.inject("GET", "system/cors", status, count=2)
    local_df.clear_log()
    assert client.get_cors(created["id"])["id"] == created["id"]
    statuses = [r["status"] for r in local_df.requests_log()]
    assert statuses == [status, status, 200]


def test_post_is_never_replayed_after_a_5xx(local_df):
    client = make_client(local_df)
    client.find_cors_by_path("x")
    local_df.inject("POST", "system/cors", 503, body="<html>503 Service Unavailable</html>")
    with pytest.raises(ServerError, match="no DreamFactory error envelope"):
        client.create_cors(RECORD)
    assert [r["status"] for r in local_df.requests_log() if r["path"] == "system/cors" and r["method"] == "POST"] == [503]


def test_retries_are_bounded(local_df):
    client = make_client(local_df, max_retries=2)
    client.find_cors_by_path("x")
    local_df.inject("GET", "system/cors", 503, count=10)
    local_df.clear_log()
    with pytest.raises(ServerError) as caught:
        client.find_cors_by_path("x")
    assert caught.value.status == 503
    assert len(local_df.requests_log()) == 3


def test_duplicate_path_is_a_batch_error_with_the_record_message(local_df):
    client = make_client(local_df)
    client.create_cors(RECORD)
    with pytest.raises(BatchError) as caught:
        client.create_cors(RECORD)
    assert caught.value.is_duplicate_key
    assert "Duplicate entry 'api/v2/*'" in str(caught.value)


def test_unsupported_verb_message_is_unescaped(local_df):
    client = make_client(local_df)
    with pytest.raises(BatchError) as caught:
        client.create_cors({**RECORD, "method": ["FOO"]})
    assert 'The verb "FOO" is not supported.' in str(caught.value)
    assert "&quot;" not in str(caught.value)


def test_unreachable_server_is_a_transport_error():
    client = DreamFactoryClient(ConnectionSettings(url="http://127.0.0.1:9", email="a@b.c", password="secret-pw",
                                                   max_retries=1, backoff_seconds=0.01, timeout_seconds=2))
    with pytest.raises(TransportError, match="dreamfactory:url") as caught:
        client.find_cors_by_path("x")
    assert "secret-pw" not in str(caught.value)


def test_proxy_variables_are_honoured_and_read_once_per_session(local_df, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(TransportError, match="ProxyError"):
        make_client(local_df, max_retries=0).find_cors_by_path("x")

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    reads = []
    read = requests.utils.get_environ_proxies
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", lambda *args, **kwargs: reads.append(1) or read(*args, **kwargs))
    client = make_client(local_df)
    for _ in range(3):
        assert client.find_cors_by_path("x") is None
    assert client.preflight("api/v2/x", "https://a.example", "GET")[0] == 405
    assert len(reads) == 1


@pytest.mark.parametrize(
    "settings, words",
    [
        (dict(url="df.example.com", email="a", password="b"), "dreamfactory:url"),
        (dict(url="https://df.example.com?api_key=x", email="a", password="b"), "query"),
        (dict(url="https://df.example.com"), "credentials"),
        (dict(url="https://df.example.com", session_token="t", timeout_seconds=0), "timeoutSeconds"),
    ],
)
def test_bad_settings_are_refused_before_any_call(settings, words):
    with pytest.raises(ConfigurationError, match=words):
        ConnectionSettings(**settings)


def test_settings_repr_hides_secrets():
    settings = ConnectionSettings(url="https://df.example.com", email="a@b.c", password="pw-123",
                                  session_token="tok-456", api_key="key-789")
    assert not any(secret in repr(settings) for secret in ("pw-123", "tok-456", "key-789"))


def test_settings_from_config_with_environment_fallback():
    config = {"dreamfactory:url": "https://df.example.com", "dreamfactory:verifyTls": "false",
              "dreamfactory:timeoutSeconds": "12.5", "dreamfactory:email": ""}
    environ = {"DREAMFACTORY_EMAIL": "ops@example.com", "DREAMFACTORY_PASSWORD": "pw",
               "DREAMFACTORY_URL": "https://ignored.example.com"}
    settings = ConnectionSettings.from_config(config.get, environ)
    assert settings.url == "https://df.example.com"
    assert settings.email == "ops@example.com" and settings.password == "pw"
    assert settings.tls_verify is False and settings.timeout_seconds == 12.5


def test_tls_verification_is_on_by_default_and_takes_a_ca_bundle():
    base = dict(url="https://df.example.com", session_token="t")
    assert ConnectionSettings(**base).tls_verify is True
    assert ConnectionSettings(**base, ca_bundle="/etc/ca.pem").tls_verify == "/etc/ca.pem"
    with pytest.raises(ConfigurationError, match="verifyTls"):
        ConnectionSettings.from_config({"dreamfactory:verifyTls": "maybe", **{"dreamfactory:url": "https://x.io"}}.get, {})


def test_error_envelope_without_batch_context():
    error = error_from_response(400, {"error": {"code": 400, "context": None, "status_code": 400,
                                                "message": "Invalid or unparsable field in filter request: &quot;x&quot;"}},
                                method="GET", url="/api/v2/system/cors")
    assert isinstance(error, BadRequestError) and not isinstance(error, BatchError)
    assert str(error) == 'DreamFactory GET /api/v2/system/cors: HTTP 400: Invalid or unparsable field in filter request: "x"'


def test_retry_after_is_honoured_but_capped():
    from urllib3 import HTTPResponse

    from components.dreamfactory.client import MAX_RETRY_AFTER_SECONDS, _BoundedRetry

    retry = _BoundedRetry(total=2, status_forcelist=[429])
    assert retry.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "3600"})) == MAX_RETRY_AFTER_SECONDS
    assert retry.get_retry_after(HTTPResponse(status=429, headers={"Retry-After": "2"})) == 2


def test_a_refused_login_names_where_email_and_password_came_from(local_df):
    config = {"dreamfactory:url": local_df.url, "dreamfactory:email": ADMIN_EMAIL}
    settings = ConnectionSettings.from_config(config.get, {"DREAMFACTORY_PASSWORD": "wrong"})
    with pytest.raises(AuthenticationError) as refused:
        DreamFactoryClient(settings).get_cors(1)
    assert "(check dreamfactory:email and DREAMFACTORY_PASSWORD)" in str(refused.value)
    from_config = ConnectionSettings.from_config({**config, "dreamfactory:password": "wrong"}.get, {})
    with pytest.raises(AuthenticationError, match=r"check dreamfactory:email and dreamfactory:password\)"):
        DreamFactoryClient(from_config).get_cors(1)


def test_a_named_instance_reads_only_its_own_environment():
    from components.dreamfactory.client import instance_environment

    assert instance_environment("eu-west.2")["password"] == "DREAMFACTORY_EU_WEST_2_PASSWORD"
    environ = {"DREAMFACTORY_PASSWORD": "default-instance-password", "DREAMFACTORY_EMAIL": "default@example.com",
               "DREAMFACTORY_EU_SESSION_TOKEN": "eu-token"}
    config = {"dreamfactory:instance": "eu", "dreamfactory:url": "https://df-eu.example.com"}
    settings = ConnectionSettings.from_config(config.get, environ)
    # The default instance's password never reaches another DreamFactory.
    assert (settings.password, settings.email, settings.session_token) == (None, None, "eu-token")
    assert settings.sources["sessionToken"] == "DREAMFACTORY_EU_SESSION_TOKEN"
    with pytest.raises(ConfigurationError, match="instance 'eu': no DreamFactory credentials: .*DREAMFACTORY_EU_PASSWORD"):
        ConnectionSettings.from_config(config.get, {"DREAMFACTORY_PASSWORD": "default-instance-password"})
