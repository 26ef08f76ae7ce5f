"""The ``connect-engine`` command line: a thin click group over :class:`engine.app.Engine`.

Each command parses options, builds the engine from ``--config``, calls one
method and renders text or ``--json``. Exit codes: 0 ok, 1 a failed run or an
invalid configuration, 2 a usage error (click's own), 3 the feed is already running.
"""

from __future__ import annotations

import click

from engine.cli.common import main_group


@main_group
def cli() -> None:
    """Keep an inventory / order hub in sync with e-commerce stores."""


# Built-in commands load when used: ``run`` should not pay for importing migrations or the hub CLI.
LAZY_COMMANDS = {
    "db": "engine.cli.db", "executions": "engine.cli.inspect", "feeds": "engine.cli.feeds",
    "hub": "engine.cli.hub", "integrations": "engine.cli.integrations", "notifications": "engine.cli.inspect",
    "parked": "engine.cli.parked", "plugins": "engine.cli.plugins_cmd", "run": "engine.cli.run",
    "sandbox": "engine.cli.sandbox", "serve": "engine.cli.serve", "validate": "engine.cli.validate",
}
cli.lazy_commands = LAZY_COMMANDS  # type: ignore[attr-defined]


def add_plugin_commands(group: click.Group) -> None:
    """Let installed plugins add their commands (``register_commands``); a broken plugin only warns."""
    from engine.errors import PluginError
    from engine.plugins import Hooks, build_manager

    try:
        Hooks(build_manager()).register_commands(group)
    except PluginError as exc:
        click.echo(f"warning: plugin commands not loaded: {exc}", err=True)


def main() -> None:
    """Console-script entry point."""
    from engine import gcpause

    # Start-up only makes what lives until exit: no collection walks it. The root group
    # releases this before the command runs (engine.cli.common, engine.gcpause).
    gcpause.hold()
    try:
        add_plugin_commands(cli)
        cli(prog_name="connect-engine")
    finally:
        gcpause.release()


__all__ = ["cli", "click", "main"]
