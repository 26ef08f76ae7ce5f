"""What happens to one page of records: rules, mapping, change detection, write, bookkeeping.

The runner hands pages here; re-checks of parked records hand the records the
connector re-fetched. Everything a page produces (target rows, outcomes,
events, parked rows, notifications, the cursor) is committed in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, update

from engine.boundary import HINTS, outcome_error, outcome_problem, write_failed
from engine.connector import RunContext, WriteOutcome
from engine.errors import EngineError, Severity
from engine.gcpause import pausing
from engine.pagedata import Item, Outcome, PageResult, Prepared, digest
from engine.prepare import Preparer
from engine.store import journal
from engine.store.records import NotificationInfo, empty_counts
from engine.store.tables import parked

if TYPE_CHECKING:
    from engine.run_context import FeedRun


# A parked record checked again (its reason, count of checks and next check), one statement for the page's records.
_CHECKED = (update(parked).where(parked.c.id == bindparam("row_id"))
            .values(reason=bindparam("p_reason"), attempts=bindparam("p_attempts"),
                    last_checked_at=bindparam("p_now"), next_check_at=bindparam("p_next")))


class Pipeline(Preparer):
    """Processes pages for one run of one feed: :class:`Preparer`'s rules and mapping, then write and bookkeeping."""

    def __init__(self, run: FeedRun) -> None:
        super().__init__(run)
        # Set by the runner from one query at run start: skip per-page lookups when nothing is open.
        self.check_parked = True
        self.check_causes = True
        # Keys with an open notification not yet seen in this run (re-fetched after the last page).
        self.failed: set[str] = set()
        # Check feeds: every target key the source showed in this run (engine.checkmissing).
        self.seen: set[str] = set()
        # Counts of the pages committed so far, saved on the execution row with each page.
        self.totals = empty_counts()
        # Set by the runner: renews the run's lease inside each page's transaction, so a page commits
        # only while its run holds the feed, and leaves the lease fresh (on SQLite the page holds the
        # write lock, and the lease keeper waits behind it).
        self.renew: Callable[[Any], None] | None = None

    # -- the page ------------------------------------------------------------------------------

    # A page is two steps: prepare (in the read-ahead process when there is one), then finish.

    @pausing
    def finish(self, page: Prepared, *, cursor: Any = None, save_cursor: bool = False,
               recheck: bool = False, refetch: bool = False) -> PageResult:
        """Write a prepared page to the target and commit it with its outcomes, events and cursor."""
        run, feed, now = self.run, self.feed, self.run.now()
        counts, events, parks, bells, items = page.counts, page.events, page.parks, page.bells, page.items
        if self.failed:
            self.failed.difference_update(page.keys)
        outcomes: list[Outcome] = []
        settled: list[Outcome] = []  # already in the store as the ledger knows it: nothing pushed, nothing to record
        differ: list[str] = []
        if feed.direction == "check":
            self.seen.update(page.seen)
            self._compare(items, counts, events, bells)
            differ = [b[0].key for b in bells if b[1] == "mismatch"]
        elif run.target_side == "store":
            outcomes, settled = self._write_store(items)
        with run.transactions.begin() as session:
            if feed.direction != "check" and run.target_side == "hub":
                outcomes = self._write(session, items)
            passed = self._tally(settled + outcomes if settled else outcomes, counts, events, parks, bells)
            if run.target_side == "store" and feed.change_detection:
                journal.record_ledger(session, [
                    {"integration": run.integration.name, "feed": feed.name, "record_key": k,
                     "digest": digest(m), "remote_id": o.remote_id, "written_at": now}
                    for k, _, m, o in outcomes if o.action != "error"])
            if feed.direction == "check":
                passed = [i.key for i in items if i.key not in {b[0].key for b in bells if b[0]}]
                if differ:  # the store no longer holds what was pushed there: the next push sends it again
                    pushers = [f.name for f in run.integration.pushers(feed)]
                    journal.forget_pushes(session, run.integration.name, pushers, differ)
            notes = self._book(session, now, passed, events, parks, bells, counts, recheck, refetch)
            if save_cursor and cursor is not None:
                journal.save_cursor(session, run.integration.name, feed.name, cursor, now)
            totals = {k: v + counts[k] for k, v in self.totals.items()}
            if run.execution_id is not None:
                journal.save_counts(session, run.execution_id, totals)
            if self.renew is not None:
                self.renew(session)  # LockedError if another worker took the feed: the page rolls back
        self.totals = totals
        return PageResult(counts, notes)

    # -- steps -----------------------------------------------------------------------------------
    def _write_store(self, items: list[Item]) -> tuple[list[Outcome], list[Outcome]]:
        """Push what changed: (outcomes to record in the ledger, records the ledger says the store has)."""
        run, feed = self.run, self.feed
        pairs = self._pairs(items)
        same: list[Outcome] = []
        settled: list[Outcome] = []
        if feed.change_detection and pairs:
            with run.transactions() as s:
                known = journal.ledger_digests(s, run.integration.name, feed.name, [k for k, _, _ in pairs])
            fresh = []
            for k, item, m in pairs:
                if known.get(k) == digest(m):
                    settled.append((k, item, m, WriteOutcome(k, "unchanged")))  # passed: its old bell resolves
                else:
                    fresh.append((k, item, m))
            pairs = fresh
            if feed.compare and pairs:
                pairs, same = self._already_there(pairs, set(known))  # counted by _tally
        return same + self._call_write(pairs, None), settled

    def _already_there(self, pairs: list[tuple[str, Item, dict[str, Any]]],
                       pushed: set[str]) -> tuple[list[tuple[str, Item, dict[str, Any]]], list[Outcome]]:
        """Keys never pushed: fetch the target's record; equal on ``compare`` fields means nothing to push."""
        run, feed = self.run, self.feed
        first = [p for p in pairs if p[0] not in pushed]
        if not first:
            return pairs, []
        ctx = RunContext(integration=run.integration.name, feed=feed.name, mode=run.mode, params=feed.target.params,
                         log=run.log)
        theirs = {str(r.get(self.target_key)): r
                  for r in run.target.fetch(feed.target.resource, [k for k, _, _ in first], ctx=ctx)}
        fields = feed.compare or ()
        todo, same = [], []
        for k, item, m in pairs:
            other = theirs.get(k) if k not in pushed else None
            if other is not None and all(m.get(f) == other.get(f) for f in fields):
                same.append((k, item, m, WriteOutcome(k, "unchanged")))
            else:
                todo.append((k, item, m))
        return todo, same

    def _write(self, session: Any, items: list[Item]) -> list[Outcome]:
        return self._call_write(self._pairs(items), session)

    def _pairs(self, items: list[Item]) -> list[tuple[str, Item, dict[str, Any]]]:
        tk = self.target_key
        pairs = []
        for item in items:
            for m in item.mapped:
                k = m.get(tk)
                pairs.append(("" if k is None else str(k), item, m))
        return pairs

    def _call_write(self, pairs: list[tuple[str, Item, dict[str, Any]]],
                    session: Any) -> list[Outcome]:
        run, feed = self.run, self.feed
        out: list[Outcome] = []
        ctx = RunContext(integration=run.integration.name, feed=feed.name, mode=run.mode,
                         params=feed.target.params, session=session, write_mode=feed.write_mode,
                         fields=feed.fields, log=run.log)
        size = max(1, feed.batch_size)
        for i in range(0, len(pairs), size):
            chunk = pairs[i:i + size]
            try:
                result = run.target.write(feed.target.resource, [m for _, _, m in chunk], ctx=ctx)
            except EngineError:
                raise
            except Exception as exc:
                raise write_failed(exc, run.target.name, feed.target.resource) from exc
            if type(result) is not list or len(result) != len(chunk):
                problem = outcome_problem(result, len(chunk), run.target.name, feed.target.resource)
                if problem is not None:
                    raise problem
            out.extend((k, item, m, o) for (k, item, m), o in zip(chunk, result, strict=True))
        return out

    def _tally(self, outcomes: list[Outcome], counts: dict[str, int],
               events: list[dict[str, Any]], parks: list[Any], bells: list[Any]) -> list[str]:
        failed: set[str] = set()
        try:
            self._count(outcomes, counts, events, parks, bells, failed)
        except (AttributeError, KeyError, TypeError):  # not outcomes at all: say so, naming the connector
            problem = outcome_problem([o for _, _, _, o in outcomes], len(outcomes), self.run.target.name,
                                      self.feed.target.resource)
            if problem is None:
                raise
            raise problem from None
        return list(dict.fromkeys(item.key for _, item, _, _ in outcomes if item.key not in failed))

    def _count(self, outcomes: list[Outcome], counts: dict[str, int], events: list[dict[str, Any]],
               parks: list[Any], bells: list[Any], failed: set[str]) -> None:
        for _, item, _, o in outcomes:
            if o.action == "error":
                err = outcome_error(o)
                if item.key in failed:
                    continue
                failed.add(item.key)
                msg = self.run.mask(f"{err} (feed {self.feed.name}, record {item.label or item.key})")
                context = dict(getattr(err, "context", None) or {})
                hint = context.pop("hint", None) or HINTS.get(type(err).__name__)  # the target's own, if it has one
                self._route(item, err.severity, msg, hint, type(err).__name__,
                            counts, events, parks, bells, details=self.run.mask_obj(context or None))
            else:
                counts[o.action] += 1

    def _compare(self, items: list[Item], counts: dict[str, int], events: list[dict[str, Any]],
                 bells: list[Any]) -> None:
        run, feed = self.run, self.feed
        pairs = self._pairs(items)
        self.seen.update(k for k, _, _ in pairs)
        if not pairs:
            return
        ctx = RunContext(integration=run.integration.name, feed=feed.name, mode=run.mode, params=feed.target.params,
                         log=run.log)
        theirs = {str(r.get(self.target_key)): r
                  for r in run.target.fetch(feed.target.resource, [k for k, _, _ in pairs], ctx=ctx)}
        fields = feed.compare or ()
        for k, item, mine in pairs:
            other = theirs.get(k)
            if other is None:
                diff = {"missing": f"{feed.target.side} has no record {k!r}"}
            else:
                diff = {f: {"source": mine.get(f), "target": other.get(f)}
                        for f in fields if mine.get(f) != other.get(f)}
            if not diff:
                counts["unchanged"] += 1
                continue
            counts["errors"] += 1
            text = ", ".join(f"{f}: {v['source']} in {feed.source.side}, {v['target']} in {feed.target.side}"
                             if isinstance(v, dict) else v for f, v in diff.items())
            bells.append((item, "mismatch", f"{k}: {text}", HINTS["mismatch"], {"key": k, "diff": diff}))
    # -- bookkeeping (inside the page's transaction) ----------------------------------------------

    def _book(self, session: Any, now: datetime, passed: list[str], events: list[dict[str, Any]],
              parks: list[tuple[Item, str, str | None]], bells: list[Any], counts: dict[str, int],
              recheck: bool, refetch: bool = False) -> list[NotificationInfo]:
        run, feed, name = self.run, self.feed, self.run.integration.name
        # Records a rule settled as info (an order cancelled in the store, say): nothing for a person to do.
        info = {e["record_key"]: e["message"] for e in events
                if e["severity"] == "info" and e["record_key"] is not None}
        if self.check_parked:
            # A parked record leaves the list once a check settles it: written, or turned info or error
            # (an order cancelled while it awaited payment is not re-checked for 30 more days).
            settled = dict(info)
            settled.update((b[0].key, b[2]) for b in bells if b[0] is not None)
            for key in passed:
                settled.pop(key, None)
            was = journal.parked_keys(session, name, feed.name, [*passed, *settled]) if passed or settled else {}
            if was:
                journal.unpark(session, name, feed.name, list(was))
                events.extend(self._event(k, "info", f"record {row.record_label or k} " + (
                    f"left the parked list after {row.attempts} check(s): {settled[k]}" if k in settled
                    else f"passed after {row.attempts} check(s) and was processed"), None) for k, row in was.items())
        if self.check_causes and (passed or info):
            # ... and its notification is resolved, so the run stops re-fetching it (docs/operations.md)
            journal.resolve_causes(session, integration=name, feed=feed.name, record_keys=[*passed, *info], now=now)
        if parks:
            self._park(session, now, parks, events, bells, counts, recheck)
        notes = []
        for item, kind, message, hint, details in bells:
            events.append(self._event(item.key if item else None, "error", message, details))
            note, news = journal.ring(session, integration=name, feed=feed.name,
                                      record_key=item.key if item else None, record_label=item.label if item else None,
                                      kind=kind, message=message, hint=hint, details=details, now=now,
                                      execution_id=run.execution_id, reopen=not refetch)
            if news:
                notes.append(note)
        journal.add_events(session, events)
        return notes

    def _park(self, session: Any, now: datetime, parks: list[tuple[Item, str, str | None]],
              events: list[dict[str, Any]], bells: list[Any], counts: dict[str, int], recheck: bool) -> None:
        run, feed, policy = self.run, self.feed, self.feed.retry
        existing = journal.parked_keys(session, run.integration.name, feed.name, [i.key for i, _, _ in parks])
        from croniter import croniter  # imported when a record is parked, not on every start

        nxt = croniter(policy.schedule, now.astimezone(run.tz)).get_next(datetime)
        gone: list[str] = []
        new: list[dict[str, Any]] = []
        checked: list[dict[str, Any]] = []
        for item, message, hint in parks:
            row = existing.get(item.key)
            if row is None:
                new.append({"integration": run.integration.name, "feed": feed.name, "record_key": item.key,
                            "record_label": item.label, "reason": message, "attempts": 1, "parked_at": now,
                            "last_checked_at": now, "next_check_at": nxt, "expires_at": now + policy.expire_after})
                events.append(self._event(item.key, "retry", message, None))
                continue
            attempts = row.attempts + 1 if recheck else row.attempts
            checked.append({"row_id": row.id, "p_reason": message, "p_attempts": attempts})
            if now >= row.expires_at or (policy.max_attempts and attempts > policy.max_attempts):
                gone.append(item.key)
                counts["parked"] -= 1
                why = ("expired after " + str(policy.expire_after) if now >= row.expires_at
                       else f"still failing after {attempts - 1} re-checks")
                text = f"gave up on record {item.label or item.key}: {why} ({message})"
                sev = policy.on_expiry if now >= row.expires_at else Severity.ERROR
                if sev == Severity.ERROR:
                    counts["errors"] += 1
                    bells.append((item, "gave-up", text, hint, None))
                else:
                    counts["info"] += 1
                    events.append(self._event(item.key, "info", text, None))
        if new:
            session.execute(insert(parked), new)
        if checked:
            session.execute(_CHECKED, [{**c, "p_now": now, "p_next": nxt} for c in checked])
        if gone:
            journal.unpark(session, run.integration.name, feed.name, gone)
