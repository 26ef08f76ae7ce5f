"""``connect-engine hub ...``: look at the hub's data, set stock, record a shipment."""

from __future__ import annotations

from typing import Any

import click

from engine import hubapi
from engine.cli import cli
from engine.cli.common import echo_json, get_engine, handle_errors, json_option, known_or_found, table


class ShipLine(click.ParamType):
    """``--line SKU=QTY``: a malformed one is a usage error (exit 2), like any value click refuses."""

    name = "SKU=QTY"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dict[str, Any]:
        if isinstance(value, dict):
            return value
        sku, sep, quantity = str(value).rpartition("=")
        if not sep or not sku:
            self.fail(f"{value!r} is not SKU=QTY (e.g. --line A-100=2)", param, ctx)
        try:
            return {"sku": sku, "quantity": int(quantity)}
        except ValueError:
            self.fail(f"the quantity of {sku} in {value!r} is not a whole number", param, ctx)

integration_option = click.option("--integration", "-i", help="Only this integration's data.")
limit_option = click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
                            help="At most this many rows.")


@cli.group("hub")
def hub_cmd() -> None:
    """Inspect and operate the hub: products, orders, stock, shipments, images."""


def _show(ctx: click.Context, what: str, as_json: bool, headers: list[str], row: Any, **filters: Any) -> None:
    engine = get_engine(ctx)
    rows = hubapi.hub_list(engine, what, **filters)
    known_or_found(engine, filters.get("integration"), rows)
    if as_json:
        echo_json({what: rows})
        return
    if not rows:
        click.echo(f"no {what}" + (" match" if any(v for k, v in filters.items() if k != "limit") else " yet"))
        return
    click.echo(table([row(r) for r in rows], headers))


@hub_cmd.command("products")
@integration_option
@click.option("--sku", help="Only this SKU.")
@limit_option
@json_option
@click.pass_context
@handle_errors
def products_cmd(ctx: click.Context, integration: str | None, sku: str | None, limit: int, as_json: bool) -> None:
    """Hub products by SKU (with --integration: those linked to it, with their store ids)."""
    _show(ctx, "products", as_json, ["sku", "name", "price", "status", "barcode", "store id"],
          lambda r: [r["sku"], r["name"], r["price"], r["status"], r["barcode"], r["external_id"]],
          integration=integration, sku=sku, limit=limit)


@hub_cmd.command("orders")
@integration_option
@click.option("--status", help="Only orders with this hub status.")
@limit_option
@json_option
@click.pass_context
@handle_errors
def orders_cmd(ctx: click.Context, integration: str | None, status: str | None, limit: int, as_json: bool) -> None:
    """Orders, newest first."""
    _show(ctx, "orders", as_json,
          ["integration", "external id", "number", "status", "payment", "total", "lines", "ordered"],
          lambda r: [r["integration"], r["external_id"], r["number"], r["status"], r["payment_status"],
                     f"{r['total'] or ''} {r['currency'] or ''}".strip(), len(r["lines"]), r["ordered_at"]],
          integration=integration, status=status, limit=limit)


@hub_cmd.group("stock", invoke_without_command=True)
@integration_option
@click.option("--warehouse", "-w", help="Only this warehouse.")
@click.option("--sku", help="Only this SKU.")
@limit_option
@json_option
@click.pass_context
@handle_errors
def stock_cmd(ctx: click.Context, integration: str | None, warehouse: str | None, sku: str | None, limit: int,
              as_json: bool) -> None:
    """Stock per SKU and warehouse (``hub stock set SKU QTY`` to change it)."""
    if ctx.invoked_subcommand is not None:
        return
    _show(ctx, "stock", as_json, ["sku", "warehouse", "quantity", "reserved", "available", "updated"],
          lambda r: [r["sku"], r["warehouse"], r["quantity"], r["reserved"], r["available"], r["updated_at"]],
          integration=integration, warehouse=warehouse, sku=sku, limit=limit)


