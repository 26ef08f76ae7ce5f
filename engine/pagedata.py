"""What a page carries between :meth:`Pipeline.prepare` and :meth:`Pipeline.finish` (picklable: engine.readahead)."""

from __future__ import annotations

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
