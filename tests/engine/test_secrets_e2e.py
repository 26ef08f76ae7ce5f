"""A store that leaks its own token everywhere: the engine never lets the value out.

memstore's ``echo_token`` makes it log its ``api_token`` and put it in every
error (a failing read, a refused write, a crash of its own). The token comes from
``${MEM_TOKEN}``; it must not appear in log output, execution rows, events,
notifications, observer calls, CLI output or configuration errors.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.app import Engine
from engine.cli import cli
from engine.errors import ConfigValidationError
from engine.store.models import Event, Execution, Notification
from tests.support import memstore
from tests.support.observers import Recorder
from tests.support.opsstore import Clock

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "mst_7f3a9c2e51b84d06aa"
LEAKY = {"api_token": "${MEM_TOKEN}", "echo_token": True, "products": 4}
SHOPS = {"shop": {"settings": {**LEAKY, "reject_skus": ["P1-2"]}},
         "down": {"settings": {**LEAKY, "fail_read": True}},
         "buggy": {"settings": {**LEAKY, "read_bug": True}}}


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEM_TOKEN", TOKEN)


def write_config(tmp_path: Path, db_url: str, shops: dict[str, Any]) -> Path:
    return memstore.write_config(tmp_path / "engine.yaml", db_url, tmp_path / "data", shops)


def invoke(engine: Engine | None, *args: str, config: Path | None = None) -> Any:
    obj: dict[str, Any] = {"engine": engine} if engine else {"plugins": memstore.plugin_list()}
    return CliRunner().invoke(cli, ["--config", str(config or "unused.yaml"), *args], obj=obj)


def stored_text(engine: Engine) -> str:
    """Every execution, event and notification row, as text."""
    with engine.sessions() as s:
        rows = [(e.message, e.counts, e.cursor_before, e.cursor_after, e.holder) for e in s.scalars(select(Execution))]
        rows += [(e.record_key, e.message, e.details) for e in s.scalars(select(Event))]
        rows += [(n.message, n.hint, n.details, n.record_label) for n in s.scalars(select(Notification))]
    return json.dumps(rows, default=str)


def test_a_leaked_token_never_reaches_logs_rows_observers_or_the_cli(tmp_path: Path, db_url: str,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    with memstore.build(write_config(tmp_path, db_url, SHOPS), clock=Clock(datetime(2024, 5, 1, tzinfo=UTC)),
                        extra=[recorder]) as engine:
        assert engine.config.integrations["shop"].settings["api_token"] == TOKEN  # the store does get it
        assert engine.run("import_products", "shop").status == "success"
        assert engine.run("import_stock", "shop").status == "success"
        engine.go_live("shop", force=True)
        pushed = engine.run("export_stock", "shop")  # the store refuses P1-2 and quotes its token
        assert (pushed.status, pushed.counts["errors"]) == ("partial", 1)
        down = engine.run("import_products", "down")  # a 503 that quotes the token
        assert down.status == "failed" and "503 Service Unavailable (sent with token ***)" in (down.message or "")
        buggy = engine.run("import_products", "buggy")  # a plain exception with the token, logged with traceback
        assert buggy.status == "failed" and "tripped over its own feet (sent with token ***)" in (buggy.message or "")

        bells = engine.notifications()
        assert {n.integration for n in bells} == {"shop", "down", "buggy"}
        refused = next(n for n in bells if n.integration == "shop")
        assert refused.record_key == "P1-2" and "quantity locked (sent with token ***)" in refused.message

        outputs = [invoke(engine, "run", "import_products", "--integration", "down", "--json"),
                   invoke(engine, "run", "import_products", "--integration", "buggy"),
                   invoke(engine, "executions", "--json"), invoke(engine, "executions"),
                   invoke(engine, "executions", "show", str(pushed.id)),
                   invoke(engine, "executions", "show", str(down.id), "--json"),
                   invoke(engine, "notifications", "--json"), invoke(engine, "notifications")]
        assert [r.exit_code for r in outputs] == [1, 1, 0, 0, 0, 0, 0, 0]
        assert "***" in outputs[0].stdout and "***" in outputs[6].stdout  # the messages are there, masked
        for result in outputs:
            assert TOKEN not in result.output

        assert "***" in stored_text(engine)
        assert TOKEN not in stored_text(engine)
    assert TOKEN not in repr(recorder.executions) + repr(recorder.notifications)
    assert "reads products with token ***" in caplog.text and "Traceback" in caplog.text
    assert TOKEN not in caplog.text


def test_configuration_errors_never_show_the_token(tmp_path: Path, db_url: str) -> None:
    shops = {"shop": {"settings": {**LEAKY, "products": "${MEM_TOKEN}", "page_size": 0}}}
    with pytest.raises(ConfigValidationError) as err:
        memstore.build(memstore.config(db_url, tmp_path / "data", shops))
    text = err.value.render()
    assert "integrations.shop.settings.products" in text and "integrations.shop.settings.page_size" in text
    assert TOKEN not in text and TOKEN not in str(err.value)

    config = write_config(tmp_path, db_url, shops)
    for args in (("run", "import_products", "--integration", "shop"), ("executions",), ("notifications",),
                 ("validate",)):
        result = invoke(None, *args, config=config)
        assert result.exit_code == 1 and "settings.products" in result.output
        assert TOKEN not in result.output and "Traceback" not in result.output


def test_a_command_line_without_logging_configured_prints_no_token(tmp_path: Path, db_url: str) -> None:
    """A real ``connect-engine`` process: log records end on stderr through logging's last resort."""
    config = write_config(tmp_path, db_url, SHOPS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env.update(PYTHONPATH=str(ROOT), MEM_TOKEN=TOKEN)
    for integration in ("shop", "down", "buggy"):
        proc = subprocess.run([sys.executable, "-m", "tests.support.memstore", "--config", str(config), "run",
                               "import_products", "--integration", integration], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == (0 if integration == "shop" else 1), proc.stderr
        assert "reads products with token ***" in proc.stderr  # the store's own log line, masked
        assert TOKEN not in proc.stdout + proc.stderr
