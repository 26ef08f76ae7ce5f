"""A connector's mistakes end the run (or fail the record) with a message naming the connector and what was expected.

The store and hub of the operations tests, made to misbehave one way at a time
(``MODE``), run ``import_items`` (store items -> hub items) through the engine.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from engine.app import Engine
from engine.connector import Connector, Page, RunContext, WriteOutcome
from engine.hookspecs import hookimpl
from tests.support import opsstore

MODE = {"now": ""}


class BadStore(opsstore.OpsStore):
    def read(self, resource: str, *, cursor: Any, ctx: RunContext) -> Iterator[Any]:
        mode = MODE["now"]
        rows = self._items()
        if mode == "plain_exception":
            raise ValueError("boom from the store")
        if mode == "list":
            yield rows
        elif mode == "records_generator":
            yield Page(records=(r for r in rows))  # type: ignore[arg-type]
        elif mode == "set_cursor":
            yield Page(records=rows, cursor={"seen": {1, 2}})
        elif mode == "nan_cursor":
            yield Page(records=rows, cursor={"after": math.nan})
        elif mode == "text_total":
            yield Page(records=rows, cursor={"after": rows[-1]["id"]}, total="many")  # type: ignore[arg-type]
        elif mode == "keyless":
            yield Page(records=[{k: v for k, v in r.items() if k != "id" or r["id"] > 2} for r in rows])
        elif mode == "keyless_rules":  # without keys, one a rule would park and one a rule rings for
            statuses = {1: "pending", 2: "broken"}
            yield Page(records=[{k: v for k, v in r.items() if k != "id"} | {"status": statuses[r["id"]]}
                                if r["id"] in statuses else r for r in rows])
        else:
            yield Page(records=rows, cursor={"after": rows[-1]["id"]})


class BadHub(opsstore.OpsHub):
    def write(self, resource: str, records: Sequence[dict[str, Any]], *, ctx: RunContext) -> Any:
        mode = MODE["now"]
        if mode == "write_raises":
            raise ValueError("boom from the hub")
        out = list(super().write(resource, records, ctx=ctx))
        if mode == "dict_outcomes":
            return [{"key": o.key, "action": o.action} for o in out]
        if mode == "bad_action":
            return [WriteOutcome(o.key, "ok") for o in out]  # type: ignore[arg-type]
        if mode == "plain_error":
            return [WriteOutcome(o.key, "error", error=ValueError("no room")) if o.key == "2" else o for o in out]
        return out


class Plugin:
    @staticmethod
    @hookimpl
    def register_connectors() -> list[type[Connector]]:
        return [BadStore, BadHub]


def run(tmp_path: Path, db_url: str, mode: str) -> tuple[Any, Engine]:
    MODE["now"] = mode
    config = opsstore.write_config(tmp_path, db_url, {"shop": {"settings": {"items": 4}}})
    engine = Engine.from_config(config, plugins=[Plugin()])
    return engine.run("import_items", "shop"), engine


@pytest.mark.parametrize(("mode", "message"), [
    ("list", "connector 'opsstore' read('items') yielded a list; expected engine.Page(records=[...]"),
    ("records_generator", "connector 'opsstore' read('items') yielded a Page whose records are a generator; "
                          "expected a list of dicts"),
    ("set_cursor", "connector 'opsstore' read('items') gave a cursor JSON cannot hold (Object of type set"),
    ("nan_cursor", "connector 'opsstore' read('items') gave a cursor JSON cannot hold (Out of range float"),
    ("plain_exception", "ConnectorError: connector 'opsstore' read('items') raised ValueError: boom from the store"),
    ("write_raises", "ConnectorError: connector 'opshub' write('items') raised ValueError: boom from the hub"),
    ("dict_outcomes", "connector 'opshub' write('items') returned a dict among its outcomes; "
                      "expected engine.WriteOutcome(key, action"),
    ("bad_action", "connector 'opshub' write('items') returned action 'ok'; expected one of created, updated, "
                   "unchanged, error"),
])
def test_a_connector_mistake_fails_the_run_naming_the_connector(tmp_path: Path, db_url: str, mode: str,
                                                                message: str) -> None:
    info, engine = run(tmp_path, db_url, mode)
    with engine:
        assert info.status == "failed"
        assert message in (info.message or ""), info.message
        assert "AttributeError" not in (info.message or "") and "KeyError" not in (info.message or "")
        assert opsstore.write_counts(engine.sessions) == {}  # nothing of the page was committed


def test_a_progress_total_that_is_not_a_count_is_ignored(tmp_path: Path, db_url: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    info, engine = run(tmp_path, db_url, "text_total")
    with engine:
        assert info.status == "success" and info.counts["created"] == 4
    assert "gave total='many', not a count: ignored" in caplog.text


def test_a_plain_exception_as_an_outcome_error_fails_that_record_alone(tmp_path: Path, db_url: str) -> None:
    info, engine = run(tmp_path, db_url, "plain_error")
    with engine:
        assert info.status == "partial" and info.counts["errors"] == 1 and info.counts["created"] == 3
        [note] = engine.notifications()
        assert "ValueError: no room" in note.message


def test_source_records_without_their_key_fail_alone_and_never_merge(tmp_path: Path, db_url: str) -> None:
    info, engine = run(tmp_path, db_url, "keyless")
    with engine:
        assert info.status == "partial" and info.counts["errors"] == 2 and info.counts["created"] == 2
        assert sorted(opsstore.hub_rows(engine.sessions)) == ["3", "4"]
        messages = sorted(n.message for n in engine.notifications())
        assert messages == [f"record 'S{i}' of store resource 'items' has no 'id', the key that identifies it; "
                            "it was not written (feed import_items)" for i in (1, 2)]


def test_a_keyless_record_goes_through_the_rules_first_but_is_never_parked(tmp_path: Path, db_url: str) -> None:
    info, engine = run(tmp_path, db_url, "keyless_rules")
    with engine:
        assert (info.counts["parked"], info.counts["errors"], info.counts["created"]) == (0, 2, 2)
        messages = sorted(n.message for n in engine.notifications())
        assert messages == ["item S2 is broken in the store",  # the rule decided
                            "record 'S1' of store resource 'items' has no 'id', the key that identifies it; it was "
                            "not written (feed import_items)"]  # a rule would park it: there is nothing to park it by
