"""The mode of each integration (test or live), kept in the database with an audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.store.models import IntegrationState, ModeChange

MODES = ("test", "live")


def get_mode(session: Session, name: str, initial: str, now: datetime) -> str:
    """The integration's current mode; the first call records engine.yaml's initial mode."""
    row = session.get(IntegrationState, name)
    if row is None:
        try:
            with session.begin_nested():  # two workers may record the first mode at once
                row = IntegrationState(name=name, mode=initial, changed_at=now)
                session.add(row)
                session.add(ModeChange(integration=name, from_mode=None, to_mode=initial, at=now,
                                       reason="initial mode from the configuration", forced=False))
        except IntegrityError:
            row = session.get_one(IntegrationState, name)
    return row.mode


def set_mode(session: Session, name: str, mode: str, *, initial: str, now: datetime, reason: str,
             forced: bool = False, checks: Any = None) -> str:
    """Switch the mode and append the switch to the audit trail; returns the previous mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    before = get_mode(session, name, initial, now)
    row = session.get(IntegrationState, name)
    assert row is not None
    row.mode, row.changed_at = mode, now
    session.add(ModeChange(integration=name, from_mode=before, to_mode=mode, at=now, reason=reason,
                           forced=forced, checks=checks))
    return before


def history(session: Session, name: str | None = None) -> list[ModeChange]:
    """Every mode switch, oldest first."""
    q = select(ModeChange).order_by(ModeChange.at, ModeChange.id)
    if name:
        q = q.where(ModeChange.integration == name)
    return list(session.scalars(q))
