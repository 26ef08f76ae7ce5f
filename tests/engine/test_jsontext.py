"""JSON columns are written as the same document json.dumps writes, and fail where it fails."""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.store.jsontext import dumps


class Color(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Text(str):
    pass


SAME = [
    {"product_id": 8_000_000_000_000, "variant_id": 45_000_000_000_001, "inventory_item_id": None},
    {"a": [1, 2.5, -0.0, 1e16, 1e-7, True, False, None, "x", {"b": ["é", "\u2603", "\n\"\\"]}]},
    [{"deep": [[[{"k": (1, 2)}]]]}], "text", 7, 2.25, True, None, {}, [],
    {"big": 2 ** 64, "small": -(2 ** 63) - 1},  # beyond orjson's range: json.dumps writes them
    {1: "int key", 2.5: "float key", None: "none key"},  # non-string keys: json.dumps converts them
    {"nan": float("nan"), "inf": float("inf")},  # json.dumps writes NaN / Infinity
    {"level": Level.HIGH, "text": Text("sub")},  # subclasses of int and str
    {"lone": "\ud800"},  # a lone surrogate
]


@pytest.mark.parametrize("value", SAME, ids=range(len(SAME)))
def test_the_document_is_the_one_json_dumps_writes(value: Any) -> None:
    text = dumps(value)
    assert isinstance(text, str)
    assert repr(json.loads(text)) == repr(json.loads(json.dumps(value)))


@pytest.mark.parametrize("value", [{"c": Color.RED}, {"u": uuid.UUID(int=1)}, {"t": datetime(2024, 1, 1, tzinfo=UTC)},
                                   {"s": {1, 2}}, object()])
def test_values_json_dumps_refuses_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        dumps(value)
