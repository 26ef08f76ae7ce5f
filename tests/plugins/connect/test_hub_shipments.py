"""Shipments (resource and operation), suppliers and product-suppliers."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from engine.connector import RunContext
from engine.errors import RecordError, Severity
from engine.store.db import Transactions
from plugins.connect import operations
from plugins.connect.models import Shipment

LINES = [{"sku": "A-1", "quantity": 2, "external_id": "L1"}, {"sku": "B-2", "quantity": 1, "external_id": "L2"}]


@pytest.fixture
def orders(write: Any) -> None:
    write("orders", [{"external_id": "5001", "number": "#1001", "status": "paid", "lines": LINES}])
    write("orders", [{"external_id": "7001", "number": "#1001", "status": "paid", "lines": LINES}],
          integration="other")


def shipments_count(sessions: Any) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(Shipment)) or 0)


def test_create_shipment_by_number_and_read_it_back(orders: None, sessions: Any, read: Any, clock: Any) -> None:
    with sessions.begin() as s:
        made = operations.create_shipment(s, integration="shop", order="1001", carrier="postnl",
                                          tracking_number="3STEST1", lines=[{"sku": "A-1", "quantity": 1}],
                                          now=clock.now)
    assert (made["action"], made["order_external_id"], made["order_number"]) == ("created", "5001", "#1001")

    (page,) = read("shipments")
    (record,) = page.records
    assert record["id"] == made["id"]
    assert (record["carrier"], record["tracking_number"], record["order_external_id"]) == ("postnl", "3STEST1", "5001")
    assert record["lines"] == [{"sku": "A-1", "quantity": 1, "external_id": "L1"}]
    assert read("shipments", integration="other") == []
    clock.advance()
    (again,) = read("shipments", cursor=page.cursor)  # written just before the last read: read once more
    assert [r["id"] for r in again.records] == [made["id"]]
    assert read("shipments", cursor=again.cursor) == []  # that read was long after it: not again


def test_the_same_tracking_number_is_the_same_shipment(orders: None, sessions: Any, clock: Any) -> None:
    for url in (None, "https://track.example/3S1"):
        with sessions.begin() as s:
            last = operations.create_shipment(s, integration="shop", order="5001", carrier="postnl",
                                              tracking_number="3S1", tracking_url=url, now=clock.now)
    assert last["action"] == "updated" and last["tracking_url"] == "https://track.example/3S1"
    assert last["lines"] is None  # every line
    assert shipments_count(sessions) == 1


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"order": "404"}, "unknown order '404' of integration 'shop'"),
    ({"order": "5001", "lines": [{"sku": "NOPE", "quantity": 1}]}, "no line with SKU 'NOPE'; its SKUs: A-1, B-2"),
    ({"order": "5001", "lines": [{"sku": "A-1", "quantity": 3}]}, "cannot ship 3 of SKU 'A-1'"),
    ({"order": "5001", "lines": [{"sku": "A-1", "quantity": 0}]}, "quantity 0 is below 1"),
    ({"order": "5001", "tracking_number": ""}, "tracking_number is missing"),
    ({"order": "5001", "tracking_number": "   "}, "tracking_number is missing"),
    ({"order": "5001", "carrier": " "}, "carrier is missing"),
    ({"order": "#1001", "integration": None}, "ambiguous; it matches orders of other (7001), shop (5001)"),
])
def test_bad_shipments_store_nothing(orders: None, sessions: Any, clock: Any, kwargs: dict[str, Any],
                                     message: str) -> None:
    args = {"integration": "shop", "carrier": "postnl", "tracking_number": "T", **kwargs}
    with pytest.raises(RecordError) as err, sessions.begin() as s:
        operations.create_shipment(s, now=clock.now, **args)
    assert message in str(err.value)
    assert shipments_count(sessions) == 0


def test_shipments_written_by_a_feed(orders: None, write: Any, sessions: Any) -> None:
    records = [{"order_external_id": "5001", "carrier": "dhl", "tracking_number": "JD1",
                "lines": [{"sku": "B-2", "quantity": 1}]},
               {"order_external_id": "9999", "carrier": "dhl", "tracking_number": "JD2"},
               {"order_external_id": "5001", "carrier": "dhl", "tracking_number": "JD1",
                "lines": [{"sku": "B-2", "quantity": 1}]}]
    out = write("shipments", records)

    assert [o.action for o in out] == ["created", "error", "unchanged"]
    assert out[0].key == out[2].key
    assert out[1].error.severity == Severity.RETRY  # type: ignore[union-attr] - the order may come later
    assert shipments_count(sessions) == 1


def test_shipments_written_in_a_runs_core_transaction_commit_and_roll_back_with_it(
        orders: None, hub: Any, sessions: Any) -> None:
    # The runner lends a Core connection; shipments, written with ORM objects, go into its transaction.
    record = {"order_external_id": "5001", "carrier": "dhl", "tracking_number": "JD9"}
    transactions = Transactions(sessions.db)
    with pytest.raises(RuntimeError), transactions.begin() as conn:
        (out,) = hub.write("shipments", [record], ctx=RunContext(integration="shop", session=conn))
        assert out.action == "created"
        assert conn.scalar(select(func.count()).select_from(Shipment.__table__)) == 1  # in the transaction
        raise RuntimeError("the page failed")
    assert shipments_count(sessions) == 0  # rolled back with the page
    with transactions.begin() as conn:
        (out,) = hub.write("shipments", [record], ctx=RunContext(integration="shop", session=conn))
    assert out.action == "created" and shipments_count(sessions) == 1


def test_suppliers_and_product_suppliers(write: Any, hub: Any) -> None:
    out = write("suppliers", [{"external_id": "S1", "name": "Acme", "active": "yes"}, {"external_id": "S2"}])
    assert [o.action for o in out] == ["created", "created"]
    assert [o.action for o in write("suppliers", [{"external_id": "S1", "name": "Acme", "active": True}])] == [
        "unchanged"]
    write("product_suppliers", [{"external_id": "PS1", "sku": "A-1", "supplier_external_id": "S1",
                                 "supplier_reference": "AC-77", "price": 3.5}])
    write("suppliers", [{"external_id": "S1", "name": "Acme (shop 2)"}], integration="other")

    ctx = RunContext(integration="shop")
    suppliers = list(hub.fetch("suppliers", ["S1", "S2"], ctx=ctx))
    assert [(r["external_id"], r["name"], r["active"]) for r in suppliers] == [("S1", "Acme", True),
                                                                                ("S2", None, True)]
    (link,) = hub.fetch("product_suppliers", ["PS1"], ctx=ctx)
    assert (link["sku"], link["supplier_reference"], link["price"]) == ("A-1", "AC-77", "3.50")
