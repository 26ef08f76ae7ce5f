"""The hub's products resource: upsert by SKU, write modes, fields, store links, read and fetch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select

from engine.connector import RunContext
from engine.errors import ConnectorError, RecordError, Severity
from plugins.connect.models import Product, ProductLink, Stock
from plugins.connect.values import PREPARED


def product(sku: str, **extra: Any) -> dict[str, Any]:
    return {"sku": sku, "name": f"Product {sku}", "barcode": "871000" + sku[-3:], "weight_grams": 250,
            "price": "19.90", "status": "active", **extra}


def stored(sessions: Any, sku: str) -> Product:
    with sessions() as s:
        return s.scalars(select(Product).where(Product.sku == sku)).one()


def test_new_changed_and_same_products(write: Any, sessions: Any, clock: Any) -> None:
    first = write("products", [product("A-001"), product("A-002")])
    assert [(o.key, o.action) for o in first] == [("A-001", "created"), ("A-002", "created")]
    created_at = stored(sessions, "A-001").created_at

    clock.advance()
    again = write("products", [product("A-001"), product("A-002", price=24.5)])

    assert [o.action for o in again] == ["unchanged", "updated"]
    a1, a2 = stored(sessions, "A-001"), stored(sessions, "A-002")
    assert a1.updated_at == created_at  # unchanged rows are not rewritten
    assert (a2.price, a2.updated_at, a2.created_at) == ("24.50", clock.now, created_at)


def test_values_are_stored_as_given(write: Any, sessions: Any) -> None:
    write("products", [product("B-1", weight_grams=1.5, attributes={"color": "red"}, price=7)])
    row = stored(sessions, "B-1")
    assert (row.name, row.barcode, row.weight_grams, row.price, row.status, row.attributes) == (
        "Product B-1", "871000B-1", 1.5, "7.00", "active", {"color": "red"})



@pytest.mark.parametrize(("grams", "ext", "weight", "text"), [
    (250, 44120000001, 250.0, "44120000001"),  # Shopify: grams and variant ids are whole numbers
    (2**53 + 1, 2**53 + 1, float(2**53 + 1), str(2**53 + 1)),  # past exact floats: the general coercion
    (-3, -7, -3.0, "-7"),
])
def test_whole_numbers_are_stored_as_a_weight_and_an_id(write: Any, sessions: Any, grams: int, ext: int,
                                                        weight: float, text: str) -> None:
    out = write("products", [product("B-2", weight_grams=grams, external_id=ext, remote={"variant_id": ext})])
    assert [o.action for o in out] == ["created"]
    assert stored(sessions, "B-2").weight_grams == weight
    with sessions() as s:
        assert s.scalars(select(ProductLink.external_id).where(ProductLink.sku == "B-2")).one() == text
    again = write("products", [product("B-2", weight_grams=grams, external_id=ext, remote={"variant_id": ext})])
    assert [o.action for o in again] == ["unchanged"]


def test_a_flag_is_no_weight(write: Any) -> None:
    out = write("products", [product("B-3", weight_grams=True)])
    assert [o.action for o in out] == ["error"]
    assert "weight_grams" in str(out[0].error)

def test_create_mode_never_updates(write: Any, sessions: Any) -> None:
    write("products", [product("C-1")])
    out = write("products", [product("C-1", name="Renamed"), product("C-2")], write_mode="create")

    assert [o.action for o in out] == ["unchanged", "created"]
    assert stored(sessions, "C-1").name == "Product C-1"


def test_update_mode_never_creates(write: Any, sessions: Any) -> None:
    write("products", [product("D-1")])
    out = write("products", [product("D-1", name="Renamed"), product("D-404")], write_mode="update")

    assert [o.action for o in out] == ["updated", "error"]
    error = out[1].error
    assert isinstance(error, RecordError)
    assert error.severity == Severity.INFO
    assert "D-404" in str(error) and "not in the hub yet" in str(error)
    with sessions() as s:
        assert s.scalar(select(Product.id).where(Product.sku == "D-404")) is None


def test_fields_limit_what_changes(write: Any, sessions: Any) -> None:
    write("products", [product("E-1")])
    out = write("products", [product("E-1", name="New name", price="30.00")], fields=("price",))

    assert [o.action for o in out] == ["updated"]
    row = stored(sessions, "E-1")
    assert (row.name, row.price) == ("Product E-1", "30.00")
    same = write("products", [product("E-1", name="Other name", price="30.00")], fields=("price",))
    assert [o.action for o in same] == ["unchanged"]


def test_unknown_fields_fail_every_record_with_the_valid_names(write: Any) -> None:
    out = write("products", [product("F-1")], fields=("colour",))
    assert out[0].action == "error"
    assert "'colour'" in str(out[0].error) and "price" in str(out[0].error)


def test_absent_fields_are_left_alone(write: Any, sessions: Any) -> None:
    write("products", [product("G-1", attributes={"a": 1})])
    out = write("products", [{"sku": "G-1", "price": "1.00"}])

    assert [o.action for o in out] == ["updated"]
    row = stored(sessions, "G-1")
    assert (row.name, row.attributes, row.price) == ("Product G-1", {"a": 1}, "1.00")


def test_bad_records_fail_alone(write: Any, sessions: Any) -> None:
    out = write("products", [product("H-1"), {"name": "no sku"}, product("H-3", price="cheap"),
                             product("H-4", attributes="not an object"), product("H-5")])

    assert [o.action for o in out] == ["created", "error", "error", "error", "created"]
    assert "sku is missing" in str(out[1].error)
    assert "'cheap'" in str(out[2].error)
    assert out[2].error.record == "H-3"  # type: ignore[union-attr]
    assert "attributes" in str(out[3].error)
    with sessions() as s:
        assert sorted(s.scalars(select(Product.sku))) == ["H-1", "H-5"]


def test_a_sku_twice_in_one_batch_is_two_writes(write: Any, sessions: Any) -> None:
    out = write("products", [product("I-1"), product("I-1", name="Second"), product("I-1", name="Second")])
    assert [o.action for o in out] == ["created", "updated", "unchanged"]
    assert stored(sessions, "I-1").name == "Second"


def test_links_are_kept_per_integration(write: Any, sessions: Any) -> None:
    remote = {"product_id": 10, "variant_id": 11, "inventory_item_id": 12}
    write("products", [product("J-1", external_id="11", remote=remote)], integration="shop")
    out = write("products", [product("J-1", external_id="v-9", remote={"id": "v-9"})], integration="other",
                write_mode="create")
    assert [o.action for o in out] == ["unchanged"]  # the product exists; the new store is linked anyway

    with sessions() as s:
        links = {(ln.integration, ln.external_id): ln.data for ln in s.scalars(select(ProductLink))}
    assert links == {("shop", "11"): remote, ("other", "v-9"): {"id": "v-9"}}

    moved = write("products", [product("J-1", external_id="11", remote={**remote, "variant_id": 13})])
    assert [o.action for o in moved] == ["updated"]  # only the link changed
    same = write("products", [product("J-1", external_id="11", remote={**remote, "variant_id": 13})])
    assert [o.action for o in same] == ["unchanged"]


def test_a_new_link_moves_the_skus_stock_so_stock_exports_see_it(write: Any, sessions: Any, clock: Any) -> None:
    write("products", [product("K-1")])
    write("stock", [{"sku": "K-1", "quantity": 4}])
    clock.advance()
    write("products", [product("K-1", external_id="k1", remote={"inventory_item_id": 5})])
    with sessions() as s:
        assert s.scalars(select(Stock.updated_at).where(Stock.sku == "K-1")).one() == clock.now


@contextmanager
def statements(sessions: Any) -> Iterator[list[str]]:
    """Every SQL statement sent to the database meanwhile, in order."""
    sent: list[str] = []
    db = sessions.db

    def spy(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(db, "before_cursor_execute", spy)
    try:
        yield sent
    finally:
        event.remove(db, "before_cursor_execute", spy)


def test_links_to_a_hub_without_stock_send_no_stock_update(write: Any, sessions: Any) -> None:
    with statements(sessions) as sent:
        write("products", [product("M-1", external_id="m1"), product("M-2", external_id="m2")])
        assert not [q for q in sent if q.startswith("UPDATE hub_stock")]  # no stock row to move
        write("stock", [{"sku": "M-1", "quantity": 4}])
        sent.clear()
        write("products", [product("M-1", external_id="m1", remote={"inventory_item_id": 5})])
        assert [q for q in sent if q.startswith("UPDATE hub_stock")]  # now there is one


def test_links_are_looked_up_only_for_skus_already_stored(write: Any, sessions: Any) -> None:
    links = "WHERE hub_product_links.sku"  # the per-page lookup of links by SKU
    with statements(sessions) as sent:
        write("products", [product("Q-1", external_id="q1"), product("Q-2", external_id="q2")])
        assert not [q for q in sent if links in q]  # new SKUs: no link can exist yet
        sent.clear()
        write("products", [product("Q-1", external_id="q1"), product("Q-3", external_id="q3")])
        assert [q for q in sent if links in q]  # Q-1 is stored: its link is looked up
    assert [o.action for o in write("products", [product("Q-2", external_id="q9")])] == ["error"]  # and claimed


def skus(pages: list[Any]) -> list[str]:
    return [r["sku"] for p in pages for r in p.records]


def test_read_pages_by_id_then_only_what_changed_since_the_read_began(write: Any, read: Any, clock: Any) -> None:
    written_at = clock.now
    write("products", [product(f"L-{i:03}", external_id=f"x{i}") for i in range(5)])
    started = clock.advance()  # the read begins after the writes
    pages = read("products", page_size=2)

    assert [len(p.records) for p in pages] == [2, 2, 1]
    assert skus(pages) == [f"L-{i:03}" for i in range(5)]
    first = pages[0].records[0]
    assert first["external_id"] == "x0" and first["price"] == "19.90"
    assert first["updated_at"] == written_at.isoformat()
    assert pages[-1].cursor == {"since": started.isoformat(), "after": 0}

    clock.advance()
    (nothing,) = read("products", cursor=pages[-1].cursor)  # nothing changed: the cursor still moves on
    assert nothing.records == [] and nothing.cursor == {"since": clock.now.isoformat(), "after": 0}
    clock.advance()
    write("products", [product("L-002", name="Changed"), product("L-009")])
    clock.advance()
    assert skus(read("products", cursor=nothing.cursor)) == ["L-002", "L-009"]


def test_a_read_resumes_after_its_last_page_and_a_row_changed_behind_it_comes_next_time(
        write: Any, read: Any, hub: Any, clock: Any) -> None:
    write("products", [product(f"R-{i}") for i in range(6)])
    clock.advance()
    started = clock.now
    pages = hub.read("products", cursor=None, ctx=RunContext(integration="shop", params={"page_size": 2}))
    first = next(pages)
    assert first.cursor["until"] == started.isoformat() and first.cursor["since"] is None
    clock.advance()
    write("products", [product("R-0", name="changed behind the read")])  # id 1: already passed

    resumed = read("products", cursor=first.cursor, page_size=2)  # a killed run starting again
    assert skus(resumed) == ["R-2", "R-3", "R-4", "R-5"]
    assert resumed[-1].cursor == {"since": started.isoformat(), "after": 0}
    clock.advance()
    assert skus(read("products", cursor=resumed[-1].cursor)) == ["R-0"]


def test_a_time_ordered_cursor_of_an_earlier_version_is_read_as_since(write: Any, read: Any, clock: Any) -> None:
    write("products", [product("T-1")])
    before = clock.now
    clock.advance()
    write("products", [product("T-2")])
    clock.advance()
    assert skus(read("products", cursor={"updated_at": clock.now.isoformat(), "id": 1})) == []
    assert skus(read("products", cursor={"updated_at": before.isoformat(), "id": 99})) == ["T-1", "T-2"]


def test_a_cursor_that_is_not_one_is_refused_with_what_to_do(read: Any) -> None:
    with pytest.raises(ConnectorError, match=r"hub cursor .* is not of the form .*reset the feed's cursor"):
        read("products", cursor={"page": 3})
    with pytest.raises(ConnectorError, match=r"hub cursor: since .*reset the feed's cursor"):
        read("products", cursor={"since": "yesterday", "after": 0})


def test_read_shows_only_this_integrations_link(write: Any, read: Any) -> None:
    write("products", [product("M-1", external_id="s1")], integration="shop")
    write("products", [product("M-1", external_id="o1")], integration="other")
    (page,) = read("products", integration="other")
    assert page.records[0]["external_id"] == "o1"


def test_a_page_is_read_without_holding_the_database(write: Any, hub: Any, sessions: Any) -> None:
    write("products", [product(f"N-{i}") for i in range(4)])
    pages = hub.read("products", cursor=None, ctx=RunContext(integration="shop", params={"page_size": 2}))
    first = next(pages)
    write("products", [product("N-0", name="written between two pages")])  # the runner's own transaction
    rest = list(pages)
    assert len(first.records) == 2 and sum(len(p.records) for p in rest) >= 2


def test_fetch_by_sku(write: Any, hub: Any) -> None:
    write("products", [product("O-1", external_id="o1"), product("O-2")])
    found = list(hub.fetch("products", ["O-2", "O-1", "missing"], ctx=RunContext(integration="shop")))
    assert [(r["sku"], r["external_id"]) for r in found] == [("O-1", "o1"), ("O-2", None)]


def test_prepared_records_write_what_the_records_would(write: Any, hub: Any, sessions: Any, clock: Any) -> None:
    remote = {"product_id": 1, "variant_id": 2}
    records = [product("P-1", weight_grams=300, external_id=2, remote=remote), {"name": "no sku"},
               product("P-2", price="cheap"), product("P-3", attributes={"a": [1, 2.5]}), product("P-1", name="Twice")]
    ready = hub.prepare_write("products", records)
    assert len(ready) == len(records)
    assert ready[1] is records[1] and ready[2] is records[2]  # refused: left for the write to refuse, with its error
    assert set(ready[0]) == {"sku", PREPARED} and ready[0]["sku"] == "P-1"

    out = write("products", ready)
    assert [(o.key, o.action) for o in out] == [("P-1", "created"), ("", "error"), ("P-2", "error"),
                                                ("P-3", "created"), ("P-1", "updated")]
    assert "sku is missing" in str(out[1].error) and "'cheap'" in str(out[2].error)
    row = stored(sessions, "P-1")
    assert (row.name, row.weight_grams, row.attributes) == ("Twice", 250.0, None)  # the second P-1 won
    assert stored(sessions, "P-3").attributes == {"a": [1, 2.5]}
    with sessions() as s:
        assert s.scalars(select(ProductLink.data).where(ProductLink.sku == "P-1")).one() == remote

    clock.advance()
    again = write("products", [product("P-1", name="Twice", external_id=2, remote=remote)])
    assert [o.action for o in again] == ["unchanged"]  # raw and prepared records are the same values


def test_only_products_are_prepared(hub: Any) -> None:
    orders = [{"external_id": "1001", "status": "open"}]
    assert hub.prepare_write("orders", orders) == orders
