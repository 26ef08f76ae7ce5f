"""``connect-engine sandbox NAME ...``: serve a plugin's fake store for tests, demos and benchmarks."""

from __future__ import annotations

import os
import sys

import click

from engine.cli import cli
from engine.cli.common import handle_errors
from engine.errors import EngineError
from engine.plugins import Hooks, build_manager
from engine.yamlio import read_disabled_plugins


@cli.command("sandbox", context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                                          "help_option_names": []})
@click.argument("name", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
@handle_errors
def sandbox_cmd(ctx: click.Context, name: str | None, args: tuple[str, ...]) -> None:
    """Serve the fake store NAME in the foreground (NAME --help shows its options)."""
    obj = ctx.ensure_object(dict)
    blocked = read_disabled_plugins(obj["config_path"]) if os.path.isfile(obj.get("config_path") or "") else ()
    specs = Hooks(build_manager(blocked=blocked, plugins=obj.get("plugins"))).sandboxes()
    if name in (None, "--help", "-h"):
        click.echo("Usage: connect-engine sandbox NAME [OPTIONS]\n\nServe a plugin's fake store.\n\nSandboxes:")
        for spec in specs.values():
            click.echo(f"  {spec.name:<12} {spec.description}")
        return
    if name not in specs:
        raise EngineError(f"no sandbox {name!r}; known: {', '.join(sorted(specs)) or 'none'}")
    sys.exit(specs[name].main(list(args)))
