"""``connect-engine feeds``: every feed of every integration, its schedule and its last run."""

from __future__ import annotations

import click

from engine.cli import cli
from engine.cli.common import echo_json, get_engine, handle_errors, json_option, table


@cli.command("feeds")
@click.option("--integration", help="Only this integration's feeds.")
@json_option
@click.pass_context
@handle_errors
def feeds_cmd(ctx: click.Context, integration: str | None, as_json: bool) -> None:
    """List feeds: direction, source -> target, schedule, re-check schedule, last run."""
    from sqlalchemy import select  # loaded when the command runs: `--help` imports this module for its help line

    from engine.store import tables

    engine = get_engine(ctx)
    names = [integration] if integration else sorted(engine.config.integrations)
    with engine.transactions() as s:
        states = {(r.integration, r.feed): r for r in s.execute(select(tables.feed_state))}
    rows = []
    for name in names:
        integ = engine.integration(name)
        for feed in integ.feeds.values():
            st = states.get((name, feed.name))
            rows.append({
                "integration": name, "feed": feed.name, "direction": feed.direction,
                "source": f"{feed.source.side}.{feed.source.resource}",
                "target": f"{feed.target.side}.{feed.target.resource}", "schedule": feed.schedule,
                # any feed can park a record (a store's 429/5xx for it, or a retry rule): its re-check schedule
                "recheck": feed.retry.schedule,
                "enabled": feed.enabled, "run_once": feed.run_once, "description": feed.description,
                "last_status": st.last_status if st else None,
                "last_finished_at": st.last_finished_at.isoformat() if st and st.last_finished_at else None,
            })
    if as_json:
        echo_json({"feeds": rows})
        return
    click.echo(table([[r["integration"], r["feed"], r["direction"], f"{r['source']} -> {r['target']}",
                       r["schedule"] + (" (once)" if r["run_once"] else ""), r["recheck"] or "-",
                       "yes" if r["enabled"] else "no", r["last_status"] or "never ran"] for r in rows],
                     ["integration", "feed", "direction", "source -> target", "schedule", "re-check parked",
                      "enabled", "last run"]))
