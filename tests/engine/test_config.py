"""engine.config: every case of tests/data/config, the resolved dataclasses, and the schemas themselves.

Each case folder under ``tests/data/config/{valid,invalid}/`` is laid over a copy
of ``tests/data/config/base/`` (its files replace or join the base's), then
loaded. ``expected.txt`` lists one expected problem a line as
``file:line[:col]: message substring`` (`` ... `` separates substrings that must all
appear, in order); a case must report exactly those problems.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine.config import EngineConfig, load_config
from engine.errors import ConfigValidationError, Severity
from engine.mapping import Compiler
from engine.plugins import Hooks, build_manager
from engine.yamlio import read_disabled_plugins
from tests.engine import conftest_plugins

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "config"
TOKEN = "tok-3f9a7c1e55"
ENV = {"TEST_STORE_TOKEN": TOKEN, "DB_PASSWORD": "pg-pass-8812", "TZ_NAME": "Europe/Berlin",
       "SHOP_HOST": "demo.example.com", "SHORT_TOKEN": "abc"}
_EXPECTED = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<message>.+)$")


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    col: int | None
    message: str


@pytest.fixture(scope="module")
def hooks() -> Hooks:
    return Hooks(build_manager(plugins=[conftest_plugins]))


def make_tree(tmp_path: Path, case: Path | None) -> Path:
    """The base tree with ``case``'s files laid over it."""
    tree = tmp_path / "tree"
    shutil.copytree(DATA / "base", tree)
    if case is not None:
        shutil.copytree(case, tree, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.txt", "README.txt"))
    return tree


def load(tree: Path, hooks: Hooks, env: dict[str, str] | None = None) -> EngineConfig:
    return load_config(tree / "engine.yaml", connectors=hooks.connectors(),
                       compiler=Compiler(hooks.jmespath_functions()), env=ENV if env is None else env)


def expected_problems(case: Path) -> list[Expected]:
    out = []
    for raw in (case / "expected.txt").read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            m = _EXPECTED.match(raw)
            assert m, f"bad line in {case.name}/expected.txt: {raw!r}"
            out.append(Expected(m["file"], int(m["line"]), int(m["col"]) if m["col"] else None, m["message"]))
    return out


def _contains_in_order(message: str, expected: str) -> bool:
    pos = 0
    for part in expected.split(" ... "):
        found = message.find(part, pos)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def _cases(kind: str) -> list[str]:
    return sorted(p.name for p in (DATA / kind).iterdir() if p.is_dir())


def test_there_are_enough_cases() -> None:
    assert len(_cases("invalid")) >= 25
    for name in _cases("invalid"):
        assert expected_problems(DATA / "invalid" / name), f"{name} expects nothing"


@pytest.mark.parametrize("case", _cases("invalid"))
def test_invalid_case(case: str, tmp_path: Path, hooks: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path, DATA / "invalid" / case)
    monkeypatch.chdir(tree)  # problems then name files relative to the tree
    with pytest.raises(ConfigValidationError) as info:
        load(tree, hooks)
    problems = info.value.errors
    rendered = info.value.render()
    for exp in expected_problems(DATA / "invalid" / case):
        hits = [p for p in problems if p.file == exp.file and p.line == exp.line
                and (exp.col is None or p.col == exp.col) and _contains_in_order(p.message, exp.message)]
        assert hits, f"expected {exp} in:\n{rendered}"
    assert len(problems) == len(expected_problems(DATA / "invalid" / case)), rendered
    assert TOKEN not in rendered


@pytest.mark.parametrize("case", _cases("valid"))
def test_valid_case(case: str, tmp_path: Path, hooks: Hooks) -> None:
    config = load(make_tree(tmp_path, DATA / "valid" / case), hooks)
    assert config.hub_connector == "testhub"


def test_several_problems_in_several_files_are_reported_in_one_run(tmp_path: Path, hooks: Hooks,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path, DATA / "invalid" / "many_problems")
    monkeypatch.chdir(tree)
    with pytest.raises(ConfigValidationError) as info:
        load(tree, hooks)
    files = {p.file for p in info.value.errors}
    assert files == {"engine.yaml", "feeds.d/teststore/import_products.yaml", "mappings/teststore/products.yaml"}
    assert len(info.value.errors) == 9
    lines = info.value.render().splitlines()
    assert lines[0].startswith("engine.yaml:2:11: unknown timezone 'Mars/Olympus'")
    assert all(re.match(r"^[^:]+:\d+:\d+: ", line) for line in lines)


def test_base_configuration_resolves(tmp_path: Path, hooks: Hooks) -> None:
    tree = make_tree(tmp_path, None)
    config = load(tree, hooks)
    assert config.path == tree / "engine.yaml"
    assert config.root == tree
    assert config.database_url == f"sqlite:///{tree / 'var' / 'connect.db'}"
    assert (config.timezone, config.pool_size, config.lock_lease) == ("Europe/Amsterdam", 2, timedelta(seconds=30))
    assert (config.data_dir, config.feeds_dir, config.mappings_dir) == (
        tree / "var" / "data", tree / "feeds.d", tree / "mappings")
    assert config.hub_settings == {"default_warehouse": "main"}
    assert config.secrets == (TOKEN,)
    shop = config.integrations["demo-shop"]
    assert (shop.connector, shop.mode, shop.feed_set, shop.line) == ("teststore", "test", "teststore", 9)
    assert shop.settings == {"shop_url": "https://demo.example.com", "access_token": TOKEN}
    assert shop.secrets == (TOKEN,)
    assert sorted(shop.feeds) == ["check_stock", "export_fulfillments", "import_orders", "import_products"]


def test_feed_definition_with_overrides(tmp_path: Path, hooks: Hooks) -> None:
    feed = load(make_tree(tmp_path, None), hooks).integrations["demo-shop"].feeds["import_orders"]
    assert feed.schedule == "*/5 * * * *"  # the integration's override
    assert feed.source.params == {"status": "open", "limit": 50}  # params merged over the feed's
    assert (feed.direction, feed.target.side, feed.target.resource) == ("inbound", "hub", "orders")
    assert (feed.batch_size, feed.key, feed.label, feed.enabled) == (100, "id", "name", True)
    assert feed.retry.expire_after == timedelta(days=30)
    assert (feed.retry.max_attempts, feed.retry.on_expiry) == (720, Severity.INFO)
    assert feed.file.endswith("import_orders.yaml")
    assert feed.rules is not None
    match = feed.rules.first_match({"record": {"financial_status": "pending", "name": "#1001"}})
    assert match is not None and match.severity is Severity.RETRY
    assert match.message == "order #1001 awaits payment"
    assert feed.mapping is not None
    [mapped] = feed.mapping.apply({"name": "#1001", "email": "A@B.NL", "financial_status": "paid",
                                   "shipping_lines": [{"code": "Express"}], "line_items": []})
    assert mapped["carrier"] == "dhl"  # the integration's carriers map
    assert (mapped["email"], mapped["status"], mapped["source"]) == ("a@b.nl", "paid", "teststore")


def test_feed_defaults_and_kinds(tmp_path: Path, hooks: Hooks) -> None:
    feeds = load(make_tree(tmp_path, None), hooks).integrations["demo-shop"].feeds
    products = feeds["import_products"]
    assert (products.batch_size, products.rules, products.write_mode, products.incremental) == (
        250, None, "upsert", True)
    assert products.retry.schedule == "0 * * * *" and products.retry.max_attempts is None
    assert products.mapping is not None and products.mapping.each_text == "variants"
    export = feeds["export_fulfillments"]
    assert export.writes_to_store and export.write_mode == "create" and export.key == "id"
    check = feeds["check_stock"]
    assert (check.compare, check.incremental, check.key) == (("quantity",), False, "sku")


def test_override_replaces_rules_retry_and_disables(tmp_path: Path, hooks: Hooks) -> None:
    tree = make_tree(tmp_path, None)
    text = (tree / "engine.yaml").read_text().replace(
        "        params: {status: open}\n",
        "        params: {status: open}\n        target_params: {warehouse: main}\n        enabled: false\n"
        "        batch_size: 10\n        retry: {expire_after: 2h}\n"
        "        rules: [{when: record.test, severity: error, message: no tests}]\n")
    (tree / "engine.yaml").write_text(text)
    feed = load(tree, hooks).integrations["demo-shop"].feeds["import_orders"]
    assert (feed.enabled, feed.batch_size, feed.target.params) == (False, 10, {"warehouse": "main"})
    assert feed.retry.expire_after == timedelta(hours=2) and feed.retry.max_attempts is None
    assert feed.rules is not None and [r.when for r in feed.rules.rules] == ["record.test"]


def test_valid_embedded_env_and_escapes(tmp_path: Path, hooks: Hooks) -> None:
    config = load(make_tree(tmp_path, DATA / "valid" / "embedded_env"), hooks)
    assert config.database_url == "postgresql://connect:pg-pass-8812@db.internal:5432/connect"
    assert config.timezone == "Europe/Berlin"
    assert config.data_dir == Path("/srv/connect/data")
    assert config.disabled_plugins == ("example",)
    assert set(config.secrets) == {TOKEN, "pg-pass-8812"}
    assert config.integrations["demo-shop"].settings["shop_url"] == "https://demo.example.com/admin"
    assert config.integrations["demo-shop"].mode == "live"
    assert config.integrations["other_shop"].settings == {"note": "costs $5, literally ${NOT_A_VAR}"}
    assert config.integrations["other_shop"].feeds == {} and config.integrations["other_shop"].secrets == ()


def test_yml_files_anchors_and_merge_keys(tmp_path: Path, hooks: Hooks) -> None:
    feeds = load(make_tree(tmp_path, DATA / "valid" / "yml_and_anchors"), hooks).integrations["demo-shop"].feeds
    stock = feeds["import_stock_levels"]
    assert (stock.target.side, stock.target.resource, stock.target.params) == ("hub", "stock", {
        "fields": ["id", "inventory"]})
    assert stock.run_once and stock.retry.expire_after == timedelta(hours=1)


def test_in_memory_source_resolves_from_root(tmp_path: Path, hooks: Hooks) -> None:
    tree = make_tree(tmp_path, None)
    source = {"root": tree, "hub": {"connector": "testhub"}, "database": "sqlite:///x.db",
              "integrations": {"demo-shop": {"connector": "teststore", "settings": {
                  "shop_url": "https://demo.example.com", "access_token": "${TEST_STORE_TOKEN}"}}}}
    config = load_config(source, connectors=hooks.connectors(), compiler=Compiler(hooks.jmespath_functions()),
                         env=ENV)
    assert (config.path, config.root, config.database_url) == (None, tree, f"sqlite:///{tree / 'x.db'}")
    assert len(config.integrations["demo-shop"].feeds) == 4


def test_an_in_memory_source_says_where_its_relative_paths_start(tmp_path: Path, hooks: Hooks,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a dict without 'root': relative paths start here, not at an engine.yaml
    with pytest.raises(ConfigValidationError) as info:
        load_config({"hub": {"connector": "testhub"}, "integrations": {"x": {"connector": "plainstore"}}},
                    connectors=hooks.connectors(), compiler=Compiler(hooks.jmespath_functions()), env=ENV)
    assert (f"feeds_dir feeds.d does not exist (relative paths start at the configuration's 'root', else the "
            f"current directory: {tmp_path.resolve()})") in info.value.render()


def test_in_memory_source_errors_name_the_path(hooks: Hooks) -> None:
    with pytest.raises(ConfigValidationError) as info:
        load_config({"hub": {"connector": "testhub"}, "integrations": {"x": {"connector": "plainstore",
                                                                             "mode": "prod"}}},
                    connectors=hooks.connectors(), compiler=Compiler(), env={})
    [problem] = info.value.errors
    assert (problem.file, problem.line, problem.path) == ("<config>", None, "integrations.x.mode")
    assert problem.render() == "<config>: integrations.x.mode must be one of test, live, not 'prod'"


def test_missing_file_is_one_problem(tmp_path: Path, hooks: Hooks) -> None:
    with pytest.raises(ConfigValidationError) as info:
        load_config(tmp_path / "engine.yaml", connectors=hooks.connectors(), compiler=Compiler(), env={})
    assert "does not exist" in info.value.errors[0].message


def test_read_disabled_plugins(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("plugins:\n  disabled: [alpha, beta]\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("plugins: {disabled: [alpha\n")
    assert read_disabled_plugins(good) == ("alpha", "beta")
    assert read_disabled_plugins(str(good)) == ("alpha", "beta")
    assert read_disabled_plugins({"plugins": {"disabled": ["gamma", 3]}}) == ("gamma",)
    assert read_disabled_plugins(broken) == ()
    assert read_disabled_plugins(tmp_path / "missing.yaml") == ()
    assert read_disabled_plugins({"plugins": "nonsense"}) == ()


# -- the schema files ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["engine", "feed", "mapping"])
def test_schema_files_are_valid_and_documented(name: str) -> None:
    schema = json.loads((ROOT / "schemas" / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] and schema["title"] and schema["description"]
    assert "$schema" in schema["properties"]  # files may point editors at the schema


def test_engine_schema_shares_the_feed_definitions() -> None:
    engine = json.loads((ROOT / "schemas" / "engine.schema.json").read_text())
    feed = json.loads((ROOT / "schemas" / "feed.schema.json").read_text())
    for name in ("cron", "batch_size", "duration", "rule", "retry"):
        assert engine["$defs"][name] == feed["$defs"][name], name


def test_docs_describe_every_key() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    engine = json.loads((ROOT / "schemas" / "engine.schema.json").read_text())
    feed = json.loads((ROOT / "schemas" / "feed.schema.json").read_text())
    mapping = json.loads((ROOT / "schemas" / "mapping.schema.json").read_text())
    keys = {*engine["properties"], *engine["$defs"]["integration"]["properties"],
            *engine["$defs"]["feed_override"]["properties"], *feed["properties"], *feed["$defs"]["rule"]["properties"],
            *feed["$defs"]["retry"]["properties"], *mapping["properties"],
            *mapping["$defs"]["field"]["anyOf"][1]["properties"]}
    missing = sorted(k for k in keys if f"`{k}`" not in docs and f"{k}:" not in docs)
    assert missing == []
