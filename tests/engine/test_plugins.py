"""The plugin manager with real pluggy plugins: misspelt hooks, duplicate connectors, and ``connect-engine plugins``."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from engine import Connector, hookimpl
from engine.cli import cli
from engine.errors import PluginError
from engine.plugins import Hooks, build_manager
from engine.store.records import ExecutionInfo
from tests.support import memstore


class Named:
    """Base of the inline test plugins: pluggy names an instance by its ``__name__``."""

    def __init__(self, name: str) -> None:
        self.__name__ = name


class Misspelt(Named):
    @hookimpl
    def register_connector(self) -> list[type[Connector]]:  # the spec is register_connectors
        return []


class ExtraArgument(Named):
    @hookimpl
    def execution_finished(self, execution: ExecutionInfo, channel: str) -> None:
        """Asks for an argument the spec does not pass."""


class Clone(memstore.MemStore):
    """Another plugin's connector that took memstore's name."""


class Duplicate(Named):
    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        return [Clone]


class NotAConnector(Named):
    @hookimpl
    def register_connectors(self) -> list[Any]:
        return [dict]


class Exploding(Named):
    @hookimpl
    def register_connectors(self) -> list[type[Connector]]:
        raise ImportError("No module named 'acme_sdk'")


def test_a_hook_no_spec_declares_is_refused_naming_the_plugin_and_the_hook() -> None:
    with pytest.raises(PluginError) as err:
        build_manager(plugins=[memstore, Misspelt("acme-misspelt")])
    assert "'acme-misspelt'" in str(err.value) and "register_connector" in str(err.value)


def test_a_hook_asking_for_an_argument_the_spec_lacks_is_refused() -> None:
    with pytest.raises(PluginError) as err:
        build_manager(plugins=[ExtraArgument("acme-slack")])
    assert "'acme-slack'" in str(err.value) and "channel" in str(err.value)


def test_two_connectors_with_one_name_are_refused_naming_both_plugins(tmp_path: Path) -> None:
    hooks = Hooks(build_manager(plugins=[memstore, Duplicate("acme-clone")]))
    with pytest.raises(PluginError) as err:
        hooks.connectors()
    message = str(err.value)
    assert "connector 'memstore' is registered twice" in message
    assert "'tests.support.memstore'" in message and "'acme-clone'" in message

    with pytest.raises(PluginError, match="registered twice"):
        memstore.build(memstore.config("sqlite://", tmp_path, {}), extra=[Duplicate("acme-clone")])


def test_a_plugin_that_registers_junk_or_fails_is_named() -> None:
    with pytest.raises(PluginError, match=r"plugin 'acme-junk' registered <class 'dict'>, which is not a Connector"):
        Hooks(build_manager(plugins=[NotAConnector("acme-junk")])).connectors()
    with pytest.raises(PluginError, match=r"plugin 'acme-broken' failed in register_connectors: No module named"):
        Hooks(build_manager(plugins=[Exploding("acme-broken")])).connectors()


def invoke_plugins(plugins: list[object] | None) -> Any:
    obj = {} if plugins is None else {"plugins": plugins}
    return CliRunner().invoke(cli, ["--config", "missing.yaml", "plugins", "--json"], obj=obj)


def test_the_plugins_command_lists_plugins_hooks_and_connectors() -> None:
    result = invoke_plugins(memstore.plugin_list())
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    rows = {p["name"]: p for p in out["plugins"]}
    assert set(rows) == {"tests.support.memstore", "plugins.connect"}
    assert rows["tests.support.memstore"]["connectors"] == ["memstore"]
    assert rows["tests.support.memstore"]["hooks"] == ["register_connectors"]
    assert rows["plugins.connect"]["connectors"] == ["connect"]
    assert rows["plugins.connect"]["hooks"] == ["register_connectors", "register_migrations", "register_models"]
    assert out["connectors"]["memstore"]["resources"]["stock"] == {"key": "sku", "read": True, "fetch": True,
                                                                    "write": True}
    assert out["connectors"]["connect"]["version"] == "1"


def test_installed_plugins_are_listed_with_their_distribution_and_version() -> None:
    result = invoke_plugins(None)  # the connect_engine entry points, as installed
    assert result.exit_code == 0, result.output
    rows = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    assert (rows["connect"]["distribution"], rows["connect"]["version"]) == ("connect-engine",
                                                                              version("connect-engine"))
    assert rows["connect"]["connectors"] == ["connect"]


def test_the_plugins_command_reports_a_broken_plugin_in_one_line() -> None:
    result = invoke_plugins([*memstore.plugin_list(), Duplicate("acme-clone")])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "connector 'memstore' is registered twice" in result.stderr and "'acme-clone'" in result.stderr
    assert "Traceback" not in result.output
