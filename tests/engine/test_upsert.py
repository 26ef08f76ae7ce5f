"""The bulk upsert every hot path writes with, on SQLite and PostgreSQL.

On PostgreSQL a batch of eight rows or more goes as one ``INSERT .. SELECT`` over
a JSON array of the rows; fewer rows, rows sharing a key and values without a
JSON form go row by row. Either way the stored rows must be the same.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Boolean, Column, Float, Integer, LargeBinary, MetaData, String, Table, Text, select

from engine.store import upsert as upsert_module
from engine.store.db import make_db
from engine.store.models import UTCDateTime
from engine.store.upsert import upsert

META = MetaData()
THINGS = Table(
    "test_upsert_things", META,
    Column("id", Integer, primary_key=True),
    Column("key", String(40), nullable=False, unique=True),
    Column("name", Text),
    Column("weight", Float),
    Column("active", Boolean),
    Column("data", JSON),
    Column("blob", LargeBinary),
    Column("at", UTCDateTime(), nullable=False),
)
AT = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)


def rows(n: int, **changes: Any) -> list[dict[str, Any]]:
    return [{"key": f"K-{i:03d}", "name": f"thing {i} – “quoted”, \\ and {{braces}}" if i % 3 else None,
             "weight": i * 1.5 if i % 4 else None, "active": bool(i % 2),
             "data": {"n": i, "tags": ["a", "b"], "nested": {"x": None}} if i % 5 else None,
             "at": AT + timedelta(seconds=i), **changes} for i in range(n)]


def stored(session: Any) -> dict[str, dict[str, Any]]:
    result = session.execute(select(THINGS).order_by(THINGS.c.key)).mappings()
    return {r["key"]: {k: v for k, v in r.items() if k != "id"} for r in result}


@pytest.fixture
def one_statement(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each PostgreSQL batch went as one statement (True) or row by row (False)."""
    taken: list[bool] = []
    real = upsert_module._as_one_statement

    def spy(*args: Any) -> bool:
        taken.append(real(*args))
        return taken[-1]

    monkeypatch.setattr(upsert_module, "_as_one_statement", spy)
    return taken


@pytest.fixture
def session(db_url: str) -> Any:
    db, sessions = make_db(db_url)
    META.create_all(db)
    with sessions() as s:
        yield s
    db.dispose()


@pytest.mark.parametrize("n", [3, 40])  # row by row; on PostgreSQL one statement
def test_rows_are_stored_as_given_and_a_conflict_updates_only_the_update_columns(session: Any, n: int,
                                                                                one_statement: list[bool]) -> None:
    upsert(session, THINGS, rows(n), key=["key"])
    session.commit()
    assert stored(session) == {r["key"]: {**r, "blob": None} for r in rows(n)}

    later = AT + timedelta(days=1)
    upsert(session, THINGS, rows(n, name="renamed", weight=2.0, at=later), key=["key"], update=["name", "at"])
    session.commit()
    expected = {r["key"]: {**r, "name": "renamed", "at": later, "blob": None} for r in rows(n)}
    assert stored(session) == expected
    postgresql = session.get_bind().dialect.name == "postgresql"
    assert one_statement == ([True, True] if postgresql and n >= 8 else [])


def test_rows_sharing_a_key_are_applied_in_order(session: Any, one_statement: list[bool]) -> None:
    batch = rows(12)
    batch[11]["key"] = batch[0]["key"]  # the last row of the batch updates the first one
    upsert(session, THINGS, batch, key=["key"])
    session.commit()
    got = stored(session)
    assert len(got) == 11
    assert got[batch[0]["key"]]["name"] == batch[11]["name"]
    assert True not in one_statement


def test_values_without_a_json_form_are_written_too(session: Any, one_statement: list[bool]) -> None:
    batch = [{**r, "blob": bytes([i, 0, 255]), "weight": 2 ** 70 if i == 0 else r["weight"]}
             for i, r in enumerate(rows(10))]
    upsert(session, THINGS, batch, key=["key"])
    session.commit()
    got = stored(session)
    assert {k: v["blob"] for k, v in got.items()} == {r["key"]: r["blob"] for r in batch}
    assert got["K-000"]["weight"] == float(2 ** 70)
    assert True not in one_statement
