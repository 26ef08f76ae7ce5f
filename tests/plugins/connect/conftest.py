"""Fixtures of the hub tests: a migrated database (SQLite and PostgreSQL), a hub connector, a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

import plugins.connect
from engine.connector import RunContext, Services, WriteOutcome
from engine.plugins import Hooks, build_manager
from engine.store import migrate
from engine.store.db import make_db
from plugins.connect.connector import HubConnector


class Clock:
    """An injectable clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 3600) -> datetime:  # past the hub reads' look-back (reading.LOOKBACK)
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(db_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database migrated to head (engine and hub branches)."""
    db, factory = make_db(db_url)
    migrate.upgrade(db, migrate.folders(Hooks(build_manager(plugins=[plugins.connect]))))
    yield factory
    db.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def hub(sessions: sessionmaker[Session], clock: Clock, data_dir: Path) -> Iterator[HubConnector]:
    """The hub connector of integration ``shop``, opened."""
    services = Services(sessions=sessions, clock=clock, data_dir=data_dir)
    with HubConnector("shop", {"default_warehouse": "main"}, services) as connector:
        yield connector  # type: ignore[misc]


Write = Callable[..., list[WriteOutcome]]


@pytest.fixture
def write(hub: HubConnector, sessions: sessionmaker[Session]) -> Write:
    """``write(resource, records, integration="shop", **ctx)``: one committed batch, its outcomes."""

    def run(resource: str, records: Sequence[dict[str, Any]], integration: str = "shop",
            **ctx: Any) -> list[WriteOutcome]:
        with sessions.begin() as session:
            context = RunContext(integration=integration, feed="test", session=session, **ctx)
            return list(hub.write(resource, records, ctx=context))

    return run


@pytest.fixture
def read(hub: HubConnector) -> Callable[..., list[Any]]:
    """``read(resource, cursor=None, integration="shop", **params)``: every page, as a list."""

    def run(resource: str, cursor: Any = None, integration: str = "shop", **params: Any) -> list[Any]:
        return list(hub.read(resource, cursor=cursor, ctx=RunContext(integration=integration, params=params)))

    return run

