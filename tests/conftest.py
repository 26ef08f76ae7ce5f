"""Shared fixtures: a real database per test (SQLite file and PostgreSQL), a clean environment."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("CONNECT_ENGINE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
_pg_ok: bool | None = None


def pg_available() -> bool:
    """True if the test PostgreSQL answers (checked once per session)."""
    global _pg_ok
    if _pg_ok is None:
        import sqlalchemy as sa

        try:
            eng = sa.create_engine(PG_URL)
            with eng.connect() as conn:
                conn.execute(sa.text("select 1"))
            eng.dispose()
            _pg_ok = True
        except Exception:
            _pg_ok = False
    return _pg_ok


def require_pg() -> None:
    """Skip without PostgreSQL; under CI (CI=true) fail instead, so it is never silently untested."""
    if not pg_available():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"PostgreSQL is required under CI and did not answer at {PG_URL}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")


@pytest.fixture(scope="session")
def yaml_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The suite's own YAML cache (engine.yamlcache): used as in production, never the user's."""
    return str(tmp_path_factory.mktemp("yaml-cache"))


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch, yaml_cache_dir: str) -> None:
    for name in list(os.environ):
        if name.startswith("CONNECT_ENGINE_") and name != "CONNECT_ENGINE_TEST_PG":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CONNECT_ENGINE_CACHE_DIR", yaml_cache_dir)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL to an empty database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'engine.db'}"
        return
    require_pg()
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def second_db(db_url: str, tmp_path: Path) -> Iterator[str]:
    """A database beside the test's own: a file next to it, or a second PostgreSQL schema."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'second.db'}"
        return
    base, schema = db_url.rsplit("search_path%3D", 1)
    schema += "_2"
    import sqlalchemy

    admin = sqlalchemy.create_engine(db_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}search_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
