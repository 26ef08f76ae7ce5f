"""Keyed statements run through the driver return and change exactly what Core statements do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from plugins.connect.keyed import CHUNK, select_by_keys, update_by_keys
from plugins.connect.models import Product, ProductLink, Stock

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2024, 6, 2, 8, 30, 15, 250000, tzinfo=UTC)
N = 1_100  # more than two chunks


@pytest.fixture
def filled(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    products = [{"sku": f"SKU-{i:05d}", "name": None if i % 7 == 0 else f"Product {i}",
                 "barcode": f"{i:013d}", "weight_grams": None if i % 5 == 0 else i / 3,
                 "price": f"{i}.99", "status": "active",
                 "attributes": None if i % 3 == 0 else {"size": ["S", "M"], "n": i, "deep": {"x": None}},
                 "created_at": T0, "updated_at": T0} for i in range(N)]
    links = [{"integration": "shop" if i % 2 else "other", "sku": f"SKU-{i:05d}", "external_id": str(9000 + i),
              "data": {"variant_id": 9000 + i}, "updated_at": T0} for i in range(N)]
    stock = [{"sku": f"SKU-{i:05d}", "warehouse": "main", "quantity": i, "reserved": 0, "updated_at": T0}
             for i in range(N)]
    with sessions.begin() as s:
        s.execute(insert(Product), products)
        s.execute(insert(ProductLink), links)
        s.execute(insert(Stock), stock)
    return sessions


COLUMNS = ("id", "sku", "name", "barcode", "weight_grams", "price", "status", "attributes", "created_at")


@pytest.mark.parametrize("count", [1, 3, 16, 17, CHUNK, CHUNK + 1, N + 40])
def test_select_by_keys_returns_what_core_returns(filled: sessionmaker[Session], count: int) -> None:
    keys = [f"SKU-{i:05d}" for i in range(0, count * 3, 3)]  # some beyond the table: not found
    keys += keys[:5]  # duplicates are harmless
    table = Product.__table__
    with filled() as s:
        got = select_by_keys(s, table, COLUMNS, "sku", keys)
        want = s.execute(select(*(table.c[c] for c in COLUMNS)).where(table.c.sku.in_(keys))).all()
    assert sorted(got) == sorted(tuple(r) for r in want)
    assert len(got) == len(set(keys) & {f"SKU-{i:05d}" for i in range(N)})


def test_select_by_keys_applies_the_conditions(filled: sessionmaker[Session]) -> None:
    keys = [f"SKU-{i:05d}" for i in range(40)]
    table = ProductLink.__table__
    with filled() as s:
        got = select_by_keys(s, table, ("sku", "external_id", "data"), "sku", keys, {"integration": "shop"})
    assert sorted(got) == [(f"SKU-{i:05d}", str(9000 + i), {"variant_id": 9000 + i}) for i in range(1, 40, 2)]


def test_update_by_keys_changes_exactly_those_rows(filled: sessionmaker[Session]) -> None:
    keys = [f"SKU-{i:05d}" for i in range(0, N, 2)] + ["SKU-missing"]
    table = Stock.__table__
    with filled.begin() as s:
        update_by_keys(s, table, "sku", keys, {"updated_at": T1})
    with filled() as s:
        rows = dict(s.execute(select(table.c.sku, table.c.updated_at)).all())
    assert {sku for sku, at in rows.items() if at == T1} == set(keys[:-1])
    assert {sku for sku, at in rows.items() if at == T0} == {f"SKU-{i:05d}" for i in range(1, N, 2)}
