"""The hub's stock resource: import levels, read linked SKUs for export, fetch for checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from engine.connector import RunContext
from plugins.connect.models import Stock


def levels(sessions: Any) -> list[tuple[str, str, int, int]]:
    with sessions() as s:
        query = select(Stock.sku, Stock.warehouse, Stock.quantity, Stock.reserved).order_by(Stock.sku, Stock.warehouse)
        return [tuple(r) for r in s.execute(query)]  # type: ignore[misc]


def link(write: Any, *skus: str, integration: str = "shop") -> None:
    write("products", [{"sku": s, "name": s, "external_id": f"v-{s}", "remote": {"inventory_item_id": f"i-{s}"}}
                       for s in skus], integration=integration)


def test_import_sets_levels_in_the_default_or_given_warehouse(write: Any, sessions: Any) -> None:
    out = write("stock", [{"sku": "A", "quantity": 5}, {"sku": "A", "warehouse": "north", "quantity": "7"},
                          {"sku": "B", "quantity": 0.0}])
    assert [o.action for o in out] == ["created", "created", "created"]
    assert levels(sessions) == [("A", "main", 5, 0), ("A", "north", 7, 0), ("B", "main", 0, 0)]

    again = write("stock", [{"sku": "A", "quantity": 5}, {"sku": "B", "quantity": 2}])
    assert [o.action for o in again] == ["unchanged", "updated"]
    assert levels(sessions)[2] == ("B", "main", 2, 0)


def test_the_feed_param_picks_the_warehouse(write: Any, sessions: Any) -> None:
    write("stock", [{"sku": "A", "quantity": 3}], params={"warehouse": "south"})
    assert levels(sessions) == [("A", "south", 3, 0)]


def test_bad_levels_fail_alone(write: Any, sessions: Any) -> None:
    out = write("stock", [{"sku": "A", "quantity": -1}, {"sku": "B"}, {"sku": "C", "quantity": 1.5},
                          {"sku": "D", "quantity": 4}])
    assert [o.action for o in out] == ["error", "error", "error", "created"]
    assert "quantity -1 is below 0" in str(out[0].error)
    assert "quantity is missing" in str(out[1].error)
    assert levels(sessions) == [("D", "main", 4, 0)]


def test_read_yields_linked_skus_with_their_remote_ids(write: Any, read: Any, clock: Any) -> None:
    link(write, "A", "B")
    link(write, "C", integration="other")
    write("stock", [{"sku": s, "quantity": q} for s, q in (("A", 5), ("B", 0), ("C", 9), ("D", 1))])
    write("stock", [{"sku": "A", "quantity": 2}], params={"warehouse": "north"})
    clock.advance()
    write("stock", [{"sku": "A", "reserved": 2, "quantity": 5}])

    records = [r for p in read("stock") for r in p.records]
    assert [(r["sku"], r["quantity"], r["reserved"], r["available"]) for r in records] == [
        ("B", 0, 0, 0), ("A", 5, 2, 3)]  # ordered by change: A's reservation came last
    assert records[1]["remote"] == {"inventory_item_id": "i-A"} and records[1]["external_id"] == "v-A"
    assert records[1]["warehouse"] == "main"
    north = [r for p in read("stock", warehouse="north") for r in p.records]
    assert [(r["sku"], r["quantity"]) for r in north] == [("A", 2)]


def test_later_reads_see_only_changed_stock(write: Any, read: Any, clock: Any) -> None:
    link(write, "A", "B", "C")
    write("stock", [{"sku": s, "quantity": 1} for s in ("A", "B", "C")])
    pages = read("stock", page_size=2)
    assert [len(p.records) for p in pages] == [2, 1]
    clock.advance()
    looked_back = read("stock", cursor=pages[-1].cursor)  # written just before the last read: read once more
    assert [r["sku"] for p in looked_back for r in p.records] == ["A", "B", "C"]
    cursor = looked_back[-1].cursor
    assert read("stock", cursor=cursor) == []

    clock.advance()
    write("stock", [{"sku": "B", "quantity": 8}, {"sku": "C", "quantity": 1}])
    clock.advance()
    pages = read("stock", cursor=cursor)
    assert [(r["sku"], r["quantity"]) for p in pages for r in p.records] == [("B", 8)]

    clock.advance()
    write("stock", [{"sku": "D", "quantity": 3}])
    link(write, "D")  # stock known before the link: the link makes it exportable
    link(write, "A")  # the same link again: nothing to export
    clock.advance()
    assert [r["sku"] for p in read("stock", cursor=pages[-1].cursor) for r in p.records] == ["D"]


def test_fetch_returns_the_same_shape_for_given_skus(write: Any, hub: Any) -> None:
    link(write, "A")
    write("stock", [{"sku": "A", "quantity": 4}, {"sku": "Z", "quantity": 1}])
    found = list(hub.fetch("stock", ["A", "Z", "missing"], ctx=RunContext(integration="shop")))
    assert [(r["sku"], r["available"], r["external_id"]) for r in found] == [("A", 4, "v-A"), ("Z", 1, None)]
