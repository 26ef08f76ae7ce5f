"""Hub operations (set/adjust stock, listings, one order) and the hub plugin's registration."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

import plugins.connect
from engine.errors import RecordError
from engine.plugins import Hooks, build_manager
from plugins.connect import operations
from plugins.connect.connector import HubConnector


@pytest.fixture
def catalogue(write: Any) -> None:
    write("products", [{"sku": "A-1", "name": "Mug", "price": "9.50", "external_id": "v1"},
                       {"sku": "B-2", "name": "Cup", "price": "4.00"}])
    write("orders", [{"external_id": "5001", "number": "#1001", "status": "paid",
                      "lines": [{"sku": "A-1", "quantity": 1}]}])
    write("orders", [{"external_id": "7001", "number": "#2001", "status": "open", "lines": []}], integration="other")


def test_set_and_adjust_stock(catalogue: None, sessions: Any, clock: Any) -> None:
    with sessions.begin() as s:
        first = operations.set_stock(s, "A-1", 10, now=clock.now)
    assert (first["warehouse"], first["quantity"], first["available"], first["previous"]) == ("main", 10, 10, None)
    with sessions.begin() as s:
        again = operations.set_stock(s, "A-1", 7, "main", now=clock.now)
        taken = operations.adjust_stock(s, "A-1", -3, now=clock.now)
    assert (again["previous"], again["quantity"]) == (10, 7)
    assert (taken["previous"], taken["quantity"]) == (7, 4)


@pytest.mark.parametrize(("call", "message"), [
    (lambda s, now: operations.set_stock(s, "NOPE", 1, now=now), "unknown SKU 'NOPE'"),
    (lambda s, now: operations.set_stock(s, "A-1", -1, now=now), "quantity -1 is below 0"),
    (lambda s, now: operations.adjust_stock(s, "A-1", -1, now=now), "only 0 in stock"),
])
def test_bad_stock_changes_store_nothing(catalogue: None, sessions: Any, clock: Any, call: Any,
                                         message: str) -> None:
    with pytest.raises(RecordError, match=message), sessions.begin() as s:
        call(s, clock.now)
    with sessions() as s:
        assert operations.list_stock(s) == []


def test_listings(catalogue: None, sessions: Any, clock: Any) -> None:
    with sessions.begin() as s:
        operations.set_stock(s, "A-1", 3, now=clock.now)
        operations.set_stock(s, "B-2", 5, "north", now=clock.now)
        operations.create_shipment(s, integration=None, order="#2001", carrier="dhl", tracking_number="T1",
                                   now=clock.now)
    with sessions() as s:
        assert [p["sku"] for p in operations.list_products(s)] == ["A-1", "B-2"]
        assert [p["sku"] for p in operations.list_products(s, integration="shop")] == ["A-1"]
        assert [p["sku"] for p in operations.list_products(s, limit=1)] == ["A-1"]
        orders = operations.list_orders(s)
        assert [(o["integration"], o["external_id"], o["number"], o["status"]) for o in orders] == [
            ("other", "7001", "#2001", "open"), ("shop", "5001", "#1001", "paid")]
        assert [o["external_id"] for o in operations.list_orders(s, integration="shop")] == ["5001"]
        assert [(r["sku"], r["warehouse"]) for r in operations.list_stock(s)] == [("A-1", "main"), ("B-2", "north")]
        assert [r["sku"] for r in operations.list_stock(s, integration="shop")] == ["A-1"]
        assert [r["order_external_id"] for r in operations.list_shipments(s, integration="other")] == ["7001"]
        assert operations.list_shipments(s, integration="shop") == []
        assert operations.list_images(s) == []
        with pytest.raises(RecordError, match="limit"):
            operations.list_orders(s, limit=0)


def test_get_order(catalogue: None, sessions: Any) -> None:
    with sessions() as s:
        order = operations.get_order(s, "shop", "#1001")
        assert order is not None
        assert (order["external_id"], order["lines"][0]["sku"], order["shipments"]) == ("5001", "A-1", [])
        assert operations.get_order(s, "shop", "7001") is None
        assert operations.get_order(s, None, "7001")["integration"] == "other"  # type: ignore[index]


def test_the_plugin_registers_the_hub_its_models_and_migrations() -> None:
    hooks = Hooks(build_manager(plugins=[plugins.connect]))
    assert hooks.connectors() == {"connect": HubConnector}
    assert hooks.pm.hook.register_migrations() == [[str(plugins.connect.MIGRATIONS)]]
    assert [m.__name__ for m in hooks.pm.hook.register_models()[0]] == ["plugins.connect.tables"]


def test_the_settings_schema_is_valid_and_defaults_the_warehouse() -> None:
    schema = HubConnector.settings_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["default_warehouse"]["default"] == "main"
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors({"default_warehouse": 3, "other": 1}))
    assert len(errors) == 2
    assert HubConnector.feed_set is None and HubConnector.title == "Connect hub"
    assert {n: r.key for n, r in HubConnector.resources.items()} == {
        "products": "sku", "product_images": "url", "orders": "external_id", "stock": "sku", "shipments": "id",
        "suppliers": "external_id", "product_suppliers": "external_id"}
