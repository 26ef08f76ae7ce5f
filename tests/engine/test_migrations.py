"""Alembic migrations: an empty database upgraded to head has exactly the models' schema.

A new database is built from the models instead (``schema_state.create_new``): the same schema, without Alembic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import plugins.connect
import plugins.connect.models  # noqa: F401 - the hub's tables join Base.metadata
from engine.errors import StoreError
from engine.plugins import Hooks, build_manager
from engine.store import migrate, schema_state
from engine.store.db import make_db
from engine.store.models import Base

OUR_MODULES = ("engine.store.models", "plugins.connect.models")
ROOT = Path(__file__).resolve().parents[2]


EVERY_REVISION = ["engine_0001", "connect_0001", "connect_0002"]  # in the order they apply

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

    assert set(applied) == {"engine_0001", "connect_0001", "connect_0002"}
    assert applied.index("engine_0001") < applied.index("connect_0001") < applied.index("connect_0002")
    assert _differences(db_url) == []
    state = migrate.current(db_url, _folders())
    assert state["up_to_date"] is True
    assert state["heads"] == ["connect_0002", "engine_0001"]
    assert state["pending"] == []
    assert "connect_0002" in state["current"]  # the hub branch depends on engine_0001, which Alembic leaves implied


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
    assert state["pending"] == ["connect_0001", "connect_0002"]
    assert state["up_to_date"] is False
    db, _ = make_db(db_url)
    tables = set(sa.inspect(db).get_table_names())
    db.dispose()
    assert {"ce_executions", migrate.VERSION_TABLE} <= tables
    assert not {t for t in tables if t.startswith("hub_")}
    assert migrate.upgrade(db_url, _folders()) == ["connect_0001", "connect_0002"]


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


# -- a new database built from the models (engine.store.schema_state.create_new), without Alembic --------


def _snapshot(url: str) -> dict[str, Any]:
    """What the database holds, table by table: columns, keys, indexes, constraints, and the version rows."""
    db, _ = make_db(url)
    try:
        insp = sa.inspect(db)
        out: dict[str, Any] = {}
        for name in sorted(insp.get_table_names()):
            out[name] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(name)],
                "pk": insp.get_pk_constraint(name),
                "fks": sorted((fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"],
                               fk.get("options", {}).get("ondelete")) for fk in insp.get_foreign_keys(name)),
                "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                                  for i in insp.get_indexes(name)),
                "uniques": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(name)),
            }
        with db.connect() as conn:
            versions = conn.execute(sa.text(f"SELECT version_num FROM {migrate.VERSION_TABLE}")).scalars()
            out["versions"] = sorted(versions)
        return out
    finally:
        db.dispose()


def _drop_everything(url: str) -> None:
    db, _ = make_db(url)
    with db.begin() as conn:
        Base.metadata.drop_all(conn)
        schema_state.version_table().drop(conn)
        assert sa.inspect(conn).get_table_names() == []
    db.dispose()


def test_a_new_database_built_from_the_models_equals_one_built_by_alembic(db_url: str) -> None:
    db, _ = make_db(db_url)
    try:
        created = schema_state.create_new(db, _folders(), [plugins.connect.models.__name__])
        assert schema_state.is_current(db, _folders())
    finally:
        db.dispose()

    assert created == EVERY_REVISION  # every revision; the same list Alembic's upgrade returns
    assert _differences(db_url) == []
    state = migrate.current(db_url, _folders())
    assert (state["up_to_date"], state["pending"], state["current"]) == (True, [], ["connect_0002"])
    from_models = _snapshot(db_url)
    _drop_everything(db_url)
    assert migrate.upgrade(db_url, _folders()) == EVERY_REVISION
    assert _snapshot(db_url) == from_models
    assert set(from_models) >= {migrate.VERSION_TABLE, *_our_tables()}


def test_a_new_database_is_created_once(db_url: str) -> None:
    db, _ = make_db(db_url)
    try:
        assert schema_state.create_new(db, _folders(), [plugins.connect.models.__name__]) is not None
        with db.begin() as conn:
            conn.execute(sa.text("INSERT INTO ce_integrations (name, mode, changed_at) "
                                 "VALUES ('shop', 'test', '2024-01-01 00:00:00')"))
        # at the heads (another process starting at the same moment was first): nothing to do
        assert schema_state.create_new(db, _folders(), [plugins.connect.models.__name__]) == []
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM ce_integrations")).scalars().all() == ["shop"]
    finally:
        db.dispose()
    assert migrate.upgrade(db_url, _folders()) == []  # Alembic agrees: nothing to do


def test_a_database_behind_is_left_to_alembic(db_url: str) -> None:
    assert migrate.upgrade(db_url, []) == ["engine_0001"]
    db, _ = make_db(db_url)
    try:
        assert schema_state.create_new(db, _folders(), [plugins.connect.models.__name__]) is None
        assert not {t for t in sa.inspect(db).get_table_names() if t.startswith("hub_")}
    finally:
        db.dispose()


def test_a_database_with_some_tables_is_left_to_alembic(db_url: str) -> None:
    db, _ = make_db(db_url)
    try:
        Base.metadata.create_all(db, tables=[Base.metadata.tables["ce_cursors"]])
        assert schema_state.create_new(db, _folders(), [plugins.connect.models.__name__]) is None
        assert sa.inspect(db).get_table_names() == ["ce_cursors"]
    finally:
        db.dispose()


def test_models_no_registered_plugin_owns_are_left_to_alembic(db_url: str) -> None:
    # The hub's models are in Base.metadata, but the hub is not among the registered plugins.
    db, _ = make_db(db_url)
    try:
        assert schema_state.create_new(db, _folders(), []) is None
        assert schema_state.create_new(db, [str(migrate.CORE_VERSIONS), "/nonexistent"], [
            plugins.connect.models.__name__]) is None  # no scripts there: no heads for that folder
        assert sa.inspect(db).get_table_names() == []
    finally:
        db.dispose()


NEW_ENGINE = """
import json, sys
import plugins.connect
from engine.app import Engine

