"""``connect-engine parked``: records waiting for a re-check, re-check them now, or give up on them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from engine.cli import cli
from engine.cli.common import EXIT_FAILED, echo_json, get_engine, handle_errors, json_option, known_or_found, table
from engine.cli.render import PARKED_HEADERS, duration, parked_row

if TYPE_CHECKING:  # `connect-engine --help` imports this module for its help line
    from engine.scheduler import TickResult


@cli.group("parked", invoke_without_command=True)
@click.option("--integration", "-i", help="Only this integration.")
@click.option("--feed", help="Only this feed.")
@json_option
@click.pass_context
@handle_errors
def parked_cmd(ctx: click.Context, integration: str | None, feed: str | None, as_json: bool) -> None:
    """List parked records (severity retry) with reason, checks so far and next check."""
    if ctx.invoked_subcommand is not None:
        return
    engine = get_engine(ctx)
    rows = engine.parked(integration=integration, feed=feed)
    known_or_found(engine, integration, rows)
    if as_json:
        echo_json({"parked": [p.as_dict() for p in rows]})
        return
    if not rows:
        click.echo("no parked records")
        return
    click.echo(table([parked_row(p, engine.tz) for p in rows], PARKED_HEADERS))


@parked_cmd.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Re-check every parked record.")
@json_option
@click.pass_context
@handle_errors
def parked_retry(ctx: click.Context, ids: tuple[int, ...], retry_all: bool, as_json: bool) -> None:
    """Re-check parked records now: those that pass are written, the others stay parked."""
    if bool(ids) == retry_all:
        raise click.UsageError("give parked record IDs or --all (not both)")
    engine = get_engine(ctx)
    results = engine.retry_parked(None if retry_all else list(ids))
    if as_json:
        echo_json({"results": [r.as_dict() for r in results]})
    elif not results:
        click.echo("no parked records")
    else:
        click.echo("\n".join(_retry_line(r) for r in results))
    if any(r.status == "failed" or r.error for r in results):
        sys.exit(EXIT_FAILED)


def _retry_line(r: TickResult) -> str:
    line = f"{r.item.integration}/{r.item.feed}: {r.item.count} record(s) re-checked, {r.status}"
    if r.execution is not None:
        c = r.execution.counts
        line += (f" (execution {r.execution.id}, {duration(r.execution.duration)}: written "
                 f"{c['created'] + c['updated'] + c['unchanged']}, still parked {c['parked']}, "
                 f"errors {c['errors']}, info {c['info']})")
        if r.execution.status in ("failed", "skipped") and r.execution.message:
            line += f": {r.execution.message}"
    elif r.locked or r.error:
        line += f": {r.locked or r.error}"
    return line


@parked_cmd.command("drop")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.option("--reason", help="Why, kept with the event that records it.")
@click.pass_context
@handle_errors
def parked_drop(ctx: click.Context, ids: tuple[int, ...], reason: str | None) -> None:
    """Give up on parked records: they are no longer re-checked (an info event records it)."""
    dropped = get_engine(ctx).drop_parked(list(ids), reason=reason)
    for p in dropped:
        click.echo(f"dropped {p.id}: {p.integration}/{p.feed} record {p.record_label or p.record_key}")
