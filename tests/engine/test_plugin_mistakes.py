"""A broken or mistaken plugin is named, never a traceback, and never takes the other plugins down.

The import and command cases install a real distribution (a ``.dist-info`` with a
``connect_engine`` entry point) on the path of a separate ``connect-engine`` process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine import JMESPathFunction, SandboxSpec, hookimpl
from engine.connector import Connector, Resource
from engine.errors import PluginError
from engine.plugins import Hooks, build_manager

ROOT = Path(__file__).resolve().parents[2]

BROKEN_IMPORT = "raise RuntimeError('boom at import')\n"
BROKEN_COMMANDS = '''
from engine import hookimpl

@hookimpl
def register_commands(cli):
    raise ValueError("no commands today")
'''


def install(site: Path, name: str, body: str) -> None:
    (site / f"{name}.py").write_text(body)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[connect_engine]\n{name} = {name}\n")


def cli(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT)])
    return subprocess.run([sys.executable, "-c", "from engine.cli import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("body", "warning"), [
    (BROKEN_IMPORT, "warning: plugin 'brokenplug' failed to load: RuntimeError: boom at import"),
    (BROKEN_COMMANDS, "warning: plugin 'brokenplug' could not add its commands: ValueError: no commands today"),
])
def test_a_broken_plugin_warns_and_the_command_line_still_works(tmp_path: Path, body: str, warning: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site, "brokenplug", body)
    shown = cli(site, tmp_path, "--help")
    assert shown.returncode == 0, shown.stderr
    assert warning in shown.stderr and "Traceback" not in shown.stderr
    assert "demo" in shown.stdout  # the other plugins' commands are still there

    (tmp_path / "engine.yaml").write_text("plugins: {disabled: [brokenplug]}\n")
    quiet = cli(site, tmp_path, "--help")
    assert quiet.returncode == 0 and "brokenplug" not in quiet.stderr, quiet.stderr  # disabled: not even loaded


def hooks(*plugins: object) -> Hooks:
    return Hooks(build_manager(plugins=list(plugins)))


class One:
    @staticmethod
    @hookimpl
    def register_connectors() -> Any:
        return Listed  # a class where a list belongs


class Listed(Connector):
    name = "listed"
    resources = [Resource("orders")]  # type: ignore[assignment]  # a list where a mapping belongs


class Two:
    @staticmethod
    @hookimpl
    def register_connectors() -> Any:
        return [Listed]


class Registers:
    """A plugin registering exactly what it is given: JMESPath functions and sandboxes."""

    def __init__(self, functions: tuple[Any, ...] = (), sandboxes: tuple[Any, ...] = ()) -> None:
        self.functions, self.sandboxes = functions, sandboxes

    @hookimpl
    def register_jmespath_functions(self) -> Any:
        return list(self.functions)

    @hookimpl
    def register_sandboxes(self) -> Any:
        return list(self.sandboxes)


def Functions(*functions: Any) -> Registers:  # noqa: N802 - reads as the plugin it builds
    return Registers(functions=functions)


def Sandboxes(*specs: Any) -> Registers:  # noqa: N802
    return Registers(sandboxes=specs)


def _serve(args: list[str]) -> int:
    return 0


@pytest.mark.parametrize(("plugins", "call", "message"), [
    ([One()], "connectors", "plugin 'One': register_connectors returned <class"),
    ([Two()], "connectors", "connector 'listed' declares resources as list; expected a mapping of name to "
                            "engine.Resource"),
    ([Functions(JMESPathFunction("lower", str.lower, ("string",)))], "jmespath_functions",
     "registers JMESPath function 'lower', which the engine or JMESPath already has"),
    ([Functions(JMESPathFunction("to_string", str, ("any",)))], "jmespath_functions",
     "registers JMESPath function 'to_string', which the engine or JMESPath already has"),
    ([Functions(JMESPathFunction("twice", lambda v: v * 2, ("integer",)))], "jmespath_functions",
     "JMESPath function 'twice' has argument type(s) 'integer'; types are any, string, number"),
    ([Functions({"name": "twice"})], "jmespath_functions", "expected engine.JMESPathFunction(name, func, types)"),
    ([Sandboxes({"name": "woo"})], "sandboxes", "as a sandbox; expected engine.SandboxSpec"),
    ([Sandboxes(SandboxSpec("woo", "", _serve)), Sandboxes(SandboxSpec("woo", "", _serve))], "sandboxes",
     "sandbox 'woo' is registered twice: by 'Registers' and 'Registers#2'"),
])
def test_a_registration_of_the_wrong_shape_is_a_plugin_error_naming_the_plugin(plugins: list[object], call: str,
                                                                               message: str) -> None:
    with pytest.raises(PluginError) as info:
        getattr(hooks(*plugins), call)()
    assert message in str(info.value)
