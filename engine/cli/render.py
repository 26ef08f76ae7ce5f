"""Text rendering of executions, notifications and parked records for the operations commands."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from engine.store.records import COUNT_KEYS

if TYPE_CHECKING:
    from engine.parked import ParkedInfo
    from engine.store.records import ExecutionInfo, NotificationInfo

COUNT_HEADERS = {"read": "read", "created": "new", "updated": "upd", "unchanged": "same", "info": "info",
                 "parked": "parked", "errors": "err"}


def when(at: datetime | None, tz: tzinfo) -> str:
    """A timestamp in the engine's time zone, to the second."""
    return "-" if at is None else at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float | None) -> str:
    """``0.4s``, ``12s``, ``3m04s`` or ``2h05m``; ``running`` when unknown."""
    if seconds is None:
        return "running"
    if seconds < 10:
        return f"{seconds:.1f}s"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def counts_text(counts: dict[str, int]) -> str:
    """Every count, in the fixed order: ``read 10, created 2, ...``."""
    return ", ".join(f"{k} {counts.get(k, 0)}" for k in COUNT_KEYS)


def execution_row(ex: ExecutionInfo, tz: tzinfo) -> list[Any]:
    """One row of the executions table."""
    return [ex.id, ex.feed, ex.integration, ex.trigger, ex.status,
            *[ex.counts.get(k, 0) for k in COUNT_KEYS], duration(ex.duration), when(ex.started_at, tz)]


EXECUTION_HEADERS = ["id", "feed", "integration", "trigger", "status", *[COUNT_HEADERS[k] for k in COUNT_KEYS],
                     "duration", "when"]


def execution_text(ex: ExecutionInfo, tz: tzinfo) -> str:
    """A short multi-line summary of one execution."""
    lines = [f"execution {ex.id}: feed {ex.feed} of {ex.integration} ({ex.trigger}) {ex.status} "
             f"in {duration(ex.duration)}, started {when(ex.started_at, tz)}",
             f"  {counts_text(ex.counts)}"]
    if ex.message:
        lines.append(f"  {ex.message}")
    return "\n".join(lines)


def execution_detail(ex: ExecutionInfo, events: list[dict[str, Any]], tz: tzinfo) -> str:
    """Everything about one execution, then every event it recorded."""
    lines = [
        f"execution {ex.id}",
        f"  feed         {ex.feed}",
        f"  integration  {ex.integration}",
        f"  trigger      {ex.trigger}",
        f"  status       {ex.status}",
        f"  started      {when(ex.started_at, tz)}",
        f"  finished     {when(ex.finished_at, tz)}",
        f"  duration     {duration(ex.duration)}",
        f"  counts       {counts_text(ex.counts)}",
        f"  cursor       {ex.cursor_before!r} -> {ex.cursor_after!r}",
    ]
    if ex.message:
        lines.append(f"  message      {ex.message}")
    lines.append(f"events ({len(events)})" if events else "events: none")
    for e in events:
        record = f" record {e['record_key']}" if e.get("record_key") else ""
        lines.append(f"  [{e['severity']}]{record}: {e['message']}")
    return "\n".join(lines)


def notification_text(n: NotificationInfo, tz: tzinfo) -> str:
    """One bell entry: what it concerns, the store's message, what to do, how often."""
    record = ""
    if n.record_label or n.record_key:
        record = f"  record {n.record_label or n.record_key}"
        if n.record_label and n.record_key and n.record_label != n.record_key:
            record += f" (key {n.record_key})"
    times = "once" if n.count == 1 else f"{n.count} times"
    state = "  [acknowledged]" if n.acknowledged_at else ""
    lines = [f"#{n.id}  {n.integration} / {n.feed}{record}  {times}, last {when(n.last_seen, tz)}{state}",
             f"    {n.message}"]
    if n.hint:
        lines.append(f"    what to do: {n.hint}")
    return "\n".join(lines)


def parked_row(p: ParkedInfo, tz: tzinfo) -> list[Any]:
    """One row of the parked table."""
    attempts = f"{p.attempts}/{p.max_attempts + 1}" if p.max_attempts is not None else str(p.attempts)
    return [p.id, p.integration, p.feed, p.record_label or p.record_key, attempts, when(p.next_check_at, tz),
            when(p.expires_at, tz), p.reason]


PARKED_HEADERS = ["id", "integration", "feed", "record", "checks", "next check", "expires", "reason"]
