"""engine.validcache: checks that passed are kept by content; failures, and private values, never are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import validcache, yamlcache
from engine.feedfiles import cron_problem

ROOT = Path(__file__).resolve().parents[2]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["url", "token"],
    "properties": {
        "url": {"type": "string", "pattern": "^https?://"},
        "token": {"type": "string", "minLength": 1},
        "pages": {"type": "integer", "minimum": 1, "maximum": 250},
        "mode": {"enum": ["test", "live"]},
    },
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(yamlcache.ENV_VAR, str(folder))
    return folder


class Checker:
    """A check that counts its calls and fails when the instance breaks SCHEMA (jsonschema decides)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, instance: Any, schema: dict[str, Any] = SCHEMA) -> list[str]:
        import jsonschema

        self.calls += 1
        return [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(instance)]

    def run(self, instance: Any, schema: dict[str, Any] = SCHEMA, **kw: Any) -> list[str]:
        return validcache.schema_passed(schema, instance, lambda: self(instance, schema), **kw)


def test_a_pass_is_kept_and_the_same_document_is_not_checked_again(cache: Path) -> None:
    check = Checker()
    doc = {"url": "https://a.example", "token": "t", "pages": 5}

    assert check.run(doc) == [] and check.run(dict(doc)) == []

    assert check.calls == 1
    assert check.run({**doc, "pages": 6}) == [] and check.calls == 2  # another document, another check
    assert check.run({**doc, "pages": 6.0}) == [] and check.calls == 3  # 6.0 is not hashed like 6


def test_a_failure_is_checked_every_time(cache: Path) -> None:
    check = Checker()
    doc = {"url": "ftp://a.example", "token": "t"}

    for _ in range(2):
        assert check.run(doc) == ["'ftp://a.example' does not match '^https?://'"]

    assert check.calls == 2


def test_private_values_stay_out_of_the_key_but_are_checked_every_time(cache: Path) -> None:
    check = Checker()
    private = [("token",), ("url",)]

    assert check.run({"url": "https://a.example", "token": "secret-one"}, private=private) == []
    assert check.run({"url": "https://b.example", "token": "secret-two"}, private=private) == []
    assert check.calls == 1  # the key holds neither value: the second document is the same to it

    assert check.run({"url": "https://b.example", "token": ""}, private=private) == ["'' should be non-empty"]
    assert check.run({"url": "b.example", "token": "x"}, private=private) == ["'b.example' does not match '^https?://'"]
    assert check.run({"url": "https://b.example", "token": 5}, private=private) == ["5 is not of type 'string'"]
    assert check.calls == 4
    names = [p.name for p in cache.rglob("*")]
    assert not [n for n in names if "secret" in n or "example" in n]


def test_every_value_private_keeps_only_the_shape(cache: Path) -> None:
    check = Checker()
    every = validcache.EVERY_VALUE

    assert check.run({"url": "https://a", "token": "1", "pages": 9, "mode": "test"}, private=every) == []
    assert check.run({"url": "http://b", "token": "2", "pages": 250, "mode": "live"}, private=every) == []
    assert check.calls == 1
    assert check.run({"url": "http://b", "token": "2", "pages": 251, "mode": "live"}, private=every) == [
        "251 is greater than the maximum of 250"]
    assert check.run({"url": "http://b", "token": "2", "pages": 9, "mode": "prod"}, private=every) == [
        "'prod' is not one of ['test', 'live']"]
    assert check.run({"url": "http://b", "token": "2", "pages": True}, private=every) == [
        "True is not of type 'integer'"]
    assert check.calls == 4


@pytest.mark.parametrize("leaf", [
    {"type": "string", "format": "email", "not": {"const": "x"}},  # a keyword checked here never is
    {"anyOf": [{"type": "string"}, {"type": "null"}]},
    {"$ref": "https://elsewhere.example/schema.json"},
])
def test_a_private_value_under_a_schema_too_rich_to_check_alone_is_checked_every_time(cache: Path,
                                                                                       leaf: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"token": leaf}}
    calls = []

    for _ in range(2):
        assert validcache.schema_passed(schema, {"token": "s"}, lambda: calls.append(1) or [],
                                        private=[("token",)]) == []

    assert len(calls) == 2


