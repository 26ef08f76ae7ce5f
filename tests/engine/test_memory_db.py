"""``database: sqlite://`` is one throwaway database for every thread of the engine, removed when it closes."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import memstore


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_shared_by_threads_and_gone_after_close(tmp_path: Path, url: str) -> None:
    engine = memstore.build(memstore.config(url, tmp_path / "data", {"shop": {"settings": {"products": 3}}}))
    with engine:
        assert engine.run("import_products", "shop").status == "success"
        seen: list[Any] = []

        def elsewhere() -> None:  # serve's workers, a run's lease keeper and a host's threads are other threads
            try:
                seen.append(len(engine.hub_list("products")))
                seen.append(engine.run("import_products", "shop").status)
            except Exception as exc:  # the assertion below shows it
                seen.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        assert seen[0] == len(engine.hub_list("products")) > 0, seen
        assert seen[1] == "success", seen
        scratch = engine.db.url.database
        assert scratch and os.path.exists(scratch)
    assert not [p for p in (scratch, scratch + "-wal", scratch + "-shm") if os.path.exists(p)]
