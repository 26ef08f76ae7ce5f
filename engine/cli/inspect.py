"""``connect-engine executions`` (what ran) and ``connect-engine notifications`` (the bell: what needs a person)."""

from __future__ import annotations

import sys

import click

from engine.cli import cli
from engine.cli.common import EXIT_FAILED, echo_json, get_engine, handle_errors, json_option, known_or_found, table
from engine.cli.render import EXECUTION_HEADERS, execution_detail, execution_row, notification_text

STATUSES = ("running", "success", "partial", "failed", "skipped", "interrupted")


@cli.group("executions", invoke_without_command=True)
@click.option("--feed", help="Only this feed.")
@click.option("--integration", "-i", help="Only this integration.")
@click.option("--status", type=click.Choice(STATUSES), help="Only executions with this status.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
@json_option
@click.pass_context
@handle_errors
def executions_cmd(ctx: click.Context, feed: str | None, integration: str | None, status: str | None, limit: int,
                   as_json: bool) -> None:
    """List executions, newest first (executions show ID: one execution with every event)."""
    if ctx.invoked_subcommand is not None:
        return
    engine = get_engine(ctx)
    rows = engine.executions(integration=integration, feed=feed, status=status, limit=limit)
    known_or_found(engine, integration, rows)
    if as_json:
        echo_json({"executions": [r.as_dict() for r in rows]})
        return
    if not rows:
        click.echo("no executions" + (" match" if feed or integration or status else " yet"))
        return
    click.echo(table([execution_row(r, engine.tz) for r in rows], EXECUTION_HEADERS))


@executions_cmd.command("show")
@click.argument("execution_id", type=int)
@json_option
@click.pass_context
@handle_errors
def executions_show(ctx: click.Context, execution_id: int, as_json: bool) -> None:
    """Show one execution in full, with every event it recorded."""
    engine = get_engine(ctx)
    info, events = engine.execution(execution_id)
    if as_json:
        echo_json({**info.as_dict(), "events": events})
        return
    click.echo(execution_detail(info, events, engine.tz))


@cli.group("notifications", invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Include acknowledged and resolved notifications.")
@click.option("--integration", "-i", help="Only this integration.")
@json_option
@click.pass_context
@handle_errors
def notifications_cmd(ctx: click.Context, show_all: bool, integration: str | None, as_json: bool) -> None:
    """The bell: errors waiting for a person, with the record, the store's message and what to do."""
    if ctx.invoked_subcommand is not None:
        return
    engine = get_engine(ctx)
    rows = engine.notifications(include_acknowledged=show_all, integration=integration)
    known_or_found(engine, integration, rows)
    if as_json:
        echo_json({"notifications": [n.as_dict() for n in rows]})
        return
    if not rows:
        click.echo("nothing needs you: no open notifications")
        return
    click.echo("\n".join(notification_text(n, engine.tz) for n in rows))
    click.echo(f"\n{len(rows)} notification(s); acknowledge with: connect-engine notifications ack ID (or --all)")


@notifications_cmd.command("ack")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "ack_all", is_flag=True, help="Acknowledge every open notification.")
@click.pass_context
@handle_errors
def notifications_ack(ctx: click.Context, ids: tuple[int, ...], ack_all: bool) -> None:
    """Acknowledge notifications by ID (or --all); they ring again when the record changes and fails anew."""
    if bool(ids) == ack_all:
        raise click.UsageError("give notification IDs or --all (not both)")
    engine = get_engine(ctx)
    done = engine.acknowledge(None if ack_all else list(ids))
    click.echo(f"acknowledged {done} notification(s)")
    if ids and done < len(set(ids)):
        click.echo(f"{len(set(ids)) - done} of the given ids are not open notifications "
                   "(connect-engine notifications lists them)", err=True)
        sys.exit(EXIT_FAILED)