def test_a_local_ref_and_additional_properties_lead_to_the_private_value(cache: Path) -> None:
    schema = {"type": "object", "additionalProperties": {"$ref": "#/$defs/shop"},
              "$defs": {"shop": {"type": "object", "properties": {"settings": {"type": "object"}}}}}
    check = Checker()

    for token in ("one", "two"):
        assert check.run({"a": {"settings": {"token": token}}}, schema, private=[("a", "settings", "token")]) == []

    assert check.calls == 1


def test_the_cache_turned_off_checks_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(yamlcache.ENV_VAR, "")
    check = Checker()

    check.run({"url": "https://a", "token": "t"})
    check.run({"url": "https://a", "token": "t"})

    assert check.calls == 2


def test_an_unwritable_folder_only_means_checking_every_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(yamlcache.ENV_VAR, str(blocker))
    check = Checker()

    assert check.run({"url": "https://a", "token": "t"}) == [] and check.run({"url": "https://a", "token": "t"}) == []

    assert check.calls == 2


def test_a_cron_expression_is_checked_once_but_a_bad_one_every_time(cache: Path) -> None:
    assert cron_problem("*/5 * * * *") is None and cron_problem("*/5 * * * *") is None
    assert len(list((cache / "valid").rglob("*/*"))) == 1
    for _ in range(2):
        assert cron_problem("0 0 30 2 *") is not None  # 30 February never comes
    assert len(list((cache / "valid").rglob("*/*"))) == 1


START = """
import json, sys
from engine.config import load_config
from engine.mapping import Compiler
from engine.plugins import Hooks, build_manager
hooks = Hooks(build_manager())
try:
    config = load_config(sys.argv[1], connectors=hooks.connectors(), compiler=Compiler(hooks.jmespath_functions()))
    found = sorted(config.integrations["shop"].feeds)
except Exception as exc:
    found = exc.render() if hasattr(exc, "render") else repr(exc)
print(json.dumps([found, sorted(m for m in ("jsonschema", "croniter") if m in sys.modules)]))
"""


