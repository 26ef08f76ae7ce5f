"""The mode of each integration (test or live), kept in the database with an audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.store.tables import integration_state, mode_changes

if TYPE_CHECKING:
    from sqlalchemy.engine import Row

    from engine.store.db import Tx

MODES = ("test", "live")
_MODE = select(integration_state.c.mode)


def get_mode(session: Tx, name: str, initial: str, now: datetime) -> str:
    """The integration's current mode; the first call records engine.yaml's initial mode."""
    mode = session.scalar(_MODE.where(integration_state.c.name == name))
    if mode is None:
        try:
            with session.begin_nested():  # two workers may record the first mode at once
                session.execute(insert(integration_state).values(name=name, mode=initial, changed_at=now))
                session.execute(insert(mode_changes).values(
                    integration=name, from_mode=None, to_mode=initial, at=now,
                    reason="initial mode from the configuration", forced=False))
            mode = initial
        except IntegrityError:
            mode = session.scalars(_MODE.where(integration_state.c.name == name)).one()
    return str(mode)


def set_mode(session: Tx, name: str, mode: str, *, initial: str, now: datetime, reason: str,
             forced: bool = False, checks: Any = None) -> str:
    """Switch the mode and append the switch to the audit trail; returns the previous mode."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    before = get_mode(session, name, initial, now)
    session.execute(update(integration_state).where(integration_state.c.name == name)
                    .values(mode=mode, changed_at=now))
    session.execute(insert(mode_changes).values(integration=name, from_mode=before, to_mode=mode, at=now,
                                                reason=reason, forced=forced, checks=checks))
    return before


def history(session: Tx, name: str | None = None) -> list[Row[Any]]:
    """Every mode switch (``ce_mode_changes`` rows), oldest first."""
    q = select(mode_changes).order_by(mode_changes.c.at, mode_changes.c.id)
    if name:
        q = q.where(mode_changes.c.integration == name)
    return list(session.execute(q))
