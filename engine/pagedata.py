"""What a page carries between :meth:`Pipeline.prepare` and :meth:`Pipeline.finish` (picklable: engine.readahead)."""

from __future__ import annotations

import marshal
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.connector import WriteOutcome
from engine.store.records import NotificationInfo


def digest(record: Mapping[str, Any]) -> bytes:
    """A stable 16-byte fingerprint of a mapped record (change detection)."""
    import hashlib

    return hashlib.blake2b(orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str), digest_size=16).digest()


@dataclass
class Item:
    """One source record on its way through a page."""

    key: str
    label: str | None
    mapped: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Prepared:
    """A page after rules and mapping, before anything is written (picklable: see engine.readahead)."""

    counts: dict[str, int]
    events: list[dict[str, Any]]
    parks: list[tuple[Item, str, str | None]]
    bells: list[tuple[Item | None, str, str, str | None, dict[str, Any] | None]]
    items: list[Item]
    keys: list[str]  # every record's key, in page order
    seen: list[str] = field(default_factory=list)  # check feeds: target keys of records a rule settled


# (target key, source item, mapped record, what the target did with it)
Outcome = tuple[str, Item, dict[str, Any], WriteOutcome]


@dataclass
class PageResult:
    """What a page did (counts are added to the execution's)."""

    counts: dict[str, int]
    notifications: list[NotificationInfo]


# -- a prepared page between the read-ahead process and the writer (engine.readahead) ------------------
# marshal reads and writes plain data (dicts, lists, strings, numbers) twice as fast as pickle,
# and the writer's process is the run's bottleneck; it refuses anything else (a date, a str
# subclass), and such a page goes by pickle instead, so every value arrives as it was sent.

def encode_page(cursor: Any, total: int | None, page: Any) -> bytes:
    """``page`` (with its source page's cursor and total) as bytes for :func:`decode_page`.

    A :class:`Prepared` of plain data goes by marshal; anything else by pickle.
    """
    if not isinstance(page, Prepared):
        return b"P" + pickle.dumps((cursor, total, page), pickle.HIGHEST_PROTOCOL)

    def item(i: Item | None) -> tuple[str, str | None, list[dict[str, Any]]] | None:
        return None if i is None else (i.key, i.label, i.mapped)

    plain = (cursor, total, page.counts, page.events, [(item(i), m, h) for i, m, h in page.parks],
             [(item(i), *rest) for i, *rest in page.bells], [(i.key, i.label, i.mapped) for i in page.items],
             page.keys, page.seen)
    try:
        return b"M" + marshal.dumps(plain)
    except ValueError:  # a value marshal has no form for
        return b"P" + pickle.dumps((cursor, total, page), pickle.HIGHEST_PROTOCOL)


def decode_page(data: bytes | memoryview) -> tuple[Any, int | None, Any]:
    """``(cursor, total, page)`` from :func:`encode_page`'s bytes."""
    if data[:1] == b"P":
        cursor, total, page = pickle.loads(data[1:])
        return cursor, total, page
    cursor, total, counts, events, parks, bells, items, keys, seen = marshal.loads(data[1:])

    def item(t: tuple[str, str | None, list[dict[str, Any]]] | None) -> Item | None:
        return None if t is None else Item(*t)

    return cursor, total, Prepared(counts, events, [(item(t), m, h) for t, m, h in parks],  # type: ignore[misc]
                                   [(item(t), *rest) for t, *rest in bells],  # type: ignore[misc]
                                   [Item(*t) for t in items], keys, seen)