source = {"database": sys.argv[1], "data_dir": sys.argv[2]}
with Engine.from_config(source, plugins=[plugins.connect], migrate=False) as engine:
    applied = engine.upgrade()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("alembic", "mako"))
print(json.dumps({"loaded": loaded, "applied": applied}))
"""


def test_starting_on_a_new_database_does_not_import_alembic(db_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env["PYTHONPATH"] = str(ROOT)
    runs = []
    for _ in range(2):  # a new database, then the same one at head
        proc = subprocess.run([sys.executable, "-c", NEW_ENGINE, db_url, str(tmp_path / "data")], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))

    assert runs == [{"loaded": [], "applied": EVERY_REVISION}, {"loaded": [], "applied": []}]
    assert migrate.current(db_url, _folders())["up_to_date"] is True
    assert _differences(db_url) == []


def test_a_hub_at_its_first_revision_is_upgraded_with_its_products_kept(db_url: str) -> None:
    from alembic import command

    db, _ = make_db(db_url)
    try:
        with db.begin() as conn:
            command.upgrade(migrate.alembic_config(_folders(), conn), "connect_0001")
            conn.execute(sa.text("INSERT INTO hub_products (sku, name, created_at, updated_at) "
                                 "VALUES ('OLD-1', 'kept', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"))
        assert "ix_hub_products_cursor" in {i["name"] for i in sa.inspect(db).get_indexes("hub_products")}
    finally:
        db.dispose()

    assert migrate.upgrade(db_url, _folders()) == ["connect_0002"]
    assert _differences(db_url) == []
    db, _ = make_db(db_url)
    try:
        assert "ix_hub_products_cursor" not in {i["name"] for i in sa.inspect(db).get_indexes("hub_products")}
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM hub_products WHERE sku = 'OLD-1'")).scalar() == "kept"
    finally:
        db.dispose()
