"""The core commands on a real configuration file: run, executions, notifications (+ ack), and bad input.

Every invocation builds its engine from engine.yaml like a user's would, with the
memstore and hub plugins handed in through ``obj["plugins"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.cli import cli
from engine.store.records import COUNT_KEYS
from tests.support import memstore

SHOPS = {"shop": {"settings": {"products": 4, "orders": 24}}, "down": {"settings": {"fail_read": True}}}


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    return memstore.write_config(tmp_path / "engine.yaml", db_url, tmp_path / "data", SHOPS)


def invoke(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], obj={"plugins": memstore.plugin_list()})


def run_json(config: Path, feed: str, integration: str, *extra: str) -> tuple[int, dict[str, Any]]:
    result = invoke(config, "run", feed, "--integration", integration, "--json", *extra)
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def test_run_prints_status_counts_and_execution_id_and_exits_by_status(config: Path) -> None:
    code, ok = run_json(config, "import_products", "shop")
    assert (code, ok["status"]) == (0, "success")
    assert ok["counts"] == {**dict.fromkeys(COUNT_KEYS, 0), "read": 4, "created": 8}
    assert isinstance(ok["execution_id"], int) and ok["execution_id"] == ok["id"]

    code, partial = run_json(config, "import_orders", "shop")
    assert (code, partial["status"]) == (0, "partial")
    assert partial["counts"] == {"read": 24, "created": 11, "updated": 0, "unchanged": 0, "info": 6, "parked": 6,
                                 "errors": 1}

    code, skipped = run_json(config, "export_stock", "shop")
    assert (code, skipped["status"]) == (0, "skipped") and "test mode" in skipped["message"]

    code, failed = run_json(config, "import_orders", "down")
    assert (code, failed["status"]) == (1, "failed")
    assert failed["message"] == "TransientError: store answered 503 Service Unavailable"
    assert len({ok["execution_id"], partial["execution_id"], skipped["execution_id"], failed["execution_id"]}) == 4

    text = invoke(config, "run", "import_products", "--integration", "shop")
    assert text.exit_code == 0
    assert text.stdout.startswith(f"execution {failed['execution_id'] + 1}: feed import_products of shop (manual) "
                                  "success in ")
    assert "read 0, created 0, updated 0, unchanged 0, info 0, parked 0, errors 0" in text.stdout


def test_executions_and_notifications_list_as_json_and_the_bell_is_acknowledged(config: Path) -> None:
    run_json(config, "import_orders", "shop")
    run_json(config, "import_orders", "down")

    executions = json.loads(invoke(config, "executions", "--json").stdout)["executions"]
    assert [(e["integration"], e["status"]) for e in executions] == [("down", "failed"), ("shop", "partial")]
    assert executions[1]["counts"]["parked"] == 6 and executions[1]["finished_at"] is not None
    only = json.loads(invoke(config, "executions", "--status", "failed", "--json").stdout)["executions"]
    assert [e["id"] for e in only] == [executions[0]["id"]]

    bells = json.loads(invoke(config, "notifications", "--json").stdout)["notifications"]
    assert [(n["integration"], n["record_key"], n["count"]) for n in bells] == [("down", None, 1), ("shop", "22", 1)]
    down, order = bells
    assert order["message"] == "order #1022 ships by 'Pigeon', which has no carrier" and order["hint"]

    one = invoke(config, "notifications", "ack", str(order["id"]))
    assert (one.exit_code, one.stdout) == (0, "acknowledged 1 notification(s)\n")
    assert [n["id"] for n in json.loads(invoke(config, "notifications", "--json").stdout)["notifications"]] == [
        down["id"]]
    unknown = invoke(config, "notifications", "ack", "999")
    assert unknown.exit_code == 1 and "not open notifications" in unknown.stderr
    assert invoke(config, "notifications", "ack", "--all").stdout == "acknowledged 1 notification(s)\n"
    assert json.loads(invoke(config, "notifications", "--json").stdout)["notifications"] == []
    every = json.loads(invoke(config, "notifications", "--all", "--json").stdout)["notifications"]
    assert len(every) == 2 and all(n["acknowledged_at"] for n in every)
    assert invoke(config, "notifications", "ack", "1", "--all").exit_code == 2


@pytest.mark.parametrize(("args", "expected"), [
    (("run", "import_products", "--integration", "shpo"), "unknown integration 'shpo'; known: down, shop"),
    (("run", "import_prods", "--integration", "shop"),
     "integration 'shop' has no feed 'import_prods'; known: export_stock, import_orders, import_products, "
     "import_stock, stock_check"),
    (("executions", "show", "999"), "no execution 999"),
])
def test_bad_input_is_one_line_that_names_it_and_lists_the_known_ones(config: Path, args: tuple[str, ...],
                                                                      expected: str) -> None:
    result = invoke(config, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {expected}\n"


def test_a_missing_configuration_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = invoke(tmp_path / "nowhere.yaml", "run", "import_products", "--integration", "shop")
    assert result.exit_code == 1
    assert "nowhere.yaml" in result.stderr and "Traceback" not in result.output


def test_a_database_failure_mid_command_is_one_line_not_a_traceback() -> None:
    # A SQLite file another process holds past the busy timeout, a server gone mid-run: the driver's
    # error reaches the command, which says so in one line and exits 1.
    import sqlite3

    import click
    from sqlalchemy.exc import OperationalError

    from engine.cli.common import handle_errors

    @click.command()
    @handle_errors
    def busy() -> None:
        raise OperationalError("UPDATE ce_locks SET lease_until=?", {"lease_until": "secret"},
                               sqlite3.OperationalError("database is locked"))

    result = CliRunner().invoke(busy, [])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[0].startswith(
        "error: the database failed: OperationalError: database is locked (another process may hold it")
    assert "Traceback" not in result.output and "secret" not in result.output


@pytest.mark.parametrize("args", [("notifications",), ("executions",), ("parked",), ("hub", "products"),
                                  ("hub", "orders")])
def test_a_misspelt_integration_filter_is_an_error_not_an_all_clear(config: Path, args: tuple[str, ...]) -> None:
    result = invoke(config, *args, "--integration", "shoop")
    assert result.exit_code == 1, result.output
    assert "unknown integration 'shoop'; known: down, shop" in result.output
    assert invoke(config, *args, "--integration", "shop").exit_code == 0
