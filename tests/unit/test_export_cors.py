"""The adoption export: stack config for every existing entry, which adopting then writes nothing for."""

from __future__ import annotations

import io

import yaml

from components.dreamfactory import cors_schema
from components.dreamfactory.client import ConnectionSettings, DreamFactoryClient
from components.settings import parse_cors_entries
from tests.support.local_df import ADMIN_EMAIL
from tools import export_cors


def test_exported_config_validates_and_matches_the_server(local_df, monkeypatch, capsys):
    client = DreamFactoryClient(ConnectionSettings(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password))
    client.create_cors({"path": "api/v2/*", "origin": "https://a.example,https://b.example", "method": ["GET", "POST"],
                        "header": "Content-Type", "max_age": 60, "description": "by hand"})
    client.create_cors({"path": "api/v2/db/*", "origin": "*", "enabled": False})
    client.create_cors({"path": "API/V2/db/*", "origin": "*", "supports_credentials": False})
    monkeypatch.setenv("DREAMFACTORY_URL", local_df.url)
    monkeypatch.setenv("DREAMFACTORY_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", local_df.password)

    assert export_cors.main(["--yaml"]) == 0
    exported = yaml.safe_load(capsys.readouterr().out)["dreamfactory-infra:corsEntries"]
    assert [entry["name"] for entry in exported] == ["api-v2", "api-v2-db", "api-v2-db-2"]
    assert exported[0] == {"name": "api-v2", "path": "api/v2/*", "origins": ["https://a.example", "https://b.example"],
                           "description": "by hand", "methods": ["GET", "POST"], "headers": ["Content-Type"],
                           "maxAge": 60, "adoptExisting": True}
    assert exported[1]["enabled"] is False

    entries = parse_cors_entries("prod", "corsEntries", exported)
    for entry, record in zip(entries, local_df.rows()):
        desired = cors_schema.normalise(entry.arguments)
        assert cors_schema.changed_fields(cors_schema.from_wire(record), desired) == []  # adoption writes nothing


def test_table_lists_every_entry(local_df):
    client = DreamFactoryClient(ConnectionSettings(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password))
    client.create_cors({"path": "api/v2/*", "origin": "*", "method": ["GET"]})
    out = io.StringIO()
    export_cors.write_table(list(client.iter_cors()), out)
    assert "api/v2/*" in out.getvalue() and "GET" in out.getvalue()


def test_unreachable_dreamfactory_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setenv("DREAMFACTORY_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("DREAMFACTORY_SESSION_TOKEN", "x.y.z")
    assert export_cors.main([]) == 1
    assert "error: DreamFactory GET" in capsys.readouterr().err


def test_export_lists_every_entry_when_the_server_caps_lists_lower(local_df, monkeypatch, capsys):
    client = DreamFactoryClient(ConnectionSettings(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password))
    for number in range(7):
        client.create_cors({"path": f"api/v2/app{number}/*", "origin": "*"})
    monkeypatch.setenv("DREAMFACTORY_URL", local_df.url)
    monkeypatch.setenv("DREAMFACTORY_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("DREAMFACTORY_PASSWORD", local_df.password)
    with local_df.switched(max_records_returned=3):  # an operator's lowered DB_MAX_RECORDS_RETURNED
        assert export_cors.main(["--yaml"]) == 0
    exported = yaml.safe_load(capsys.readouterr().out)["dreamfactory-infra:corsEntries"]
    assert [entry["path"] for entry in exported] == [f"api/v2/app{number}/*" for number in range(7)]


def test_an_instance_is_exported_from_its_own_environment_with_its_name(local_df, monkeypatch, capsys):
    client = DreamFactoryClient(ConnectionSettings(url=local_df.url, email=ADMIN_EMAIL, password=local_df.password))
    client.create_cors({"path": "api/v2/*", "origin": "https://a.example", "method": ["GET"]})
    monkeypatch.setenv("DREAMFACTORY_EU_WEST_URL", local_df.url)
    monkeypatch.setenv("DREAMFACTORY_EU_WEST_EMAIL", ADMIN_EMAIL)
    monkeypatch.setenv("DREAMFACTORY_EU_WEST_PASSWORD", local_df.password)
    monkeypatch.setenv("DREAMFACTORY_URL", "http://127.0.0.1:9")  # the default instance's: not read

    assert export_cors.main(["--yaml", "--instance", "eu-west"]) == 0
    exported = yaml.safe_load(capsys.readouterr().out)["dreamfactory-infra:corsEntries"]
    assert exported == [{"name": "eu-west-api-v2", "instance": "eu-west", "path": "api/v2/*",
                         "origins": ["https://a.example"], "methods": ["GET"], "adoptExisting": True}]
    [entry] = parse_cors_entries("prod", "corsEntries", exported, ["eu-west"])
    assert entry.instance == "eu-west"


def test_an_instance_without_its_environment_names_the_variables(monkeypatch, capsys):
    monkeypatch.setenv("DREAMFACTORY_URL", "https://df.example.com")
    assert export_cors.main(["--instance", "eu"]) == 1
    assert "instance 'eu' url must be an http(s) URL such as https://df.example.com (its url, or DREAMFACTORY_EU_URL)" \
        in capsys.readouterr().err
