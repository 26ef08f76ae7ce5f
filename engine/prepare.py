"""Rules and mapping of a page: what a run does to its records before it writes them.

This half of a page's work touches no database and no target, so it may run in the
read-ahead process (:mod:`engine.readahead`), which must start without loading
SQLAlchemy (:mod:`engine.earlyfork`): :class:`engine.pipeline.Pipeline` adds the
write and the bookkeeping.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from engine.boundary import HINTS, keyless, write_failed
from engine.connector import Connector
from engine.errors import ConnectorError, EngineError, MappingError, Severity
from engine.gcpause import pausing
from engine.pagedata import Item, Prepared
from engine.store.records import empty_counts, printable

if TYPE_CHECKING:
    from engine.run_context import FeedRun


class Preparer:
    """Rules and mapping of the pages of one run of one feed (see :class:`engine.run_context.FeedRun`)."""

    def __init__(self, run: FeedRun) -> None:
        self.run = run
        feed = run.feed
        self.feed = feed
        src_res = run.source.resource(feed.source.resource)
        tgt_res = run.target.resource(feed.target.resource)
        self.source_key = feed.key or (src_res.key if src_res else "id")
        self.target_key = (feed.mapping.key if feed.mapping and feed.mapping.key else None) or (
            tgt_res.key if tgt_res else "id")
        self.label = run.compiler.compile(feed.label) if feed.label else None
        self.rule_doc_base = {"integration": {"name": run.integration.name, "maps": run.maps},
                              "params": dict(feed.source.params)}
        # The target's own preparation of what it will write (Connector.prepare_write), if it has one.
        overridden = type(run.target).prepare_write is not Connector.prepare_write
        self.prepare_write = run.target.prepare_write if overridden and feed.direction != "check" else None

    @pausing  # a page is thousands of fresh objects: no collection passes over them (engine.gcpause)
    def prepare(self, records: Sequence[dict[str, Any]]) -> Prepared:
        """Rules and mapping of a page: no database, no target (it may run in the read-ahead process)."""
        run, feed = self.run, self.feed
        counts = empty_counts()
        counts["read"] = len(records)
        page = Prepared(counts, [], [], [], [], [])
        events, parks, bells, items, keys = page.events, page.parks, page.bells, page.items, page.keys
        for raw in records:
            item = self._item(raw)
            keys.append(item.key)
            if not item.key and type(raw) is not dict:
                self._keyless(raw, item, counts, events, parks, bells)
                continue
            try:
                if feed.rules:
                    match = feed.rules.first_match({**self.rule_doc_base, "record": raw}, feed=feed.name,
                                                   record=item.key)
                    if match is not None:
                        if not item.key and match.severity == Severity.RETRY:  # nothing to park it by
                            self._keyless(raw, item, counts, events, parks, bells)
                            continue
                        self._route(item, match.severity, match.message, match.rule.hint,
                                    match.rule.name or match.rule.when, counts, events, parks, bells)
                        if feed.direction == "check" and raw.get(self.target_key) is not None:
                            page.seen.append(str(raw[self.target_key]))  # the store has it (engine.checkmissing)
                        continue
                if not item.key:  # nothing to re-fetch or tell it apart by: keyless records would merge
                    self._keyless(raw, item, counts, events, parks, bells)
                    continue
                item.mapped = feed.mapping.apply(raw) if feed.mapping else [raw]
            except MappingError as exc:
                self._route(item, exc.severity, run.mask(f"{exc} (feed {feed.name}, record {item.key})"),
                            HINTS["MappingError"], f"MappingError:{exc.field}", counts, events, parks, bells,
                            details={"field": exc.field, "expression": exc.expression})
                continue
            items.append(item)
        if self.prepare_write is not None and items:
            self._prepare_write(items)
        return page

    def _prepare_write(self, items: list[Item]) -> None:
        """Hand the page's mapped records to the target's ``prepare_write``; its records replace them."""
        mapped = [m for item in items for m in item.mapped]
        target, resource = self.run.target, self.feed.target.resource
        try:
            ready = self.prepare_write(resource, mapped)  # type: ignore[misc]
        except EngineError:
            raise
        except Exception as exc:
            raise write_failed(exc, target.name, resource, "prepare_write") from exc
        if type(ready) is not list or len(ready) != len(mapped):
            raise ConnectorError(f"connector {target.name!r} prepare_write({resource!r}) returned "
                                 f"{len(ready) if isinstance(ready, list) else type(ready).__name__} for "
                                 f"{len(mapped)} records: it must return one record per record, in order")
        at = 0
        for item in items:
            n = len(item.mapped)
            item.mapped = ready[at:at + n]
            at += n

    # -- steps -----------------------------------------------------------------------------------

    def _item(self, raw: dict[str, Any]) -> Item:
        key = raw.get(self.source_key) if isinstance(raw, dict) else None
        label = None
        if self.label is not None:
            try:
                value = self.label(raw)
                label = None if value is None else printable(str(value))  # stored as the record's name
            except Exception:  # a label is decoration; never fail a record on it
                label = None
        return Item(key="" if key is None else str(key), label=label)

    def _keyless(self, raw: Any, item: Item, counts: dict[str, int], events: list[dict[str, Any]],
                 parks: list[Any], bells: list[Any]) -> None:
        feed = self.feed
        why = keyless(raw, item.label, feed.source.side, feed.source.resource, self.source_key, feed.name)
        self._route(item, Severity.ERROR, why, HINTS["keyless"], f"keyless:{item.label or ''}", counts, events,
                    parks, bells)  # one notification per record the label tells apart

    def _route(self, item: Item, severity: Severity, message: str, hint: str | None, kind: str,
               counts: dict[str, int], events: list[dict[str, Any]], parks: list[tuple[Item, str, str | None]],
               bells: list[Any], details: dict[str, Any] | None = None) -> None:
        if severity == Severity.INFO:
            counts["info"] += 1
            events.append(self._event(item.key, "info", message, details))
        elif severity == Severity.RETRY:
            counts["parked"] += 1
            parks.append((item, message, hint))
        else:
            counts["errors"] += 1
            bells.append((item, kind, message, hint, details))

    def _event(self, key: str | None, severity: str, message: str, details: dict[str, Any] | None) -> dict[str, Any]:
        return {"execution_id": self.run.execution_id, "integration": self.run.integration.name,
                "feed": self.feed.name, "record_key": key, "severity": severity, "message": message,
                "details": details, "created_at": self.run.now()}
