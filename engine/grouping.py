"""How due work is grouped into threads: a feed's items together, a check after the feeds it checks."""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.config import IntegrationDef
    from engine.scheduler import WorkItem


def group_for_run(items: Iterable[WorkItem], integrations: Mapping[str, IntegrationDef],
                  busy: Container[tuple[str, str]] = ()) -> list[list[WorkItem]]:
    """:func:`group_by_feed`, with each check after the due feeds that write what it reads, in their group.

    A stock check running beside the stock export reports every SKU the export has not reached yet:
    due together, the export runs first and the check after it, in one thread. A check whose pushing
    feed is ``busy`` (running in this process) is left out; it stays due and runs once that is done.
    """
    groups = group_by_feed(items)
    by_key = {g[0].key: g for g in groups}
    root: dict[tuple[str, str], tuple[str, str]] = {}  # clusters of checks and the feeds they run after

    def find(key: tuple[str, str]) -> tuple[str, str]:
        while root.get(key, key) != key:
            key = root[key]
        return key

    held: set[tuple[str, str]] = set()
    checks: set[tuple[str, str]] = set()
    for group in groups:
        pushers = _pushers(group[0], integrations)
        if any(k in busy for k in pushers):
            held.add(group[0].key)
            continue
        for k in pushers:
            if k in by_key:
                checks.add(group[0].key)
                root[find(group[0].key)] = find(k)
    clusters: dict[tuple[str, str], list[list[WorkItem]]] = {}
    for group in groups:
        if group[0].key not in held:
            clusters.setdefault(find(group[0].key), []).append(group)
    # In a cluster the writing feeds run first, then the checks, each in first-due order.
    return [[i for g in sorted(c, key=lambda g: g[0].key in checks) for i in g] for c in clusters.values()]


def _pushers(item: WorkItem, integrations: Mapping[str, IntegrationDef]) -> list[tuple[str, str]]:
    """The keys of the feeds a check item's feed reads what they write (none for other items)."""
    integ = integrations.get(item.integration)
    fd = integ.feeds.get(item.feed) if integ is not None else None
    return [(item.integration, p.name) for p in integ.pushers(fd)] if integ is not None and fd is not None else []


def held_back(item: WorkItem, locked: Container[tuple[str, str]],
              integrations: Mapping[str, IntegrationDef]) -> bool:
    """Whether a check waits: a feed it runs after, in its group, is running elsewhere (it stays due)."""
    return item.kind == "feed" and any(k in locked for k in _pushers(item, integrations))


def group_by_feed(items: Iterable[WorkItem]) -> list[list[WorkItem]]:
    """Work items grouped by (integration, feed), feed runs before re-checks, groups in first-due order."""
    groups: dict[tuple[str, str], list[WorkItem]] = {}
    for item in items:
        groups.setdefault(item.key, []).append(item)
    return [sorted(g, key=lambda i: i.kind != "feed") for g in groups.values()]
