"""``connect-engine hub ...`` and ``connect-engine db ...`` against a real engine and database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import plugins.connect
from engine import hubapi
from engine.app import Engine
from engine.cli import cli
from engine.connector import RunContext


@pytest.fixture
def engine(db_url: str, tmp_path: Path, clock: Any) -> Iterator[Engine]:
    config = {"database": db_url, "data_dir": str(tmp_path / "data"),
              "hub": {"connector": "connect", "settings": {"default_warehouse": "main"}}}
    with Engine.from_config(config, plugins=[plugins.connect], clock=clock) as built:
        hub = built.connector_for(None, "hub")
        with built.sessions.begin() as s:
            ctx = RunContext(integration="shop", session=s)
            hub.write("products", [{"sku": "A-1", "name": "Mug", "price": "9.50", "external_id": "v1"},
                                   {"sku": "B-2", "name": "Cup", "price": "4.00"}], ctx=ctx)
            hub.write("orders", [{"external_id": "5001", "number": "#1001", "status": "paid", "total": "19.00",
                                  "currency": "EUR", "lines": [{"sku": "A-1", "quantity": 2}]}], ctx=ctx)
        yield built


def invoke(engine: Engine, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj={"engine": engine})


def test_listings_as_tables_and_json(engine: Engine) -> None:
    products = invoke(engine, "hub", "products")
    assert products.exit_code == 0, products.output
    assert products.output.splitlines()[0].split() == ["sku", "name", "price", "status", "barcode", "store", "id"]
    assert "A-1" in products.output and "B-2" in products.output

    linked = invoke(engine, "hub", "products", "--integration", "shop", "--json")
    assert [p["sku"] for p in json.loads(linked.output)["products"]] == ["A-1"]

    orders = json.loads(invoke(engine, "hub", "orders", "--json").output)["orders"]
    assert [(o["integration"], o["external_id"], o["number"], o["status"]) for o in orders] == [
        ("shop", "5001", "#1001", "paid")]
    assert "19.00 EUR" in invoke(engine, "hub", "orders").output
    assert invoke(engine, "hub", "images").output.strip() == "no images yet"
    assert invoke(engine, "hub", "shipments", "--order", "nope").output.strip() == "no shipments match"
    assert invoke(engine, "hub", "shipments", "--integration", "nope").output.strip() == (
        "error: unknown integration 'nope'; known: none")  # a typo is not an empty list


def test_stock_set_then_list(engine: Engine) -> None:
    done = invoke(engine, "hub", "stock", "set", "A-1", "12")
    assert done.exit_code == 0, done.output
    assert done.output.strip() == "stock of A-1 in main: none -> 12 (available 12)"
    again = json.loads(invoke(engine, "hub", "stock", "set", "A-1", "4", "--warehouse", "north", "--json").output)
    assert (again["warehouse"], again["quantity"]) == ("north", 4)

    listed = json.loads(invoke(engine, "hub", "stock", "--json").output)["stock"]
    assert [(r["sku"], r["warehouse"], r["quantity"]) for r in listed] == [("A-1", "main", 12), ("A-1", "north", 4)]
    assert "north" not in invoke(engine, "hub", "stock", "--warehouse", "main").output


def test_ship_an_order(engine: Engine) -> None:
    done = invoke(engine, "hub", "ship", "#1001", "--carrier", "postnl", "--tracking", "3S1", "--line", "A-1=1",
                  "--url", "https://track.example/3S1")
    assert done.exit_code == 0, done.output
    assert "created for order #1001 (shop 5001): postnl 3S1, A-1 x1" in done.output
    (shipment,) = json.loads(invoke(engine, "hub", "shipments", "--json").output)["shipments"]
    assert (shipment["tracking_url"], shipment["lines"][0]["external_id"]) == ("https://track.example/3S1", None)


def test_unlink_a_sku_from_a_store(engine: Engine) -> None:
    refused = invoke(engine, "hub", "unlink", "A-1", "B-2", "--integration", "shop")  # B-2 has no store id
    assert refused.exit_code == 1 and "SKU 'B-2' is not linked to a record of 'shop'" in refused.stderr
    assert [p["external_id"] for p in hubapi.hub_list(engine, "products", integration="shop")] == ["v1"]  # all or none

    done = invoke(engine, "hub", "unlink", "A-1", "--integration", "shop")
    assert done.exit_code == 0 and done.output.strip() == "A-1: unlinked from shop record v1"
    listed = {p["sku"]: p for p in hubapi.hub_list(engine, "products")}
    assert set(listed) == {"A-1", "B-2"}  # the product stays
    assert invoke(engine, "hub", "unlink", "A-1", "--integration", "shop").exit_code == 1


@pytest.mark.parametrize(("args", "message"), [
    (("stock", "set", "NOPE", "1"), "unknown SKU 'NOPE'"),
    (("ship", "404", "--carrier", "dhl", "--tracking", "T"), "unknown order '404'"),
    (("ship", "5001", "--carrier", "dhl", "--tracking", "T", "--line", "Z-9=1"), "no line with SKU 'Z-9'"),
])
def test_bad_input_is_one_line_exit_1_and_nothing_stored(engine: Engine, args: tuple[str, ...],
                                                         message: str) -> None:
    result = invoke(engine, "hub", *args)
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line
    assert hubapi.hub_list(engine, "stock") == [] and hubapi.hub_list(engine, "shipments") == []


@pytest.mark.parametrize(("args", "message"), [
    (("stock", "set", "A-1", "-3"), "Invalid value for 'QUANTITY': -3 is not in the range x>=0."),
    (("stock", "set", "A-1", "many"), "Invalid value for 'QUANTITY': 'many' is not a valid integer range."),
    (("ship", "5001", "--carrier", "dhl", "--tracking", "T", "--line", "A-1"),
     "Invalid value for '--line': 'A-1' is not SKU=QTY (e.g. --line A-100=2)"),
    (("ship", "5001", "--carrier", "dhl", "--tracking", "T", "--line", "A-1=two"),
     "Invalid value for '--line': the quantity of A-1 in 'A-1=two' is not a whole number"),
])
def test_a_malformed_value_is_a_usage_error_exit_2_and_nothing_stored(engine: Engine, args: tuple[str, ...],
                                                                      message: str) -> None:
    result = invoke(engine, "hub", *args)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"
    assert hubapi.hub_list(engine, "stock") == [] and hubapi.hub_list(engine, "shipments") == []


def test_db_upgrade_and_current(engine: Engine) -> None:
    upgraded = invoke(engine, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert "the database is up to date" in upgraded.output  # the engine upgraded when it was built
    state = json.loads(invoke(engine, "db", "current", "--json").output)
    assert state["up_to_date"] is True and state["heads"] == ["connect_0002", "engine_0001"]


def test_db_upgrade_of_an_empty_database_from_a_config_file(tmp_path: Path) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'fresh.db'}\nhub: {{connector: connect}}\n")
    engine = Engine.from_config(config, plugins=[plugins.connect], migrate=False)
    try:
        result = CliRunner().invoke(cli, ["db", "upgrade", "--json"], obj={"engine": engine})
    finally:
        engine.close()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["applied"] == ["engine_0001", "connect_0001", "connect_0002"]
