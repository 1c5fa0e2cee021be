"""Normalisation, validation and wire mapping of CORS entries (pure, no server)."""

from __future__ import annotations

import pytest

from components.dreamfactory import cors_schema as schema

VALID = {"path": "api/v2/*", "origins": ["https://app.example.com"]}


def failures_for(**overrides):
    return schema.validate(schema.normalise({**VALID, **overrides}))


def test_normalise_fills_defaults_and_trims():
    props = schema.normalise({"path": "  api/v2/*  ", "origins": [" https://a.example ", "https://a.example"],
                              "description": "   ", "__provider": "xyz"})
    assert props["path"] == "api/v2/*"
    assert props["origins"] == ["https://a.example"]
    assert props["description"] is None
    assert props["methods"] == [] and props["headers"] == [] and props["max_age"] == 0
    assert props["enabled"] is True and props["supports_credentials"] is False and props["adopt_existing"] is False
    assert "__provider" not in props


def test_origins_are_lower_cased_as_browsers_send_them_and_the_diff_is_stable():
    props = schema.normalise({**VALID, "origins": ["https://App.Example.com", "HTTPS://app.example.COM:8443",
                                                   "https://app.example.com"]})
    assert props["origins"] == ["https://app.example.com", "https://app.example.com:8443"]
    assert schema.normalise(props)["origins"] == props["origins"]
    stored = schema.from_wire({"id": 1, **schema.to_wire(props)})
    assert schema.changed_fields(stored, props) == []
    by_hand = schema.from_wire({"id": 1, **schema.to_wire(props),
                                "origin": "https://App.Example.com,https://app.example.com:8443"})
    assert schema.changed_fields(by_hand, props) == ["origins"]  # a mixed-case entry made by hand is fixed once


def test_column_limits_are_checked_before_any_call():
    eight = [f"https://service-{n}.department.example.com" for n in range(8)]
    joined = len(",".join(eight))
    [(field, message)] = failures_for(origins=eight)
    assert field == "origins" and f"are {joined} characters; DreamFactory stores at most 255" in message
    assert "https://*.example.com" in message
    assert len(",".join(eight[:6])) <= 255 and failures_for(origins=eight[:6]) == []
    [(field, message)] = failures_for(headers=["X-" + "a" * 70000])
    assert field == "headers" and "at most 65535" in message
    [(field, message)] = failures_for(max_age=2**31)
    assert field == "max_age" and "2147483647" in message


def test_normalise_upper_cases_deduplicates_and_orders_verbs():
    props = schema.normalise({**VALID, "methods": ["delete", " get", "GET", "post"]})
    assert props["methods"] == ["GET", "POST", "DELETE"]


def test_normalise_deduplicates_headers_case_insensitively():
    props = schema.normalise({**VALID, "headers": ["Content-Type", "content-type", " X-A "]})
    assert props["headers"] == ["Content-Type", "X-A"]


def test_engine_floats_become_integers():
    assert schema.normalise({**VALID, "max_age": 3600.0})["max_age"] == 3600
    assert failures_for(max_age=3600.0) == []


def test_valid_entry_has_no_failures():
    assert failures_for(methods=["GET"], headers=["*"], exposed_headers=["X-Total"], max_age=10,
                        origins=["*"], description="x") == []


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"path": None}, "path", "required"),
        ({"path": "/api/v2/*"}, "path", "'api/v2/*'"),
        ({"path": "api/v2/ x"}, "path", "whitespace"),
        ({"path": "a" * 256}, "path", "255"),
        ({"origins": []}, "origins", "required"),
        ({"origins": None}, "origins", "required"),
        ({"origins": "https://a.example"}, "origins", "list"),
        ({"origins": ["https://a.example/app"]}, "origins", "https://a.example"),
        ({"origins": ["a.example"]}, "origins", "https://a.example"),
        ({"origins": ["https://a.example,https://b.example"]}, "origins", "comma"),
        ({"origins": ["https://a.example:99999"]}, "origins", "port"),
        ({"origins": ["*"], "supports_credentials": True}, "supports_credentials", "wildcard"),
        ({"methods": ["GET", "FETCH"]}, "methods", "'FETCH'"),
        ({"max_age": -1}, "max_age", ">= 0"),
        ({"max_age": 1.5}, "max_age", "whole number"),
        ({"max_age": True}, "max_age", "whole number"),
        ({"headers": ["Content Type"]}, "headers", "header name"),
        ({"headers": ["X-Ok\nX-Injected: 1"]}, "headers", "header name"),
        ({"exposed_headers": ["A,B"]}, "exposed_headers", "comma"),
        ({"enabled": "yes"}, "enabled", "true or false"),
        ({"colour": "blue"}, "colour", "not a CorsEntry argument"),
    ],
)
def test_validation_names_the_field_and_the_fix(overrides, field, words):
    failures = failures_for(**overrides)
    assert failures, f"{overrides} was accepted"
    assert any(name == field and words in reason for name, reason in failures), failures


def test_unknown_values_are_not_validated():
    props = schema.normalise({"path": schema.UNKNOWN, "origins": [schema.UNKNOWN, "https://a.example"],
                              "methods": schema.UNKNOWN, "max_age": schema.UNKNOWN})
    assert schema.validate(props) == []


def test_wire_mapping_joins_lists_without_spaces_and_sends_explicit_nulls():
    wire = schema.to_wire(schema.normalise({**VALID, "origins": ["https://a.example", "https://b.example"],
                                            "methods": ["post", "get"]}))
    assert wire == {
        "path": "api/v2/*", "description": None, "origin": "https://a.example,https://b.example", "header": None,
        "exposed_header": None, "method": ["GET", "POST"], "max_age": 0, "supports_credentials": False,
        "enabled": True,
    }


def test_from_wire_keeps_untrimmed_items_so_drift_shows():
    outputs = schema.from_wire({"id": 7, "path": "p", "origin": "https://a.example, https://b.example",
                                "header": None, "exposed_header": "", "method": ["POST", "GET"], "max_age": 5,
                                "supports_credentials": 0, "enabled": 1, "created_date": "d1"})
    assert outputs["entry_id"] == 7
    assert outputs["origins"] == ["https://a.example", " https://b.example"]
    assert outputs["headers"] == [] and outputs["exposed_headers"] == []
    assert outputs["methods"] == ["GET", "POST"]
    assert outputs["supports_credentials"] is False and outputs["enabled"] is True


def test_changed_fields_compares_normalised_values_only():
    stored = {**schema.normalise(VALID), "entry_id": 3, "created_date": "x"}
    assert schema.changed_fields(stored, schema.normalise({**VALID, "adopt_existing": True})) == []
    assert schema.changed_fields(stored, schema.normalise({**VALID, "max_age": 60.0})) == ["max_age"]
    assert schema.changed_fields(stored, schema.normalise({**VALID, "origins": [schema.UNKNOWN]})) == ["origins"]
