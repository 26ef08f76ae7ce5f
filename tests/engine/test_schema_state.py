"""The engine knows the schema is current without importing Alembic, and is right about it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from engine.store import migrate, schema_state
from engine.store.db import make_db

HUB = str(Path(__file__).resolve().parents[2] / "plugins" / "connect" / "migrations")


def test_script_heads_are_what_the_version_table_holds_when_current(tmp_path: Path) -> None:
    # the hub branch depends on engine_0001, so only its head connect_0002 is recorded
    assert schema_state.script_heads([str(schema_state.CORE_VERSIONS), HUB]) == {"connect_0002"}
    (tmp_path / "r2.py").write_text('revision: str = "engine_0002"\ndown_revision = "engine_0001"\n')
    assert schema_state.script_heads([str(schema_state.CORE_VERSIONS), HUB, str(tmp_path)]) == {
        "engine_0002", "connect_0002"}
    (tmp_path / "broken.py").write_text("nothing to see\n")
    assert schema_state.script_heads([str(tmp_path)]) is None


def test_is_current_only_after_an_upgrade(db_url: str) -> None:
    db, _ = make_db(db_url)
    folders = [str(schema_state.CORE_VERSIONS), HUB]
    try:
        assert not schema_state.is_current(db, folders)  # empty database: no version table
        migrate.upgrade(db, folders)
        assert schema_state.is_current(db, folders)
        with db.begin() as conn:
            conn.execute(text("DELETE FROM ce_alembic_version WHERE version_num = 'connect_0002'"))
        assert not schema_state.is_current(db, folders)  # one branch behind
    finally:
        db.dispose()
