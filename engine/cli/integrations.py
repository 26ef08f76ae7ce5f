"""``connect-engine integrations``: list them with their mode, go live (after checks), go back to test, history."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from engine.cli import cli
from engine.cli.common import EXIT_FAILED, echo_json, get_engine, handle_errors, json_option, table
from engine.cli.render import when

if TYPE_CHECKING:  # `connect-engine --help` imports this module for its help line
    from engine.golive import ModeReport


@cli.group("integrations")
def integrations_cmd() -> None:
    """Integrations and their mode (test or live)."""


@integrations_cmd.command("list")
@json_option
@click.pass_context
@handle_errors
def integrations_list(ctx: click.Context, as_json: bool) -> None:
    """List integrations with connector, mode and feeds."""
    engine = get_engine(ctx)
    current = engine.current_modes()
    rows = [{"name": name, "connector": integ.connector, "mode": current[name], "initial_mode": integ.mode,
             "feeds": len(integ.feeds), "enabled_feeds": sum(1 for f in integ.feeds.values() if f.enabled)}
            for name, integ in sorted(engine.config.integrations.items())]
    if as_json:
        echo_json({"integrations": rows})
        return
    if not rows:
        click.echo("no integrations are configured")
        return
    click.echo(table([[r["name"], r["connector"], r["mode"], f"{r['enabled_feeds']}/{r['feeds']}"] for r in rows],
                     ["integration", "connector", "mode", "feeds enabled"]))


@integrations_cmd.command("go-live")
@click.argument("name")
@click.option("--force", is_flag=True, help="Switch even if a check fails (recorded as forced).")
@click.option("--reason", help="Why, for the audit trail.")
@json_option
@click.pass_context
@handle_errors
def go_live_cmd(ctx: click.Context, name: str, force: bool, reason: str | None, as_json: bool) -> None:
    """Verify integration NAME and switch it to live: outbound feeds start writing to the store.

    Each check is printed. If one fails the switch is refused (exit 1) with the
    reasons, unless --force is given; every switch is kept in the audit trail.
    """
    engine = get_engine(ctx)
    report = engine.go_live(name, force=force, reason=reason)
    if as_json:
        echo_json(report.as_dict())
    else:
        _print_checks(report)
        click.echo(_verdict(report))
    if report.failed and not report.switched and report.before != "live":
        sys.exit(EXIT_FAILED)


def _print_checks(report: ModeReport) -> None:
    for check in report.checks:
        mark = "ok  " if check.ok else "FAIL"
        click.echo(f"[{mark}] {check.name}" + (f": {check.detail}" if check.detail else ""))


def _verdict(report: ModeReport) -> str:
    name = report.integration
    if report.switched and report.failed:
        return (f"integration {name!r} is now LIVE, forced past {len(report.failed)} failed check(s); "
                "recorded as forced in the audit trail")
    if report.switched:
        return f"integration {name!r} is now LIVE: outbound feeds write to the store"
    if report.before == "live":
        return f"integration {name!r} is already live (connect-engine integrations go-test {name} switches back)"
    reasons = "\n".join(f"  - {c.name}: {c.detail}" for c in report.failed)
    return (f"refused: integration {name!r} stays in test mode; {len(report.failed)} check(s) failed:\n{reasons}\n"
            f"fix them, or switch anyway with: connect-engine integrations go-live {name} --force")


@integrations_cmd.command("go-test")
@click.argument("name")
@click.option("--reason", help="Why, for the audit trail.")
@json_option
@click.pass_context
@handle_errors
def go_test_cmd(ctx: click.Context, name: str, reason: str | None, as_json: bool) -> None:
    """Switch integration NAME back to test: outbound feeds stop writing to the store."""
    report = get_engine(ctx).go_test(name, reason=reason)
    if as_json:
        echo_json(report.as_dict())
    elif report.switched:
        click.echo(f"integration {name!r} is now in TEST mode: outbound feeds are refused")
    else:
        click.echo(f"integration {name!r} is already in test mode")


@integrations_cmd.command("history")
@click.argument("name", required=False)
@json_option
@click.pass_context
@handle_errors
def history_cmd(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """The audit trail of mode switches (of NAME, or of every integration), oldest first."""
    engine = get_engine(ctx)
    rows = engine.mode_history(name)
    if as_json:
        echo_json({"history": [r.as_dict() for r in rows]})
        return
    if not rows:
        click.echo("no mode switches recorded")
        return
    click.echo(table([[when(r.at, engine.tz), r.integration, f"{r.from_mode or '-'} -> {r.to_mode}",
                       "yes" if r.forced else "", r.reason] for r in rows],
                     ["when", "integration", "switch", "forced", "reason"]))
