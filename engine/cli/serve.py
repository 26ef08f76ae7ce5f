"""``connect-engine serve``: run every enabled feed on its schedule until SIGTERM or Ctrl-C."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import click

from engine.cli import cli
from engine.cli.common import get_engine, handle_errors
from engine.cli.render import duration, when
from engine.serve import DEFAULT_MAX_INTERVAL, Server

if TYPE_CHECKING:  # `connect-engine --help` imports this module for its help line
    from engine.scheduler import TickResult


@cli.command("serve")
@click.option("--pool", type=click.IntRange(min=1), help="Feeds run at the same time (default: pool_size "
                                                          "of the configuration).")
@click.option("--once", is_flag=True, help="Run what is due now, wait for it, and exit.")
@click.option("--max-interval", type=click.FloatRange(min=0.1), default=DEFAULT_MAX_INTERVAL, show_default=True,
              help="Longest sleep between two looks at what is due, in seconds.")
@click.pass_context
@handle_errors
def serve_cmd(ctx: click.Context, pool: int | None, once: bool, max_interval: float) -> None:
    """Run every enabled feed of every integration on its cron schedule, and re-check parked records.

    SIGTERM or Ctrl-C: running feeds finish the page in hand and end
    interrupted (they resume on the next start); the command exits 0.
    """
    engine = get_engine(ctx)
    out = threading.Lock()

    def say(line: str) -> None:
        with out:
            click.echo(f"{when(engine.clock(), engine.tz)}  {line}")

    def show(result: TickResult) -> None:
        item, ex = result.item, result.execution
        what = "re-check" if item.kind == "parked" else "run"
        line = f"{item.integration}/{item.feed} {what}: {result.status}"
        if ex is not None:
            line += f" (execution {ex.id}, {duration(ex.duration)}, read {ex.counts.get('read', 0)}, " \
                    f"errors {ex.counts.get('errors', 0)})"
            if ex.status in ("failed", "skipped", "interrupted") and ex.message:
                line += f": {ex.message}"
        elif result.locked or result.error:
            line += f": {result.locked or result.error}"
        say(line)

    server = Server(engine, pool_size=pool, max_interval=max_interval, on_result=show, on_event=say)
    feeds = sum(len(i.feeds) for i in engine.config.integrations.values())
    say(f"serving {len(engine.config.integrations)} integration(s), {feeds} feed(s); pool {server.pool_size}, "
        f"time zone {engine.config.timezone}" + ("; once" if once else "; stop with Ctrl-C or SIGTERM"))
    restore = server.install_signals() if threading.current_thread() is threading.main_thread() else None
    try:
        server.serve(once=once)
    finally:
        if restore is not None:
            restore()
    say("stopped")
