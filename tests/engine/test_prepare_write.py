"""A write target's ``prepare_write`` runs where the page is prepared; its records are what ``write`` gets."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from engine import readahead
from engine.connector import RunContext, WriteOutcome
from plugins.connect.connector import HubConnector
from plugins.connect.values import PREPARED
from tests.support import memstore

PRODUCTS, PAGE = 25, 3  # 9 pages: enough for a reader to be forked after the first


@pytest.fixture(autouse=True)
def _forking_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readahead, "available", lambda: True)  # idle server threads of the session (test_early_read)


def build(db_url: str, tmp_path: Path) -> Any:
    return memstore.build(memstore.config(db_url, tmp_path / "data",
                                          {"shop": {"settings": {"products": PRODUCTS, "page_size": PAGE}}}))


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "read-ahead"])
def test_the_hub_writes_the_records_its_prepare_write_made(db_url: str, tmp_path: Path, read_ahead: bool,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    got: list[bool] = []
    write = HubConnector.write

    def spy(self: HubConnector, resource: str, records: Sequence[dict[str, Any]], *,
            ctx: RunContext) -> Sequence[WriteOutcome]:
        got.extend(PREPARED in r for r in records)
        return write(self, resource, records, ctx=ctx)

    monkeypatch.setattr(HubConnector, "write", spy)
    with build(db_url, tmp_path) as engine:
        info = engine.run("import_products", "shop", read_ahead=read_ahead)
        assert info.status == "success" and info.counts["read"] == PRODUCTS
        assert info.counts["created"] == len(engine.hub_list("products")) == len(got)
    assert all(got)  # every record came prepared, wherever the page was prepared


def test_a_prepare_write_that_loses_records_fails_the_run_naming_it(db_url: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(HubConnector, "prepare_write", lambda self, resource, records: list(records)[1:])
    with build(db_url, tmp_path) as engine:
        info = engine.run("import_products", "shop")
        assert info.status == "failed"
        assert "connector 'connect' prepare_write('products') returned" in (info.message or "")
        assert "it must return one record per record, in order" in (info.message or "")
        assert engine.hub_list("products") == []


def test_a_prepare_write_that_raises_fails_the_run_naming_it(db_url: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: HubConnector, resource: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        raise KeyError("price")

    monkeypatch.setattr(HubConnector, "prepare_write", broken)
    with build(db_url, tmp_path) as engine:
        info = engine.run("import_products", "shop")
        assert info.status == "failed"
        assert "connector 'connect' prepare_write('products') raised KeyError: 'price'" in (info.message or "")
        assert engine.hub_list("products") == []
