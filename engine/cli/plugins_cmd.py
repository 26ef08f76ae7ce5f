"""``connect-engine plugins``: what is installed, with versions, hooks and connectors."""

from __future__ import annotations

import click

from engine.cli import cli
from engine.cli.common import echo_json, handle_errors, json_option, table
from engine.plugins import Hooks, build_manager
from engine.yamlio import read_disabled_plugins


@cli.command("plugins")
@json_option
@click.pass_context
@handle_errors
def plugins_cmd(ctx: click.Context, as_json: bool) -> None:
    """List plugins, their versions and hooks, and the connectors they register."""
    obj = ctx.ensure_object(dict)
    blocked = read_disabled_plugins(obj["config_path"]) if obj.get("config_path") else ()
    hooks = Hooks(build_manager(blocked=blocked, plugins=obj.get("plugins")))
    connectors = hooks.connectors()
    plugins = hooks.plugins()
    rows = []
    for p in plugins:
        owned = sorted(n for n, c in connectors.items() if _owner(hooks, c) == p.name)
        rows.append({"name": p.name, "distribution": p.distribution, "version": p.version,
                     "hooks": list(p.hooks), "connectors": owned})
    if as_json:
        echo_json({"plugins": rows, "connectors": {
            n: {"title": c.title, "version": c.version, "resources": {
                r.name: {"key": r.key, "read": r.read, "fetch": r.fetch, "write": r.write}
                for r in c.resources.values()}} for n, c in sorted(connectors.items())},
            "blocked": list(blocked)})
        return
    click.echo(table([[r["name"], r["version"] or "-", ", ".join(r["connectors"]) or "-", ", ".join(r["hooks"])]
                      for r in rows], ["plugin", "version", "connectors", "hooks"]))
    if blocked:
        click.echo(f"blocked by the configuration: {', '.join(blocked)}")


def _owner(hooks: Hooks, cls: type) -> str | None:
    for impl in hooks.pm.hook.register_connectors.get_hookimpls():
        if cls in (impl.function() or ()):
            return impl.plugin_name
    return None
