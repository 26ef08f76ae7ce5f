"""engine.secrets: ${ENV_VAR} resolution, which values are secrets, masking in text, data, errors and logs."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from engine import Connector, hookimpl
from engine.config import load_config
from engine.errors import ConfigValidationError
from engine.mapping import Compiler
from engine.plugins import Hooks, build_manager
from engine.secrets import Masker, install_log_filter, is_secret_key, remove_log_filter, resolve_env
from engine.yamlio import load_yaml_text
from tests.engine import conftest_plugins

SECRET = "s3cr3t-Token-77"


def resolve(text: str, env: dict[str, str]) -> Any:
    doc = load_yaml_text(text, "engine.yaml")
    return resolve_env(doc.data, env, doc.marks)


def test_whole_embedded_and_escaped_references() -> None:
    res = resolve("a: ${A}\nb: x-${A}-${B}\nc: $${A} costs $5\nd: ['${B}']\ne: 7\n", {"A": "1", "B": "two"})
    assert res.data == {"a": "1", "b": "x-1-two", "c": "${A} costs $5", "d": ["two"], "e": 7}
    assert res.errors == [] and res.secrets == {}
    assert res.from_env == {("a",), ("b",), ("d", 0)}


def test_undefined_and_malformed_references_are_located() -> None:
    res = resolve("x:\n  url: https://${HOST}/\n  bad: ${not-a-name}\n", {})
    assert [(e.line, e.col, e.message) for e in res.errors] == [
        (2, 8, "environment variable 'HOST' is not set (used by x.url)"),
        (3, 8, "x.bad: '${not-a-name}' is not a valid variable reference; use ${NAME} with letters, digits "
               "and '_' (write $${ for a literal '${')"),
    ]
    assert res.unresolved == {("x", "url"), ("x", "bad")}
    assert res.data["x"]["url"] == "https://${HOST}/"  # left as written


@pytest.mark.parametrize(("name", "secret"), [
    ("access_token", True), ("API_KEY", True), ("client_secret", True), ("password", True), ("sentry_dsn", True),
    ("consumer_key", True), ("shop_url", False), ("username", False), ("mode", False),
    ("apiKey", True), ("privateKey", True), ("apikey", True), ("webhook_secrets", True), ("key", True),
    ("db_password", True), ("refresh-token", True),
    # joined words and digit suffixes are secrets as before
    ("apitoken", True), ("accesstoken", True), ("clientsecret", True), ("secretkey", True), ("privatekey", True),
    ("dbpassword", True), ("token2", True), ("password1", True), ("api_key2", True), ("key2", True),
    # words that only contain "key" or name an index are not secrets (a plugin's sort_key, keywords)
    ("sort_key", False), ("keywords", False), ("monkey", False), ("primary_key", False), ("hotkeys", False),
])
def test_secret_key_names(name: str, secret: bool) -> None:
    assert is_secret_key(name) is secret


def test_secrets_are_collected_from_secret_keys_only() -> None:
    text = ("integrations:\n  monkey-shop:\n    settings:\n      url: ${HOST}\n      api_key: ${KEY}\n"
            "      oauth: {client_secret: 'x-${SEC}'}\n      note: plain\n")
    res = resolve(text, {"HOST": "h.example", "KEY": "key-1234", "SEC": "sec-5678"})
    assert res.errors == []  # 'monkey' in the integration's name does not make its values secret
    assert res.secrets == {("integrations", "monkey-shop", "settings", "api_key"): "key-1234",
                           ("integrations", "monkey-shop", "settings", "oauth", "client_secret"): "x-sec-5678"}


def test_literal_secrets_in_settings_are_refused() -> None:
    text = ("hub:\n  settings: {password: hunter22}\nintegrations:\n  s:\n    settings:\n      api_key: abc123456\n"
            "      token_ttl: 60\n      empty_token: ''\n    maps: {keys: {a: b}}\n")
    res = resolve(text, {})
    assert [(e.line, e.message.split(";")[0]) for e in res.errors] == [
        (2, "hub.settings.password holds a literal secret"),
        (6, "integrations.s.settings.api_key holds a literal secret"),
    ]


def test_masker_masks_text_and_nested_data() -> None:
    masker = Masker([SECRET, "abc", "s3cr3t", SECRET])
    assert masker.secrets == (SECRET, "s3cr3t")  # unique, longest first, short ones left alone
    assert masker.mask(f"token={SECRET}; part=s3cr3t; abc") == "token=***; part=***; abc"
    data = {"a": [f"x{SECRET}", ("s3cr3t", 5)], "b": {"c": None}}
    assert masker.mask_obj(data) == {"a": ["x***", ("***", 5)], "b": {"c": None}}
    assert Masker([]).mask(SECRET) == SECRET


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield out
    finally:
        root.removeHandler(handler)


def test_log_filter_masks_messages_arguments_and_tracebacks(log_output: io.StringIO) -> None:
    filt = install_log_filter(Masker([SECRET]))
    try:
        log = logging.getLogger("engine.tests.secrets")
        log.warning("calling with %s", SECRET)
        try:
            raise ValueError(f"refused {SECRET}")
        except ValueError:
            log.exception("failed")
        logging.getLogger().warning("root %s", SECRET)
    finally:
        remove_log_filter(filt)
    text = log_output.getvalue()
    assert "calling with ***" in text and "ValueError: refused ***" in text and "root ***" in text
    assert SECRET not in text


def test_a_handler_added_after_the_engine_was_built_prints_no_secret() -> None:
    filt = install_log_filter(Masker([SECRET]))
    out = io.StringIO()
    late = logging.StreamHandler(out)  # a host's logging.basicConfig() after Engine.from_config
    log = logging.getLogger("engine.tests.secrets.late")
    log.addHandler(late)
    try:
        log.warning("token is %s", SECRET)
        try:
            raise ValueError(f"refused {SECRET}")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(late)
        remove_log_filter(filt)
    assert "token is ***" in out.getvalue() and "refused ***" in out.getvalue()
    assert SECRET not in out.getvalue()
    log.addHandler(late)  # the last user removed it: nothing is masked any more
    try:
        log.warning("after %s", "shown")
    finally:
        log.removeHandler(late)
    assert "after shown" in out.getvalue()


class _StrictTokenStore(Connector):
    name = "stricttoken"
    settings_schema: dict[str, Any] = {"type": "object", "properties": {"access_token": {"maxLength": 5},
                                                                        "note": {"maxLength": 3}}}


class _StrictPlugin:
    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [_StrictTokenStore]


def test_token_never_appears_in_configuration_errors() -> None:
    hooks = Hooks(build_manager(plugins=[conftest_plugins, _StrictPlugin()]))
    source = {"hub": {"connector": "testhub"},
              "database": "postgresql://u:${DB_PASSWORD}@db/x",
              "timezone": "Nowhere/${DB_PASSWORD}",
              "integrations": {"s": {"connector": "stricttoken",
                                     "settings": {"access_token": "${TOKEN}", "note": "${TOKEN}"}}}}
    env = {"TOKEN": SECRET, "DB_PASSWORD": "db-pass-1234"}
    with pytest.raises(ConfigValidationError) as info:
        load_config(source, connectors=hooks.connectors(), compiler=Compiler(), env=env)
    text = info.value.render() + str(info.value)
    assert "integrations.s.settings.access_token: '***' is too long" in text
    assert "timezone 'Nowhere/***'" in text  # the database password is a secret too
    # 'note' is not a secret key: its value is shown, but it is the token, so it is masked as well
    assert "integrations.s.settings.note: '***' is too long" in text
    assert SECRET not in text and "db-pass-1234" not in text


def test_engine_config_lists_the_database_password_as_a_secret(tmp_path: Any) -> None:
    hooks = Hooks(build_manager(plugins=[conftest_plugins]))
    config = load_config({"root": tmp_path, "hub": {"connector": "testhub"},
                          "database": "postgresql://u:${DB_PASSWORD}@db/x"},
                         connectors=hooks.connectors(), compiler=Compiler(), env={"DB_PASSWORD": "db-pass-1234"})
    assert config.secrets == ("db-pass-1234",)
    assert config.database_url == "postgresql://u:db-pass-1234@db/x"


def test_installing_the_same_secrets_twice_adds_one_filter(log_output: io.StringIO) -> None:
    root = logging.getLogger()
    before = len(root.filters)
    first = install_log_filter(Masker([SECRET]))
    try:
        assert install_log_filter(Masker([SECRET])) is first
        assert len(root.filters) == before + 1
        remove_log_filter(first)  # one of the two engines closed: the other still masks
        assert first in root.filters
    finally:
        remove_log_filter(first)
    assert len(root.filters) == before


def test_a_secret_with_a_trailing_newline_is_masked_as_errors_quote_it() -> None:
    masker = Masker(["shpat_abc123\n"])  # a Kubernetes secret made from a file
    for text in ("Illegal header value b'shpat_abc123\\n'", '{"token": "shpat_abc123\\n"}', "token shpat_abc123.",
                 "raw shpat_abc123\n"):
        assert "shpat_abc123" not in masker.mask(text), text


def test_closing_an_engine_twice_releases_its_log_filter_once(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import plugins.connect
    from engine import app

    released: list[object] = []
    monkeypatch.setattr(app, "remove_log_filter", released.append)
    engine = app.Engine.from_config({"database": f"sqlite:///{tmp_path / 'e.db'}", "data_dir": str(tmp_path / "d"),
                                     "hub": {"connector": "connect"}}, plugins=[plugins.connect])
    engine.close()
    engine.close()  # the filter is shared with other engines of the same secrets: released once, not twice
    assert len(released) == 1
