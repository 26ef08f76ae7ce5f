"""``connect-engine demo``: the whole cycle on the embedded default, against the Shopify sandbox.

Imports products, images, stock and orders; parks the unpaid; the sandbox takes a
payment and the re-check imports it; a cancel in the store reaches the hub; a
stock check; go live; the hub ships an order and changes stock; the pushes go
out once; a last stock check is clean. Every execution and the bell are printed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from engine.errors import ConfigError, EngineError

if TYPE_CHECKING:  # loaded when the demo runs: `connect-engine --help` imports this module for its help line
    from engine.app import Engine
    from engine.store.records import ExecutionInfo
    from plugins.shopify.sandbox import ShopifySandbox

DEMO_TOKEN = "shpat_demo_sandbox_token"


def _demo_config(config_path: Path) -> tuple[dict[str, Any], str]:
    import yaml

    raw = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    shops = [n for n, i in (raw.get("integrations") or {}).items() if (i or {}).get("connector") == "shopify"]
    if not shops:
        raise click.ClickException(f"{config_path} has no integration with connector 'shopify' to run the demo on")
    root = config_path.resolve().parent
    var = root / "var"
    # A database of its own, made afresh, so the demo never touches the integration's real data.
    for leftover in (var / "demo.db", var / "demo.db-wal", var / "demo.db-shm"):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(var / "demo-data", ignore_errors=True)
    raw.update(database=f"sqlite:///{var / 'demo.db'}", data_dir=str(var / "demo-data"), root=str(root))
    raw["integrations"] = {shops[0]: {**raw["integrations"][shops[0]], "mode": "test"}}
    return raw, shops[0]


class Demo:
    """Runs and prints the demo steps."""

    def __init__(self, engine: Engine, shop: str, sandbox: ShopifySandbox) -> None:
        self.engine, self.shop, self.sb = engine, shop, sandbox

    def step(self, title: str) -> None:
        click.secho(f"\n== {title}", bold=True)

    def run(self, feed: str) -> ExecutionInfo:
        from engine.progress import ProgressLine

        progress = ProgressLine(f"{feed} of {self.shop}")
        try:
            info = self.engine.run(feed, self.shop, progress=progress)
        finally:
            progress.close()
        self.show(info)
        return info

    def show(self, info: ExecutionInfo | None) -> None:
        if info is None:
            click.echo("   nothing to do")
            return
        c = info.counts
        counts = ", ".join(f"{k} {v}" for k, v in c.items() if v) or "no records"
        colour = {"success": "green", "partial": "yellow", "skipped": "cyan"}.get(info.status, "red")
        click.echo(f"   #{info.id} {info.feed:<24} " + click.style(f"{info.status:<8}", fg=colour)
                   + f" {info.duration or 0:6.2f}s  {counts}")
        if info.status in ("skipped", "failed") and info.message:
            click.echo(f"      {info.message}")

    def bell(self) -> None:
        notes = self.engine.notifications()
        click.echo(f"   the bell: {len(notes)} open notification(s)")
        for n in notes:
            click.echo(f"   - [{n.feed}] {n.record_label or n.record_key or ''}: {n.message}")
            if n.hint:
                click.echo(f"     what to do: {n.hint}")


def run_demo(config_path: Path, products: int, orders: int, seed: int) -> int:
    """The whole cycle; returns the process exit code."""
    from engine.app import Engine
    from plugins.shopify.sandbox import ShopifySandbox

    raw, shop = _demo_config(config_path)
    click.echo(f"Starting the Shopify sandbox ({products} products, {orders} orders, seed {seed})...")
    with ShopifySandbox(products=products, orders=orders, seed=seed, token=DEMO_TOKEN, rate_limit=True) as sb:
        env = {"SHOPIFY_SHOP_URL": sb.url, "SHOPIFY_TOKEN": sb.token}
        with Engine.from_config(raw, env=env) as engine:
            click.echo(f"Sandbox at {sb.url}; database {raw['database']}; integration {shop!r} in test mode.")
            _cycle(Demo(engine, shop, sb))
    return 0


def _cycle(d: Demo) -> None:
    from engine import hubapi

    eng, shop, sb = d.engine, d.shop, d.sb
    d.step("1. Import from the store (test mode: nothing is written to the store)")
    for feed in ("import_new_products", "import_product_images", "import_stock_levels", "import_new_orders"):
        d.run(feed)
    parked = eng.parked(integration=shop)
    click.echo(f"   {len(parked)} unpaid order(s) parked, re-checked hourly: "
               + ", ".join(p.record_label or p.record_key for p in parked[:8]))
    d.bell()

    d.step("2. The store takes a payment; the re-check imports the order")
    if parked:
        first = parked[0]
        sb.set_order(int(first.record_key), financial_status="paid")
        click.echo(f"   sandbox: order {first.record_label} is now paid")
        d.show(eng.recheck("import_new_orders", shop, ids=[first.id]))
        order = hubapi.get_order(eng, first.record_key, integration=shop)
        click.echo(f"   hub: order {first.record_label} -> {order['status'] if order else 'missing'}")
    else:
        click.echo("   skipped: the sandbox has no unpaid order (give it more --orders)")

    d.step("3. A cancel in the store reaches the hub (status only)")
    imported = [o for o in hubapi.hub_list(eng, "orders", integration=shop, limit=500) if o["status"] == "open"]
    victim, ship_me = (imported + [None, None])[:2]
    if victim is not None and ship_me is not None:
        sb.cancel_order(int(victim["external_id"]))
        d.run("update_orders")
        click.echo(f"   hub: order {victim['number']} -> "
                   f"{hubapi.get_order(eng, victim['external_id'], integration=shop)['status']}")
    else:
        ship_me = victim  # one open order: ship it, cancel none
        click.echo("   skipped: the hub needs two open orders for this step (give the sandbox more --orders)")

    d.step("4. Stock check, then go live")
    d.run("stock_check")
    report = eng.go_live(shop, reason="demo: checks passed")
    for check in report.checks:
        click.echo(f"   [{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    click.echo(f"   integration {shop!r} is now {report.mode.upper()}")

    d.step("5. The hub ships an order and changes stock; the pushes go out once")
    stock = hubapi.hub_list(eng, "stock", limit=3)
    for row in stock[:2]:
        hubapi.set_stock(eng, row["sku"], int(row["quantity"]) + 5, row["warehouse"])
        click.echo(f"   hub: stock of {row['sku']} {row['quantity']} -> {int(row['quantity']) + 5}")
    if ship_me is not None:
        hubapi.create_shipment(eng, ship_me["external_id"], carrier="dhl", tracking="DEMO-TRACK-0001",
                               integration=shop)
        click.echo(f"   hub: order {ship_me['number']} shipped with dhl DEMO-TRACK-0001")
    d.run("export_stock_levels")
    d.run("shipping_confirmation")
    d.run("shipping_confirmation")
    writes = sb.writes()
    click.echo(f"   the store received {sum('fulfillments' in w['path'] for w in writes)} fulfilment(s) and "
               f"{sum('inventory_levels' in w['path'] for w in writes)} stock update(s)")

    d.step("6. The nightly stock check is clean")
    d.run("stock_check")

    d.step("Executions")
    for info in reversed(eng.executions(integration=shop, limit=50)):
        d.show(info)
    d.step("Notifications")
    d.bell()


@click.command("demo")
@click.option("--products", default=300, show_default=True, type=click.IntRange(min=1),
              help="Products in the sandbox store.")
@click.option("--orders", default=60, show_default=True, type=click.IntRange(min=0),
              help="Orders in the sandbox store.")
@click.option("--seed", default=7, show_default=True, help="Seed of the sandbox's generated data.")
@click.pass_context
def demo_command(ctx: click.Context, products: int, orders: int, seed: int) -> None:
    """Run the whole cycle against the Shopify sandbox on a fresh demo database."""
    path = Path(ctx.ensure_object(dict).get("config_path") or "engine.yaml")
    if not path.exists():
        raise click.ClickException(f"configuration {path} not found (run from the project folder or pass --config)")
    try:
        ctx.exit(run_demo(path, products, orders, seed))
    except ConfigError as exc:
        raise click.ClickException(exc.render()) from exc
    except EngineError as exc:
        raise click.ClickException(str(exc)) from exc
