"""The hub's orders resource: lines, write modes, fields, scoping by integration, read and fetch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from engine.connector import RunContext
from engine.errors import Severity
from plugins.connect.models import Order, OrderLine


def order(external_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_id": external_id, "number": f"#{external_id}", "status": "paid", "payment_status": "paid",
        "currency": "EUR", "total": "39.80", "email": "ann@example.com",
        "customer": {"name": "Ann"}, "shipping_address": {"city": "Utrecht"}, "billing_address": None,
        "carrier": "postnl", "ordered_at": "2024-04-30T09:15:00Z",
        "lines": [{"sku": "A-1", "name": "Mug", "quantity": 2, "price": "19.90", "external_id": f"{external_id}-1"}],
        **extra,
    }


def lines_of(sessions: Any, external_id: str, integration: str = "shop") -> list[tuple[Any, ...]]:
    with sessions() as s:
        query = (select(OrderLine.line_no, OrderLine.sku, OrderLine.quantity, OrderLine.price)
                 .join(Order).where(Order.external_id == external_id, Order.integration == integration)
                 .order_by(OrderLine.line_no))
        return [tuple(r) for r in s.execute(query)]


def test_orders_are_created_with_their_lines(write: Any, sessions: Any) -> None:
    out = write("orders", [order("1001"), order("1002")])

    assert [(o.key, o.action) for o in out] == [("1001", "created"), ("1002", "created")]
    assert lines_of(sessions, "1001") == [(1, "A-1", 2, "19.90")]
    with sessions() as s:
        row = s.scalars(select(Order).where(Order.external_id == "1001")).one()
    assert (row.number, row.status, row.total, row.shipping_address, row.ordered_at.isoformat()) == (
        "#1001", "paid", "39.80", {"city": "Utrecht"}, "2024-04-30T09:15:00+00:00")


def test_same_order_is_unchanged_and_changed_lines_are_replaced(write: Any, sessions: Any) -> None:
    write("orders", [order("1001")])
    assert [o.action for o in write("orders", [order("1001")])] == ["unchanged"]

    two_lines = [{"sku": "A-1", "quantity": 1, "price": "19.90"}, {"sku": "B-2", "quantity": 3, "price": 5}]
    out = write("orders", [order("1001", lines=two_lines)])
    assert [o.action for o in out] == ["updated"]
    assert lines_of(sessions, "1001") == [(1, "A-1", 1, "19.90"), (2, "B-2", 3, "5.00")]


def test_status_only_update_touches_nothing_else(write: Any, sessions: Any) -> None:
    write("orders", [order("1001")])
    changed = order("1001", status="cancelled", shipping_address={"city": "Elsewhere"},
                    lines=[{"sku": "Z", "quantity": 9}])
    out = write("orders", [changed, order("9999", status="cancelled")], write_mode="update", fields=("status",))

    assert [o.action for o in out] == ["updated", "error"]
    assert out[1].error.severity == Severity.INFO  # type: ignore[union-attr]
    with sessions() as s:
        rows = s.scalars(select(Order)).all()
    assert [(r.external_id, r.status, r.shipping_address) for r in rows] == [
        ("1001", "cancelled", {"city": "Utrecht"})]
    assert lines_of(sessions, "1001") == [(1, "A-1", 2, "19.90")]


def test_create_mode_leaves_existing_orders_alone(write: Any, sessions: Any) -> None:
    write("orders", [order("1001")])
    out = write("orders", [order("1001", status="closed", lines=[])], write_mode="create")
    assert [o.action for o in out] == ["unchanged"]
    assert lines_of(sessions, "1001") == [(1, "A-1", 2, "19.90")]


def test_orders_are_scoped_by_integration(write: Any, sessions: Any, read: Any) -> None:
    write("orders", [order("1001")], integration="shop")
    out = write("orders", [order("1001", status="open")], integration="other")

    assert [o.action for o in out] == ["created"]
    with sessions() as s:
        assert sorted(s.execute(select(Order.integration, Order.status))) == [
            ("other", "open"), ("shop", "paid")]
    (page,) = read("orders", integration="other")
    assert [(r["integration"], r["status"]) for r in page.records] == [("other", "open")]


def test_bad_orders_fail_alone(write: Any) -> None:
    out = write("orders", [order("1"), order("2", ordered_at="yesterday"), order("3", lines=[{"sku": "A"}]),
                           {"number": "#4"}, order("5", total="a lot")])
    assert [o.action for o in out] == ["created", "error", "error", "error", "error"]
    assert "ordered_at 'yesterday'" in str(out[1].error)
    assert "lines[0].quantity is missing" in str(out[2].error)
    assert "external_id is missing" in str(out[3].error)
    assert out[4].error.record == "5"  # type: ignore[union-attr]


def test_read_yields_orders_with_lines_and_resumes(write: Any, read: Any, clock: Any) -> None:
    write("orders", [order(str(n)) for n in range(1, 4)])
    clock.advance()  # the feed reads an hour later
    pages = read("orders", page_size=2)
    records = [r for p in pages for r in p.records]

    assert [r["external_id"] for r in records] == ["1", "2", "3"]
    assert records[0]["lines"] == [{"line_no": 1, "sku": "A-1", "name": "Mug", "quantity": 2, "price": "19.90",
                                    "external_id": "1-1"}]
    assert records[0]["ordered_at"] == "2024-04-30T09:15:00+00:00"
    clock.advance()
    write("orders", [order("2", status="shipped")])
    later = read("orders", cursor=pages[-1].cursor)
    assert [(r["external_id"], r["status"]) for p in later for r in p.records] == [("2", "shipped")]

    # A transaction begun five minutes before that read commits only now: its row sits behind the cursor.
    read_at = clock.now
    clock.now = read_at - timedelta(minutes=5)
    write("orders", [order("3", status="shipped")])
    clock.now = read_at + timedelta(minutes=1)
    again = read("orders", cursor=later[-1].cursor)  # looks back (reading.LOOKBACK) from the last read
    assert [(r["external_id"], r["status"]) for p in again for r in p.records] == [("3", "shipped"), ("2", "shipped")]


def test_fetch_by_external_id_within_the_integration(write: Any, hub: Any) -> None:
    write("orders", [order("1001"), order("1002")])
    write("orders", [order("1003")], integration="other")
    found = list(hub.fetch("orders", ["1002", "1003"], ctx=RunContext(integration="shop")))
    assert [r["external_id"] for r in found] == ["1002"]


def test_values_no_json_column_can_hold_fail_their_record_alone(write: Any, hub: Any) -> None:
    # A connector handing over Python objects (a datetime, a set) or NaN in what the hub stores as JSON:
    # before, the whole page failed unnamed (SQLite) or with the SQL statement (PostgreSQL), on every run.
    from datetime import datetime
    from decimal import Decimal

    out = write("orders", [order("1", customer={"since": datetime(2024, 1, 1)}),
                           order("2", shipping_address={"tags": {"a", "b"}}),
                           order("3", customer={"score": float("nan")}),
                           order("4", total=Decimal("19.50"), lines=[{"sku": "A-1", "quantity": 1,
                                                                       "price": Decimal("9.75")}]),
                           order("5", customer={"notes": ["x" * 5000]}, total=["x" * 5000])])
    assert [o.action for o in out] == ["error", "error", "error", "created", "error"]
    assert "customer holds a value JSON cannot carry (Object of type datetime is not JSON serializable)" in str(
        out[0].error)
    assert "shipping_address holds a value JSON cannot carry (Object of type set" in str(out[1].error)
    assert "customer holds a value JSON cannot carry (Out of range float values" in str(out[2].error)
    assert len(str(out[4].error)) < 200, "a message quotes a bad value, it does not store it"
    [stored] = hub.fetch("orders", ["4"], ctx=RunContext(integration="shop"))
    assert stored["total"] == "19.50" and stored["lines"][0]["price"] == "9.75"  # Decimal money is money
