"""Alembic migrations: an empty database upgraded to head has exactly the models' schema."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import plugins.connect
import plugins.connect.models  # noqa: F401 - the hub's tables join Base.metadata
from engine.errors import StoreError
from engine.plugins import Hooks, build_manager
from engine.store import migrate
from engine.store.db import make_db
from engine.store.models import Base

OUR_MODULES = ("engine.store.models", "plugins.connect.models")


def _folders() -> list[str]:
    return migrate.folders(Hooks(build_manager(plugins=[plugins.connect])))


def _our_tables() -> set[str]:
    # Other tests may import further plugins' models into Base.metadata; this suite owns these.
    return {m.local_table.name for m in Base.registry.mappers if m.class_.__module__ in OUR_MODULES}


def _differences(url: str) -> list[Any]:
    ours = _our_tables()

    def include(name: str | None, type_: str, parent: Any) -> bool:
        return type_ != "table" or name in ours

    db, _ = make_db(url)
    try:
        with db.connect() as conn:
            context = MigrationContext.configure(conn, opts={
                "version_table": migrate.VERSION_TABLE, "compare_type": True, "include_name": include})
            return list(compare_metadata(context, Base.metadata))
    finally:
        db.dispose()


def test_folders_start_with_the_engine_and_add_the_hub() -> None:
    folders = _folders()
    assert folders[0] == str(migrate.CORE_VERSIONS)
    assert str(plugins.connect.MIGRATIONS) in folders


def test_upgrade_of_an_empty_database_matches_the_models(db_url: str) -> None:
    applied = migrate.upgrade(db_url, _folders())

    assert set(applied) == {"engine_0001", "connect_0001"}
    assert applied.index("engine_0001") < applied.index("connect_0001")
    assert _differences(db_url) == []
    state = migrate.current(db_url, _folders())
    assert state["up_to_date"] is True
    assert state["heads"] == ["connect_0001", "engine_0001"]
    assert state["pending"] == []
    assert "connect_0001" in state["current"]  # it depends on engine_0001, which Alembic then leaves implied


def test_upgrading_twice_is_a_no_op(db_url: str) -> None:
    migrate.upgrade(db_url, _folders())
    db, _ = make_db(db_url)
    with db.begin() as conn:
        conn.execute(sa.text("INSERT INTO ce_integrations (name, mode, changed_at) "
                             "VALUES ('shop', 'test', '2024-01-01 00:00:00')"))
    db.dispose()

    assert migrate.upgrade(db_url, _folders()) == []
    db, _ = make_db(db_url)
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM ce_integrations")).scalars().all() == ["shop"]
    db.dispose()


def test_the_engine_branch_alone_creates_only_engine_tables(db_url: str) -> None:
    assert migrate.upgrade(db_url, []) == ["engine_0001"]
    state = migrate.current(db_url, _folders())

    assert state["current"] == ["engine_0001"]
    assert state["pending"] == ["connect_0001"]
    assert state["up_to_date"] is False
    db, _ = make_db(db_url)
    tables = set(sa.inspect(db).get_table_names())
    db.dispose()
    assert {"ce_executions", migrate.VERSION_TABLE} <= tables
    assert not {t for t in tables if t.startswith("hub_")}
    assert migrate.upgrade(db_url, _folders()) == ["connect_0001"]


def test_a_database_made_by_create_all_is_adopted(db_url: str) -> None:
    db, _ = make_db(db_url)
    Base.metadata.create_all(db)
    db.dispose()

    assert migrate.upgrade(db_url, _folders()) == []
    assert migrate.current(db_url, _folders())["up_to_date"] is True


def test_some_tables_without_history_is_refused(db_url: str) -> None:
    db, _ = make_db(db_url)
    Base.metadata.create_all(db, tables=[Base.metadata.tables["ce_cursors"]])
    db.dispose()

    with pytest.raises(StoreError, match="no migration history") as err:
        migrate.upgrade(db_url, _folders())
    assert "ce_executions" in str(err.value)


def test_a_missing_folder_is_named() -> None:
    with pytest.raises(StoreError, match="does-not-exist"):
        migrate.alembic_config(["/nonexistent/does-not-exist"])
