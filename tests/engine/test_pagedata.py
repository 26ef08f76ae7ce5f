"""engine.pagedata: a prepared page crosses from the read-ahead process exactly as it was sent."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from engine.pagedata import Item, Prepared, decode_page, encode_page


def page(value: Any) -> Prepared:
    a, b = Item("1", "Shirt", [{"sku": "A-1", "price": value, "tags": ["x", None], "ok": True}]), Item("2", None)
    return Prepared(counts={"read": 2, "info": 1}, events=[{"kind": "info", "record": "2", "at": value}],
                    parks=[(b, "pending payment", "re-checked hourly")],
                    bells=[(a, "error", "no carrier", None, {"method": "Pigeon"}), (None, "error", "page", None, None)],
                    items=[a, b], keys=["1", "2"], seen=["9"])


@pytest.mark.parametrize(("value", "tag"), [
    ("19.99", b"M"), (19.5, b"M"), (2**70, b"M"),  # plain data goes by marshal
    (Decimal("19.99"), b"P"), (datetime(2026, 1, 2, tzinfo=UTC), b"P"),  # the rest by pickle, unchanged
])
def test_a_page_arrives_as_it_was_sent(value: Any, tag: bytes) -> None:
    sent = page(value)
    data = encode_page({"since": "2026-01-01T00:00:00Z", "ids": [1, 2]}, 40, sent)

    cursor, total, got = decode_page(memoryview(data))

    assert data[:1] == tag
    assert (cursor, total, got) == ({"since": "2026-01-01T00:00:00Z", "ids": [1, 2]}, 40, sent)
    assert type(got.items[0].mapped[0]["price"]) is type(value)
    assert got.parks[0][0] is got.items[1] or got.parks[0][0] == got.items[1]


class Sku(str):
    """A str subclass a custom expression function might return."""


def test_a_str_subclass_is_not_flattened_to_str() -> None:
    sent = page(Sku("A-1"))
    data = encode_page(None, None, sent)

    assert data[:1] == b"P" and type(decode_page(data)[2].items[0].mapped[0]["price"]) is Sku