@stock_cmd.command("set", context_settings={"ignore_unknown_options": True})  # "-3" is a QUANTITY, refused
@click.argument("sku")
@click.argument("quantity", type=click.IntRange(min=0))
@click.option("--warehouse", "-w", help="The warehouse (default: the hub's default_warehouse).")
@json_option
@click.pass_context
@handle_errors
def stock_set_cmd(ctx: click.Context, sku: str, quantity: int, warehouse: str | None, as_json: bool) -> None:
    """Set the stock of SKU to QUANTITY (0 or more)."""
    result = hubapi.set_stock(get_engine(ctx), sku, quantity, warehouse)
    if as_json:
        echo_json(result)
        return
    before = "none" if result["previous"] is None else result["previous"]
    click.echo(f"stock of {result['sku']} in {result['warehouse']}: {before} -> {result['quantity']} "
               f"(available {result['available']})")


@hub_cmd.command("shipments")
@integration_option
@click.option("--order", help="Only this order (external id).")
@limit_option
@json_option
@click.pass_context
@handle_errors
def shipments_cmd(ctx: click.Context, integration: str | None, order: str | None, limit: int, as_json: bool) -> None:
    """Shipments, newest first."""
    _show(ctx, "shipments", as_json, ["id", "integration", "order", "number", "carrier", "tracking", "lines", "at"],
          lambda r: [r["id"], r["integration"], r["order_external_id"], r["order_number"], r["carrier"],
                     r["tracking_number"], _lines_text(r["lines"]), r["created_at"]],
          integration=integration, order=order, limit=limit)


@hub_cmd.command("images")
@integration_option
@click.option("--sku", help="Only this SKU.")
@limit_option
@json_option
@click.pass_context
@handle_errors
def images_cmd(ctx: click.Context, integration: str | None, sku: str | None, limit: int, as_json: bool) -> None:
    """Downloaded product images (files under the engine's data_dir)."""
    _show(ctx, "images", as_json, ["sku", "pos", "bytes", "type", "file", "url"],
          lambda r: [r["sku"], r["position"], r["bytes"], r["content_type"], r["path"], r["url"]],
          integration=integration, sku=sku, limit=limit)


@hub_cmd.command("ship")
@click.argument("order")
@click.option("--carrier", required=True, help="The hub carrier code (e.g. postnl).")
@click.option("--tracking", required=True, help="The tracking number.")
@click.option("--integration", "-i", help="The order's integration (needed when its number is not unique).")
@click.option("--url", help="The tracking URL.")
@click.option("--line", "lines", multiple=True, type=ShipLine(), metavar="SKU=QTY",
              help="Ship only this quantity of a SKU (repeatable); default: every line.")
@json_option
@click.pass_context
@handle_errors
def ship_cmd(ctx: click.Context, order: str, carrier: str, tracking: str, integration: str | None, url: str | None,
             lines: tuple[dict[str, Any], ...], as_json: bool) -> None:
    """Record that ORDER (external id or number) was shipped; the shipment feed tells the store."""
    result = hubapi.create_shipment(get_engine(ctx), order, carrier=carrier, tracking=tracking,
                                    integration=integration, url=url, lines=list(lines) or None)
    if as_json:
        echo_json(result)
        return
    click.echo(f"shipment {result['id']} {result['action']} for order {result['order_number'] or ''} "
               f"({result['integration']} {result['order_external_id']}): {result['carrier']} "
               f"{result['tracking_number']}, {_lines_text(result['lines'])}")


@hub_cmd.command("unlink")
@click.argument("skus", nargs=-1, required=True, metavar="SKU...")
@click.option("--integration", "-i", required=True, help="The integration whose store record the SKU leaves.")
@json_option
@click.pass_context
@handle_errors
def unlink_cmd(ctx: click.Context, skus: tuple[str, ...], integration: str, as_json: bool) -> None:
    """Unlink SKUs from their records in an integration's store (a record deleted and created again).

    The products stay in the hub; the next products run links each SKU to the
    store record that carries it now.
    """
    engine = get_engine(ctx)
    done = hubapi.unlink(engine, list(skus), integration)
    if as_json:
        echo_json(done)
        return
    for link in done:
        click.echo(f"{link['sku']}: unlinked from {link['integration']} record {link['external_id']}")




def _lines_text(lines: list[dict[str, Any]] | None) -> str:
    if lines is None:
        return "all lines"
    return ", ".join(f"{ln['sku']} x{ln['quantity']}" for ln in lines)
