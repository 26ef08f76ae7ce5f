"""A hub product's column values as a record carries them: checked and coerced, without the database.

Both halves of a products write use this: the write itself (:mod:`plugins.connect.catalog`),
and :meth:`HubConnector.prepare_write`, which runs it where the page is prepared (the
read-ahead process, when there is one), so the writer only writes. Nothing here loads
SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.errors import RecordError
from engine.store.jsontext import plain
from plugins.connect import coerce

KEY = 255  # length of natural keys (sku, external ids) in the hub's tables
PREPARED = "\x00prepared"  # a prepared record's (values, link): no mapped field can be called so (hub fields)
_DECIMAL = coerce.DECIMAL.match  # prices already in canonical form pass as they are
_plain = plain  # store ids and attributes made of plain JSON data pass as they are
_MONEY, _NUL, _INF = coerce.MONEY_LENGTH, coerce.NUL, float("inf")
_EXACT = 2**53  # whole numbers up to this are exact as floats; their text is short


def product_values(record: dict[str, Any]) -> dict[str, Any]:
    """The product columns a record carries, coerced (absent fields are left out: not touched)."""
    # Hot path (every product of every import): plain values skip the coercion calls.
    values: dict[str, Any] = {}
    if "name" in record:
        v = record["name"]
        values["name"] = v if (type(v) is str and _NUL not in v) or v is None else coerce.text(v, "name")
    if "barcode" in record:
        v = record["barcode"]
        values["barcode"] = (v if v is None or (type(v) is str and len(v) <= 100 and _NUL not in v)
                             else coerce.text(v, "barcode", 100))
    if "weight_grams" in record:
        v = record["weight_grams"]
        if (type(v) is float and -_INF < v < _INF) or v is None:
            values["weight_grams"] = v
        elif type(v) is int and -_EXACT <= v <= _EXACT:  # Shopify's grams: a whole number, exact as a float
            values["weight_grams"] = float(v)
        else:
            values["weight_grams"] = coerce.number(v, "weight_grams")
    if "price" in record:
        v = record["price"]
        values["price"] = v if type(v) is str and len(v) <= _MONEY and _DECIMAL(v) else coerce.decimal_text(v, "price")
    if "status" in record:
        v = record["status"]
        values["status"] = (v if v is None or (type(v) is str and len(v) <= 40 and _NUL not in v)
                            else coerce.text(v, "status", 40))
    if "attributes" in record:
        v = record["attributes"]
        values["attributes"] = v if v is None or (type(v) is dict and _plain(v)) else coerce.obj(v, "attributes")
    return values


def link_values(record: dict[str, Any]) -> dict[str, Any] | None:
    """The store link a record carries (``external_id`` and/or ``remote``), or None."""
    has_id, has_remote = "external_id" in record, "remote" in record
    if not has_id and not has_remote:
        return None
    values: dict[str, Any] = {}
    if has_id:
        v = record["external_id"]
        if type(v) is str and len(v) <= 255 and _NUL not in v:
            values["external_id"] = v
        elif type(v) is int and -_EXACT <= v <= _EXACT:  # a store's numeric id (Shopify's variant id)
            values["external_id"] = str(v)
        else:
            values["external_id"] = coerce.text(v, "external_id", 255)
    if has_remote:
        v = record["remote"]
        values["data"] = v if type(v) is dict and _plain(v) else coerce.obj(v, "remote")
    if values.get("external_id") is None and values.get("data") is None:
        return None
    return values


def product_columns(record: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    """A record's SKU, product columns and store link; a prepared record's as prepared.

    Raises:
        RecordError: The SKU is missing or not a key, or a value cannot be stored.
    """
    ready = record.get(PREPARED)
    if ready is not None:
        return record["sku"], ready[0], ready[1]
    sku = record.get("sku")
    if type(sku) is not str or not sku or len(sku) > KEY or _NUL in sku:
        sku = coerce.key(sku, "sku")
    return sku, product_values(record), link_values(record)


def prepare(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records as :func:`product_columns` takes them ready: each becomes its SKU and values; one it refuses stays as it
    was, for the write to refuse it with its error."""
    out: list[dict[str, Any]] = []
    for record in records:
        try:
            sku, values, link = product_columns(record)
        except RecordError:
            out.append(record)
            continue
        out.append({"sku": sku, PREPARED: (values, link)})
    return out
