"""The slots of a cron expression in the engine's time zone, kept until the next slot comes.

Cron expressions name wall-clock times. Two nights a year the wall clock is not
the time line, and the scheduler does what cron does:

- **Clocks go forward** (a wall-clock hour does not exist): a set-hour slot in it
  comes when the clocks have changed (``30 2 * * *`` runs at 03:00 that day); an
  every-hour slot in it does not exist (``0 * * * *`` runs at 01:00 and 03:00).
  croniter does this already.
- **Clocks go back** (a wall-clock hour happens twice): a set-hour slot is its
  first occurrence only (``0 2 * * *`` runs once that night); an every-hour slot
  comes in both (``0 * * * *`` runs at 02:00 summer time and again an hour later
  at 02:00 winter time, every real hour). croniter steps over the repeated hour
  for every-hour expressions, or steps back into it and gives a window whose
  latest slot is newer than the next (feeds would miss their runs for that hour),
  so the slots of every-hour expressions are worked out here from croniter's
  wall-clock times (naive) and the instants each one stands for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo

from croniter import croniter

# More than any zone's change of offset (at most two hours): wall-clock times further apart than this from
# each other are in the same order as the instants they stand for.
_SHIFT = timedelta(hours=3)
# Wall-clock candidates looked at before giving up on an expression (none matches: 30 February).
_MAX_CANDIDATES = 10_000


class SlotCache:
    """The latest and next slot of each cron expression, valid until the next slot comes.

    11,000 feeds share a few dozen schedules, so each expression is evaluated
    once per slot instead of once per feed and tick.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._windows: dict[str, tuple[datetime, datetime]] = {}
        self._lock = threading.Lock()  # the serve loop and worker threads (re-check postponing) share it

    def window(self, schedule: str, now: datetime) -> tuple[datetime, datetime]:
        """(latest slot <= now, next slot > now) of ``schedule``.

        Raises:
            ValueError: ``schedule`` is not a valid cron expression.
        """
        hit = self._windows.get(schedule)
        if hit is not None and hit[0] <= now < hit[1]:
            return hit
        try:
            win = _set_hours(schedule, now, self.tz) if _fixed_hours(schedule) else _every_hour(
                schedule, now, self.tz)
        except (ValueError, KeyError) as exc:  # croniter's errors subclass ValueError
            raise ValueError(f"invalid cron expression {schedule!r}: {exc}") from exc
        with self._lock:
            self._windows[schedule] = win
        return win

    def latest(self, schedule: str, now: datetime) -> datetime:
        """The latest slot of ``schedule`` at or before ``now``."""
        return self.window(schedule, now)[0]

    def next_slot(self, schedule: str, now: datetime) -> datetime:
        """The first slot of ``schedule`` after ``now``."""
        return self.window(schedule, now)[1]

    def earliest_next(self, now: datetime) -> datetime | None:
        """The soonest upcoming slot among every expression seen so far."""
        with self._lock:
            upcoming = [w[1] for w in self._windows.values() if w[1] > now]
        return min(upcoming) if upcoming else None


def _fixed_hours(schedule: str) -> bool:
    """Whether the expression names its hours (``0 2 * * *``) rather than every hour (``*/15 * * * *``)."""
    fields = schedule.split()
    return len(fields) >= 2 and not fields[1].startswith("*")


def _set_hours(schedule: str, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    # croniter's get_prev is strictly before its start: start a hair after now so a slot at now counts.
    start = now.astimezone(tz) + timedelta(microseconds=1)
    latest = croniter(schedule, start).get_prev(datetime)
    upcoming = croniter(schedule, start).get_next(datetime)
    # The hour repeated when clocks go back: a slot at a set hour is its first occurrence only
    # (as cron does), never again an hour later. A repeat still to come is skipped.
    latest = latest.replace(fold=0)
    for _ in range(2):  # (in UTC: adding to a local time would land back in the first hour)
        if upcoming.fold == 0:
            break
        after = (upcoming.astimezone(UTC) + timedelta(microseconds=1)).astimezone(tz)
        upcoming = croniter(schedule, after).get_next(datetime)
    return latest, upcoming


def _every_hour(schedule: str, now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The window of an every-hour expression: each real instant whose wall-clock time matches."""
    # Compared in UTC: two times of one zone compare by their wall clocks, fold ignored.
    now = now.astimezone(UTC)
    wall = now.astimezone(tz).replace(tzinfo=None)
    latest: tuple[datetime, datetime] | None = None  # (instant in UTC, its wall-clock time)
    for n, naive in enumerate(_walk(croniter(schedule, wall + _SHIFT), forward=False)):
        if latest is not None and naive < latest[1] - _SHIFT or n > _MAX_CANDIDATES:
            break
        for at in _instants(naive, tz):
            if at <= now and (latest is None or at > latest[0]):
                latest = (at, naive)
    upcoming: tuple[datetime, datetime] | None = None
    for n, naive in enumerate(_walk(croniter(schedule, wall - _SHIFT), forward=True)):
        if upcoming is not None and naive > upcoming[1] + _SHIFT or n > _MAX_CANDIDATES:
            break
        for at in _instants(naive, tz):
            if at > now and (upcoming is None or at < upcoming[0]):
                upcoming = (at, naive)
    if latest is None or upcoming is None:
        raise ValueError(f"no time within {_MAX_CANDIDATES} slots of {now.isoformat()} matches it")
    return latest[0].astimezone(tz), upcoming[0].astimezone(tz)


def _walk(it: croniter, *, forward: bool) -> Iterator[datetime]:
    step = it.get_next if forward else it.get_prev
    while True:
        yield step(datetime)


def _instants(naive: datetime, tz: tzinfo) -> list[datetime]:
    """The instants (UTC) a wall-clock time of ``tz`` stands for: none in an hour skipped, two in one repeated."""
    found: list[datetime] = []
    for fold in (0, 1):
        at = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if at.astimezone(tz).replace(tzinfo=None) == naive and at not in found:
            found.append(at)
    return found
