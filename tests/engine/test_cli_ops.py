"""The operations commands: run, run --due, serve --once, executions, notifications, parked, integrations."""

from __future__ import annotations

import io
import json
import re
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from engine.cli import cli
from engine.cli.common import EXIT_FAILED
from engine.progress import ProgressLine
from engine.store.records import COUNT_KEYS
from tests.support import opsstore
from tests.support.opsstore import Clock, make_engine

T0 = datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def engine(tmp_path: Path, db_url: str, clock: Clock) -> Iterator[Any]:
    integrations = {"shop": {"settings": {"items": 4}}, "down": {"settings": {"items": 4, "fail_read": True}}}
    with make_engine(tmp_path, db_url, integrations, clock) as eng:
        yield eng


def invoke(engine: Any, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", "unused.yaml", *args], obj={"engine": engine})


def test_run_prints_the_execution_and_exits_by_status(engine: Any) -> None:
    ok = invoke(engine, "run", "import_items", "--integration", "shop", "--json")
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout)
    assert out["status"] == "success" and isinstance(out["execution_id"], int)
    assert out["counts"] == {**dict.fromkeys(COUNT_KEYS, 0), "read": 4, "created": 4}

    text = invoke(engine, "run", "import_levels", "--integration", "shop")
    assert text.exit_code == 0
    assert re.search(r"execution \d+: feed import_levels of shop \(manual\) success in", text.stdout)
    assert "read 4, created 4, updated 0, unchanged 0, info 0, parked 0, errors 0" in text.stdout

    again = invoke(engine, "run", "import_levels", "--integration", "shop", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["status"] == "skipped"
    assert "runs once" in json.loads(again.stdout)["message"]
    forced = invoke(engine, "run", "import_levels", "--integration", "shop", "--force", "--json")
    assert json.loads(forced.stdout)["status"] == "success"

    failed = invoke(engine, "run", "import_items", "--integration", "down")
    assert failed.exit_code == EXIT_FAILED and "failed" in failed.stdout and "503" in failed.stdout

    unknown = invoke(engine, "run", "import_itms", "--integration", "shop")
    assert unknown.exit_code == 1 and "has no feed 'import_itms'" in unknown.stderr
    assert "Traceback" not in unknown.output
    assert invoke(engine, "run").exit_code == 2
    assert invoke(engine, "run", "import_items", "--due").exit_code == 2


def test_run_due_runs_what_is_due_once(engine: Any, clock: Clock) -> None:
    first = invoke(engine, "run", "--due", "--json", "--pool", "1")
    assert first.exit_code == EXIT_FAILED  # the integration whose store is down failed
    results = json.loads(first.stdout)["results"]
    assert {(r["integration"], r["feed"], r["status"]) for r in results} == {
        ("shop", "import_items", "success"), ("shop", "import_levels", "success"),
        ("down", "import_items", "failed"), ("down", "import_levels", "failed")}
    assert {r["execution"]["trigger"] for r in results} == {"due"}
    # The stock checks waited for the one-time stock imports: shop's is now due, down's still waits.
    checks = json.loads(invoke(engine, "run", "--due", "--json").stdout)["results"]
    assert [(r["integration"], r["feed"], r["status"]) for r in checks] == [("shop", "check_stock", "success")]
    quiet = invoke(engine, "run", "--due")
    assert quiet.exit_code == 0 and quiet.stdout.strip() == "nothing is due"
    clock.advance(minutes=15)
    text = invoke(engine, "run", "--due")
    assert "shop/import_items run (schedule): success, execution" in text.stdout


def test_serve_once_runs_what_is_due_and_exits_zero(engine: Any) -> None:
    result = invoke(engine, "serve", "--once", "--pool", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "serving 2 integration(s), 8 feed(s); pool 2, time zone UTC; once" in lines[0]
    assert any("shop/import_items run: success (execution" in line for line in lines)
    assert any("down/import_items run: failed" in line and "503" in line for line in lines)
    assert lines[-1].endswith("stopped")


def test_executions_table_filters_json_and_detail(engine: Any) -> None:
    opsstore.edit(engine.config.data_dir, "shop", 2, status="pending")
    opsstore.edit(engine.config.data_dir, "shop", 3, status="broken")
    invoke(engine, "run", "import_items", "--integration", "shop")
    invoke(engine, "run", "import_items", "--integration", "down")
    table = invoke(engine, "executions").stdout.splitlines()
    assert table[0].split() == ["id", "feed", "integration", "trigger", "status", "read", "new", "upd", "same",
                                "info", "parked", "err", "duration", "when"]
    assert [row.split()[2:5] for row in table[1:]] == [["down", "manual", "failed"], ["shop", "manual", "partial"]]
    assert table[2].split()[5:12] == ["4", "2", "0", "0", "0", "1", "1"]
    assert "2024-05-01 10:00:05" in table[2]

    only = json.loads(invoke(engine, "executions", "--status", "failed", "--json").stdout)["executions"]
    assert [(e["integration"], e["status"]) for e in only] == [("down", "failed")]
    assert json.loads(invoke(engine, "executions", "--integration", "shop", "--limit", "5", "--json").stdout)[
        "executions"][0]["counts"]["parked"] == 1
    assert invoke(engine, "executions", "--feed", "nope").stdout.strip() == "no executions match"

    shop_id = only[0]["id"] - 1
    detail = invoke(engine, "executions", "show", str(shop_id)).stdout
    assert f"execution {shop_id}" in detail and "status       partial" in detail
    assert "[retry] record 2: item S2 is pending" in detail
    assert "[error] record 3: item S3 is broken in the store" in detail
    as_json = json.loads(invoke(engine, "executions", "show", str(shop_id), "--json").stdout)
    assert {e["severity"] for e in as_json["events"]} == {"retry", "error"}
    missing = invoke(engine, "executions", "show", "999")
    assert missing.exit_code == 1 and "no execution 999" in missing.stderr


def test_the_bell_lists_acknowledges_and_a_fixed_cause_stops_ringing(engine: Any, clock: Clock) -> None:
    assert invoke(engine, "notifications").stdout.startswith("nothing needs you")
    opsstore.edit(engine.config.data_dir, "shop", 3, status="broken")
    invoke(engine, "run", "import_items", "--integration", "shop")
    text = invoke(engine, "notifications").stdout
    assert "shop / import_items  record S3 (key 3)  once" in text
    assert "item S3 is broken in the store" in text and "what to do: Repair the item in the store." in text

    invoke(engine, "run", "import_levels", "--integration", "shop")
    opsstore.edit(engine.config.data_dir, "shop", 2, qty=50)  # the store and the hub now disagree on S2
    for _ in range(2):
        clock.advance(minutes=1)
        invoke(engine, "run", "check_stock", "--integration", "shop")
    bell = json.loads(invoke(engine, "notifications", "--json").stdout)["notifications"]
    mismatch = next(n for n in bell if n["feed"] == "check_stock")
    assert mismatch["count"] == 2 and "S2: qty: 50 in store, 2 in hub" in mismatch["message"]

    broken = next(n for n in bell if n["feed"] == "import_items")
    acked = invoke(engine, "notifications", "ack", str(broken["id"]))
    assert acked.exit_code == 0 and "acknowledged 1" in acked.stdout
    assert [n["feed"] for n in json.loads(invoke(engine, "notifications", "--json").stdout)["notifications"]] == [
        "check_stock"]

    opsstore.edit(engine.config.data_dir, "shop", 2, qty=2)  # fixed in the store
    clock.advance(minutes=1)
    invoke(engine, "run", "check_stock", "--integration", "shop")
    assert invoke(engine, "notifications").stdout.startswith("nothing needs you")
    everything = json.loads(invoke(engine, "notifications", "--all", "--json").stdout)["notifications"]
    assert len(everything) == 2
    assert invoke(engine, "notifications", "ack", "4242").exit_code == EXIT_FAILED
    assert invoke(engine, "notifications", "ack").exit_code == 2
    assert invoke(engine, "notifications", "ack", "--all").exit_code == 0


def test_parked_commands(engine: Any) -> None:
    assert invoke(engine, "parked").stdout.strip() == "no parked records"
    for item in (2, 3):
        opsstore.edit(engine.config.data_dir, "shop", item, status="pending")
    invoke(engine, "run", "import_items", "--integration", "shop")
    table = invoke(engine, "parked").stdout.splitlines()
    assert table[0].split()[:5] == ["id", "integration", "feed", "record", "checks"]
    assert "S2" in table[1] and "1/4" in table[1] and "2024-05-01 11:00:00" in table[1]
    assert table[1].endswith("item S2 is pending")
    listed = json.loads(invoke(engine, "parked", "--feed", "import_items", "--json").stdout)["parked"]
    ids = {p["record_label"]: p["id"] for p in listed}

    opsstore.edit(engine.config.data_dir, "shop", 2, status="ok")
    retried = invoke(engine, "parked", "retry", str(ids["S2"]))
    assert retried.exit_code == 0
    assert re.search(r"shop/import_items: 1 record\(s\) re-checked, success \(execution \d+, .*: written 1, "
                     r"still parked 0, errors 0, info 0\)", retried.stdout)
    dropped = invoke(engine, "parked", "drop", str(ids["S3"]), "--reason", "discontinued")
    assert dropped.stdout.strip() == f"dropped {ids['S3']}: shop/import_items record S3"
    assert invoke(engine, "parked", "retry", "--all").stdout.strip() == "no parked records"
    assert invoke(engine, "parked", "retry").exit_code == 2
    missing = invoke(engine, "parked", "drop", "999")
    assert missing.exit_code == 1 and "no parked record with id 999" in missing.stderr


def test_integrations_list_go_live_go_test_and_history(engine: Any, clock: Clock) -> None:
    listed = json.loads(invoke(engine, "integrations", "list", "--json").stdout)["integrations"]
    assert [(i["name"], i["mode"], i["feeds"]) for i in listed] == [("down", "test", 4), ("shop", "test", 4)]

    refused = invoke(engine, "integrations", "go-live", "shop")
    assert refused.exit_code == EXIT_FAILED
    assert "[ok  ] credentials can write: write scope granted" in refused.stdout
    assert "[FAIL] stock levels were imported: not run yet: import_levels" in refused.stdout
    assert "refused: integration 'shop' stays in test mode; 2 check(s) failed" in refused.stdout

    invoke(engine, "run", "import_levels", "--integration", "shop")
    clock.advance(minutes=1)
    invoke(engine, "run", "check_stock", "--integration", "shop")
    live = invoke(engine, "integrations", "go-live", "shop", "--reason", "launch")
    assert live.exit_code == 0 and "integration 'shop' is now LIVE" in live.stdout
    assert "shop         opsstore   live  4/4" in invoke(engine, "integrations", "list").stdout.splitlines()

    forced = json.loads(invoke(engine, "integrations", "go-live", "down", "--force", "--json").stdout)
    assert forced["switched"] and forced["forced"] and not forced["ok"]

    back = invoke(engine, "integrations", "go-test", "shop", "--reason", "maintenance")
    assert back.stdout.strip() == "integration 'shop' is now in TEST mode: outbound feeds are refused"
    history = invoke(engine, "integrations", "history", "shop").stdout.splitlines()
    assert history[0].split() == ["when", "integration", "switch", "forced", "reason"]
    assert [line.split("  ")[-1].strip() for line in history[1:]] == [
        "initial mode from the configuration", "launch", "maintenance"]
    assert "test -> live" in history[2] and "2024-05-01 10:01:05" in history[2]
    every = json.loads(invoke(engine, "integrations", "history", "--json").stdout)["history"]
    assert [h["forced"] for h in every if h["integration"] == "down"] == [False, True]
    unknown = invoke(engine, "integrations", "go-live", "nope")
    assert unknown.exit_code == 1 and "unknown integration 'nope'" in unknown.stderr


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_on_a_terminal_at_most_twice_a_second_and_stays_quiet_otherwise() -> None:
    now = [100.0]
    term = FakeTerminal()
    line = ProgressLine("feed import_orders of shop", stream=term, clock=lambda: now[0])
    for t, read in ((100.2, 100), (100.4, 200), (100.8, 400), (102.0, 1000)):
        now[0] = t
        line({"read": read}, 5000)
    drawn = [d.strip() for d in term.getvalue().split("\r") if d.strip()]
    assert drawn == ["feed import_orders of shop: 100 of ~5000 records, 500 rec/s",
                     "feed import_orders of shop: 400 of ~5000 records, 500 rec/s",
                     "feed import_orders of shop: 1000 of ~5000 records, 500 rec/s"]
    line.close()
    assert term.getvalue().endswith("\r")

    pipe = io.StringIO()
    quiet = ProgressLine("feed x", stream=pipe, clock=lambda: now[0])
    quiet({"read": 10}, None)
    quiet.close()
    assert pipe.getvalue() == "" and quiet.records == 10


def test_the_webhook_observer_of_the_docs_posts_notifications(tmp_path: Path, db_url: str, clock: Clock,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", (DOCS / "operations.md").read_text(), re.S)
    source = next(b for b in blocks if "notification_raised" in b)
    plugin = types.ModuleType("bell_webhook")
    exec(compile(source, "docs/operations.md", "exec"), plugin.__dict__)
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("BELL_WEBHOOK_URL", f"http://127.0.0.1:{server.server_address[1]}/bell")
        integrations = {"shop": {"settings": {"items": 3}}, "down": {"settings": {"fail_read": True}}}
        with make_engine(tmp_path, db_url, integrations, clock, plugins=[plugin]) as engine:
            opsstore.edit(engine.config.data_dir, "shop", 3, status="broken")
            engine.run("import_items", "shop")
            failed = engine.run("import_items", "down")
    finally:
        server.shutdown()
        server.server_close()
    texts = [r["text"] for r in received]
    assert "[shop/import_items] item S3 is broken in the store" in texts
    assert any(t.startswith(f"[down/import_items] run {failed.id} failed: TransientError") for t in texts)
    bell = next(r for r in received if r.get("record") == "S3")
    assert bell["what_to_do"] == "Repair the item in the store." and bell["times"] == 1
