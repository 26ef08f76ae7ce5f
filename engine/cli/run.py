"""``connect-engine run FEED --integration NAME`` (run now) and ``run --due`` (what the schedule says is due)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from engine.cli import cli
from engine.cli.common import EXIT_FAILED, EXIT_LOCKED, echo_json, fail, get_engine, handle_errors, json_option
from engine.cli.render import duration, execution_text, when
from engine.errors import LockedError
from engine.progress import ProgressLine

if TYPE_CHECKING:
    from engine.app import Engine
    from engine.earlyfork import Forked
    from engine.readahead import Early
    from engine.store.records import ExecutionInfo

OK_STATUSES = ("success", "partial", "skipped", "interrupted")


@cli.command("run")
@click.argument("feed", required=False)
@click.option("--integration", "-i", help="The integration whose feed runs.")
@click.option("--due", is_flag=True, help="Run every feed and parked re-check that is due now, then exit.")
@click.option("--force", is_flag=True, help="Run a disabled feed, or a run-once feed again (never past test mode).")
@click.option("--pool", type=click.IntRange(min=1), help="With --due: feeds run at the same time.")
@json_option
@click.pass_context
@handle_errors
def run_cmd(ctx: click.Context, feed: str | None, integration: str | None, due: bool, force: bool,
            pool: int | None, as_json: bool) -> None:
    """Run FEED of an integration now, or with --due everything that is due (for hosts with their own cron).

    Exit status: 0 success, partial, skipped or interrupted; 1 failed; 3 the feed
    is already running (another process holds its lock; with --json, stdout says
    so: status "locked").
    """
    if due:
        if feed or integration or force:
            raise click.UsageError("--due runs what the schedule says; it takes no FEED, --integration or --force")
        _run_due(ctx, pool, as_json)
        return
    if not feed or not integration:
        raise click.UsageError("give FEED and --integration NAME (or --due)")
    if pool:
        raise click.UsageError("--pool goes with --due")
    engine, info = _run_feed(ctx, feed, integration, force=force, as_json=as_json)
    if as_json:
        echo_json(info.as_dict())
    else:
        click.echo(execution_text(info, engine.tz))
    if info.status not in OK_STATUSES:
        sys.exit(EXIT_FAILED)


def _run_feed(ctx: click.Context, feed: str, integration: str, *, force: bool,
              as_json: bool) -> tuple[Engine, ExecutionInfo]:
    """Build the engine and run the feed, its store read from before the engine loads (exits 3 if locked)."""
    # The store is read from here on, in a forked process, while this one loads, checks the schema and
    # closes dead runs: the run takes those pages if its cursor and mode are still the same.
    forked = _fork_reader(ctx, feed, integration, force)
    early: Early | None = None
    progress = None
    try:
        engine = get_engine(ctx, migrate=False)
        early = forked.take(engine) if forked is not None else None
        if early is None:  # a reader forked before start-up does not apply: one forked now may
            early = engine.read_early(feed, integration, force=force)
        engine.upgrade()
        engine.reap()
        progress = None if as_json else ProgressLine(f"feed {feed} of {integration}")
        # Until here a Ctrl-C or SIGTERM ends the command at once: nothing is written before the run.
        with _stop_on_signal() as stop:
            info = engine.run(feed, integration, trigger="manual", force=force, progress=progress, stop=stop,
                              read_ahead=True, early=early)
    except LockedError as exc:
        if as_json:  # a script reading stdout gets an answer it can parse, beside the exit code
            echo_json({"integration": integration, "feed": feed, "status": "locked", "message": str(exc),
                       "execution_id": exc.execution_id, "holder": exc.holder})
        fail(exc, EXIT_LOCKED)
        raise  # fail() exits
    finally:
        if forked is not None:
            forked.cancel()
        if early is not None:
            early.cancel()
        if progress is not None:
            progress.close()
    return engine, info


def _fork_reader(ctx: click.Context, feed: str, integration: str, force: bool) -> Forked | None:
    """Fork the run's store reader before this process loads the engine (engine.earlyfork)."""
    obj = ctx.ensure_object(dict)
    if "engine" in obj:  # a host's ready engine: nothing is left to load
        return None
    from engine import earlyfork

    return earlyfork.fork(obj.get("config_path", "engine.yaml"), integration, feed, force=force,
                          plugins=obj.get("plugins"))


def _run_due(ctx: click.Context, pool: int | None, as_json: bool) -> None:
    engine = get_engine(ctx)
    with _stop_on_signal() as stop:
        results = engine.tick(trigger="due", pool_size=pool, stop=stop, read_ahead=True)
    if as_json:
        echo_json({"results": [r.as_dict() for r in results]})
    elif not results:
        click.echo("nothing is due")
    else:
        for r in results:
            what = "re-check" if r.item.kind == "parked" else "run"
            head = f"{r.item.integration}/{r.item.feed} {what} ({r.item.reason}): {r.status}"
            if r.execution is not None:
                ex = r.execution
                head += f", execution {ex.id} in {duration(ex.duration)} at {when(ex.started_at, engine.tz)}"
                if ex.message:
                    head += f": {ex.message}"
            click.echo(head)
            if r.locked or r.error:
                click.echo(f"  {r.locked or r.error}")
    if any(r.status == "failed" or r.error for r in results):
        sys.exit(EXIT_FAILED)


@contextmanager
def _stop_on_signal() -> Iterator[threading.Event]:
    """SIGTERM / Ctrl-C finish the page in hand and end the run ``interrupted`` instead of killing it."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(_sig: int, _frame: object) -> None:
        if stop.is_set():  # a second Ctrl-C really stops
            raise KeyboardInterrupt
        click.echo("\nstopping after the page in hand (Ctrl-C again to abort)", err=True)
        stop.set()

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