def test_a_second_start_imports_neither_checker_and_an_edit_is_still_caught(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.d"
    (feeds / "shopify").mkdir(parents=True)
    for path in (ROOT / "feeds.d" / "shopify").glob("*.yaml"):
        (feeds / "shopify" / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    config = tmp_path / "engine.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'e.db'}\nfeeds_dir: {feeds}\n"
                      f"mappings_dir: {ROOT / 'mappings'}\nintegrations:\n  shop:\n    connector: shopify\n"
                      "    settings:\n      shop_url: ${SHOP_URL}\n      access_token: ${SHOP_TOKEN}\n",
                      encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env.update(PYTHONPATH=str(ROOT), CONNECT_ENGINE_CACHE_DIR=str(tmp_path / "cache"), SHOP_URL="http://127.0.0.1:9",
               SHOP_TOKEN="shpat_first")

    def start(**more: str) -> list[Any]:
        proc = subprocess.run([sys.executable, "-c", START, str(config)], env={**env, **more}, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    first, second = start(), start(SHOP_TOKEN="shpat_second")
    assert first[0] == second[0] and "update_products" in first[0]
    assert (first[1], second[1]) == (["croniter", "jsonschema"], [])

    problems, _ = start(SHOP_URL="127.0.0.1:9")
    assert "integrations.shop.settings.shop_url" in problems
    feed = feeds / "shopify" / "update_products.yaml"
    feed.write_text(feed.read_text(encoding="utf-8").replace("schedule:", "schedul:"), encoding="utf-8")
    problems, _ = start()
    assert "unknown key 'schedul'" in problems
    assert not [p for p in (tmp_path / "cache" / "valid").rglob("*") if p.is_file() and p.stat().st_size]  # names


def test_a_connector_schema_that_is_valid_is_checked_once_and_a_broken_one_every_time(cache: Path) -> None:
    from engine.schemacheck import check_schema

    good, broken = {"type": "object", "properties": {"a": {"type": "string"}}}, {"type": "strin"}
    assert check_schema(good) is None and check_schema(dict(good)) is None
    assert len(list((cache / "valid").rglob("*/*"))) == 1
    for _ in range(2):
        assert "is not valid under any of the given schemas" in (check_schema(broken) or "")
    calls = []
    for _ in range(2):  # a key JSON would write like "1": never hashed, checked every time
        validcache.schema_checked({"properties": {1: {}}}, lambda: calls.append(1) or [])
    assert len(calls) == 2 and len(list((cache / "valid").rglob("*/*"))) == 1


def test_a_private_value_under_a_nested_id_or_an_encoded_ref_is_checked_every_time(cache: Path) -> None:
    schema_id = {"type": "object", "$defs": {"t": {"type": "string"}},  # "#/$defs/t" below $id is the inner one
                 "properties": {"label": {"$id": "http://example.com/l", "$defs": {"t": {"maxLength": 8}},
                                          "$ref": "#/$defs/t"}}}
    schema_pct = {"type": "object", "$defs": {"a b": {"maxLength": 8}, "a%20b": {"type": "string"}},
                  "properties": {"label": {"$ref": "#/$defs/a%20b"}}}
    for schema in (schema_id, schema_pct):
        check = Checker()
        assert check.run({"label": "short"}, schema, private=[("label",)]) == []
        assert check.run({"label": "tooooooolong"}, schema, private=[("label",)]) == ["'tooooooolong' is too long"]


def test_values_the_checker_tells_apart_never_share_a_key(cache: Path) -> None:
    check = Checker()
    required = {"type": "object", "required": ["caf\u00e9"]}
    assert check.run({"caf\u00e9": 1}, required) == []
    assert check.run({"caf\udcc3\udca9": 1}, required) == ["'caf\u00e9' is a required property"]  # same UTF-8 bytes
    assert check.run({"x": "\ud800"}, {"type": "object"}) == []  # a lone surrogate is no crash
    array = {"type": "array"}
    assert check.run([1], array) == []
    assert check.run((1,), array) == ["(1,) is not of type 'array'"]  # a tuple is no JSON array


def test_feed_overrides_from_the_environment_never_enter_a_key(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.config import load_config
    from engine.mapping import Compiler
    from engine.plugins import Hooks, build_manager

    seen: list[str] = []
    real_key = validcache._key
    monkeypatch.setattr(validcache, "_key", lambda kind, packages, parts: seen.append(json.dumps(parts))
                        or real_key(kind, packages, parts))
    config = {"root": str(cache.parent), "feeds_dir": str(ROOT / "feeds.d"), "mappings_dir": str(ROOT / "mappings"),
              "integrations": {"shop": {"connector": "shopify", "settings": {
                  "shop_url": "${URL}", "access_token": "${TOKEN}"}, "feeds": {"import_new_orders": {
                      "schedule": "${CRON}", "retry": {"schedule": "${RETRY}"},
                      "params": {"ids": "${IDS}", "filters": {"api_key": "${KEY}"}}}}}}}
    env = {"URL": "https://secret-shop.example", "TOKEN": "secret-token", "CRON": "7 3 * * *",
           "RETRY": "11 * * * *", "IDS": "secret-ids", "KEY": "secret-key"}
    hooks = Hooks(build_manager())

    load_config(config, connectors=hooks.connectors(), compiler=Compiler(hooks.jmespath_functions()), env=env)

    assert seen and not [p for p in seen if any(v in p for v in env.values())]
