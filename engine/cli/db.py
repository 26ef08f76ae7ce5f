"""``connect-engine db upgrade`` and ``db current``: the database schema against the migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from engine.cli import cli
from engine.cli.common import echo_json, fail, handle_errors, json_option
from engine.errors import EngineError

if TYPE_CHECKING:
    from engine.app import Engine


@cli.group("db")
def db_cmd() -> None:
    """The engine's database: schema migrations."""


def _engine(ctx: click.Context) -> Engine:
    # Built without the automatic upgrade, so these commands report what they do themselves.
    from engine.app import Engine

    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        try:
            obj["engine"] = Engine.from_config(obj.get("config_path", "engine.yaml"), migrate=False)
        except EngineError as exc:
            fail(exc)
        ctx.call_on_close(obj["engine"].close)
    return obj["engine"]  # type: ignore[no-any-return]


@db_cmd.command("upgrade")
@json_option
@click.pass_context
@handle_errors
def upgrade_cmd(ctx: click.Context, as_json: bool) -> None:
    """Upgrade the schema of the engine and of every plugin to the newest revision."""
    from engine.store import migrate  # Alembic: imported when a db command runs, not for --help

    engine = _engine(ctx)
    folders = migrate.folders(engine.hooks)
    applied = migrate.upgrade(engine.db, folders)
    state = migrate.current(engine.db, folders)
    if as_json:
        echo_json({"applied": applied, **state})
        return
    if applied:
        click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}")
    else:
        click.echo("the database is up to date")
    click.echo(f"heads: {', '.join(state['heads'])}")


@db_cmd.command("current")
@json_option
@click.pass_context
@handle_errors
def current_cmd(ctx: click.Context, as_json: bool) -> None:
    """Show the database's revisions and what an upgrade would apply."""
    from engine.store import migrate

    engine = _engine(ctx)
    state = migrate.current(engine.db, migrate.folders(engine.hooks))
    if as_json:
        echo_json(state)
        return
    click.echo(f"current: {', '.join(state['current']) or 'none (empty database)'}")
    click.echo(f"heads:   {', '.join(state['heads'])}")
    click.echo("up to date" if state["up_to_date"] else f"pending: {', '.join(state['pending'])}")
