"""The public surface: engine/__init__ exports exactly the plugin API, and the core names no store."""

from __future__ import annotations

import re
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[2]


def test_exported_members() -> None:
    exported = {n for n in dir(engine) if not n.startswith("_") and n != "annotations"
                and not isinstance(getattr(engine, n), type(engine))}
    assert exported == set(engine.__all__)
    assert engine.__all__ == sorted(engine.__all__)


def test_engine_names_no_store() -> None:
    pattern = re.compile(r"shopify|magento|prestashop", re.IGNORECASE)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
