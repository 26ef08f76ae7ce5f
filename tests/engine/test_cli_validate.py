"""``connect-engine validate``: exit codes, one line per problem or per integration, ``--json``, no secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine import Connector, hookimpl
from engine.cli import cli
from tests.engine import conftest_plugins

DATA = Path(__file__).resolve().parents[1] / "data" / "config"
TOKEN = "tok-3f9a7c1e55"


def make_tree(tmp_path: Path, case: str | None = None) -> Path:
    tree = tmp_path / "tree"
    shutil.copytree(DATA / "base", tree)
    if case:
        shutil.copytree(DATA / "invalid" / case, tree, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("expected.txt"))
    return tree


def invoke(config: Path, *args: str, plugins: list[object] | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "validate", *args],
                              obj={"plugins": plugins if plugins is not None else [conftest_plugins]},
                              env={"TEST_STORE_TOKEN": TOKEN, **(env or {})})


def test_valid_configuration_lists_integrations(tmp_path: Path) -> None:
    result = invoke(make_tree(tmp_path) / "engine.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout == "demo-shop: connector teststore, initial mode test, 4 feeds (4 enabled)\n"
    assert result.stderr == ""


def test_counts_enabled_feeds(tmp_path: Path) -> None:
    tree = make_tree(tmp_path)
    config = tree / "engine.yaml"
    config.write_text(config.read_text().replace("params: {status: open}", "enabled: false")
                      + "  plain:\n    connector: plainstore\n    mode: live\n")
    result = invoke(config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["demo-shop: connector teststore, initial mode test, 4 feeds (3 enabled)",
                         "plain: connector plainstore, initial mode live, 0 feeds (0 enabled)"]
    # A third party's connector whose feeds were never copied into feeds_dir: said, not silent.
    assert lines[2].startswith("  note: no feed folder ") and lines[2].split()[4].endswith("plainstore,")
    assert len(lines) == 3


def test_problems_are_listed_with_locations_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path, "many_problems")
    monkeypatch.chdir(tree)
    result = invoke(Path("engine.yaml"))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith("engine.yaml:2:11: unknown timezone 'Mars/Olympus'")
    assert "feeds.d/teststore/import_products.yaml:5:11: schedule '0 */2 * *' is not a valid cron expression: " \
           "it has 4 field(s)" in result.stderr
    assert "mappings/teststore/products.yaml:3:10: unknown key 'paht' in fields.name" in result.stderr
    assert lines[-1] == "9 problem(s) found"
    assert len(lines) == 10


def test_paths_outside_the_current_directory_stay_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path / "a", "bad_timezone")
    elsewhere = tmp_path / "b"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = invoke(tree / "engine.yaml")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{tree / 'engine.yaml'}:1:11: unknown timezone 'Europe/Amsterdm'")


def test_json_output_when_valid(tmp_path: Path) -> None:
    result = invoke(make_tree(tmp_path) / "engine.yaml", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"valid": True, "problems": [], "integrations": [
        {"name": "demo-shop", "connector": "teststore", "mode": "test", "feeds": 4, "enabled": 4}]}


def test_json_output_when_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path, "unknown_resource")
    monkeypatch.chdir(tree)
    result = invoke(tree / "engine.yaml", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["integrations"] == []
    [problem] = data["problems"]
    assert (problem["file"], problem["line"], problem["col"]) == ("feeds.d/teststore/import_products.yaml", 3, 33)
    assert problem["message"].startswith("source.resource 'product' is not a resource")


def test_missing_configuration_file(tmp_path: Path) -> None:
    result = invoke(tmp_path / "nowhere.yaml")
    assert result.exit_code == 1
    assert "nowhere.yaml' does not exist" in result.stderr
    assert result.stderr.endswith("1 problem(s) found\n")


class _MisspeltHookPlugin:
    @hookimpl
    def register_conectors(self) -> list[type[Connector]]:
        return []


def test_plugin_errors_are_reported_like_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path)
    monkeypatch.chdir(tree)
    result = invoke(Path("engine.yaml"), plugins=[conftest_plugins, _MisspeltHookPlugin()])
    assert result.exit_code == 1
    first, last = result.stderr.splitlines()
    assert first.startswith("engine.yaml: plugin ") and "register_conectors" in first
    assert last == "1 problem(s) found"


class _StrictTokenStore(Connector):
    name = "stricttoken"
    settings_schema: dict[str, Any] = {"type": "object", "properties": {"api_token": {"maxLength": 5}}}


class _StrictPlugin:
    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [_StrictTokenStore]


@pytest.mark.parametrize("as_json", [False, True])
def test_tokens_never_appear_in_the_output(tmp_path: Path, as_json: bool) -> None:
    tree = make_tree(tmp_path)
    config = tree / "engine.yaml"
    config.write_text(config.read_text() + "  strict:\n    connector: stricttoken\n    settings:\n"
                                           "      api_token: ${TEST_STORE_TOKEN}\n")
    result = invoke(config, *(["--json"] if as_json else []), plugins=[conftest_plugins, _StrictPlugin()])
    assert result.exit_code == 1
    assert "integrations.strict.settings.api_token: '***' is too long" in result.output
    assert TOKEN not in result.output


def test_the_benchmarks_configuration_validates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The benchmark writes its own engine.yaml (one integration that only syncs products, no maps):
    # a validation rule that refuses it would only show when someone runs the benchmark.
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_update_products",
                                                  Path(__file__).resolve().parents[2] / "benchmarks" /
                                                  "update_products.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    config = bench.engine_yaml(tmp_path, "http://127.0.0.1:9")
    monkeypatch.setenv("BENCH_SHOPIFY_TOKEN", "bench-token")
    result = CliRunner().invoke(cli, ["--config", str(config), "validate"])
    assert result.exit_code == 0, result.output
