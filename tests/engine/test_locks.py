"""One feed never runs twice at once, across real processes; a killed run's lease expires and the feed resumes.

Each test starts the CLI in separate processes (``tests/support/ops_cli.py``). The
store's read blocks on a named pipe after its first page, so the test knows
exactly where the first process is; later processes shift their clock past the
lease instead of waiting for it.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from engine.app import Engine
from engine.cli.common import EXIT_LOCKED
from engine.store.models import Execution, FeedState, Lock
from tests.support import opsstore, procs

ONLY_ITEMS = {"import_levels": {"enabled": False}, "check_stock": {"enabled": False}}


@pytest.fixture
def started() -> Iterator[list[procs.Proc]]:
    """Processes a test starts; any still running at the end is killed."""
    running: list[procs.Proc] = []
    yield running
    for proc in running:
        if proc.popen.poll() is None:
            proc.kill()


def setup(tmp_path: Path, db_url: str, *, lease: int = 60) -> tuple[Path, Path]:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    settings = {"items": 12, "page_size": 5, "gate": str(gate), "gate_after": 1}
    # The gate says page 1 is committed only where the store is read in the run's own process: a
    # read-ahead process (forked before the run starts, for `run FEED`) reaches it before any commit.
    config = opsstore.write_config(tmp_path, db_url, {"shop": {"settings": settings, "feeds": ONLY_ITEMS}},
                                   scheduler={"lock_lease_seconds": lease}, read_ahead=False)
    return config, gate


def aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC times."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rows(config: Path) -> tuple[list[Execution], list[Lock], dict[str, int], Any]:
    with Engine.from_config(config, plugins=[opsstore]) as engine:
        with engine.sessions() as s:
            executions = list(s.scalars(select(Execution).order_by(Execution.id)))
            held = list(s.scalars(select(Lock)))
            state = s.get(FeedState, ("shop", "import_items"))
        return executions, held, opsstore.write_counts(engine.sessions), state


def test_a_second_run_is_refused_and_a_killed_run_resumes_after_its_lease(tmp_path: Path, db_url: str,
                                                                          started: list[procs.Proc]) -> None:
    config, gate = setup(tmp_path, db_url)
    first = procs.Proc(config, "run", "import_items", "--integration", "shop", "--json")
    started.append(first)
    first.wait_for("GATE shop 1")  # page 1 is committed; the process is inside the store read
    [running], [lock], written, _ = rows(config)
    assert running.status == "running" and lock.execution_id == running.id
    assert written == {str(i): 1 for i in range(1, 6)}

    second = procs.run(config, "run", "import_items", "--integration", "shop")
    assert second.returncode == EXIT_LOCKED, second.stderr
    assert "already running since" in second.stderr and f"execution {running.id}" in second.stderr
    assert "Traceback" not in second.stderr
    as_json = procs.run(config, "run", "import_items", "--integration", "shop", "--json")
    assert as_json.returncode == EXIT_LOCKED
    answer = json.loads(as_json.stdout)  # a script reading stdout gets JSON here too
    assert (answer["status"], answer["execution_id"]) == ("locked", running.id)

    first.kill()  # kill -9: no lock release, no execution row closed
    os.unlink(gate)  # later reads do not block
    blocked = procs.run(config, "run", "import_items", "--integration", "shop")
    assert blocked.returncode == EXIT_LOCKED, "the dead process's lease has not run out yet"

    resumed = procs.run(config, "run", "import_items", "--integration", "shop", "--json", offset=61)
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    assert out["status"] == "success" and out["cursor_before"] == {"after": 5}
    assert out["counts"]["read"] == 7 and out["counts"]["created"] == 7 and out["execution_id"] != running.id

    executions, held, written, state = rows(config)
    assert [(e.id, e.status) for e in executions] == [(running.id, "failed"), (out["execution_id"], "success")]
    assert "stopped without finishing it" in (executions[0].message or "")
    assert executions[0].cursor_after == {"after": 5}
    assert held == [] and state.last_status == "success"
    assert written == {str(i): 1 for i in range(1, 13)}  # nothing lost, nothing doubled


def test_serve_stops_on_sigterm_after_the_page_in_hand_and_resumes_next_time(tmp_path: Path, db_url: str,
                                                                             started: list[procs.Proc]) -> None:
    config, gate = setup(tmp_path, db_url)
    server = procs.Proc(config, "serve", "--pool", "2")
    started.append(server)
    server.wait_for("serving 1 integration(s)")
    server.wait_for("GATE shop 1")
    server.popen.send_signal(signal.SIGTERM)
    server.wait_for("stopping: waiting for 1 running feed(s)")
    opsstore.open_gate(gate)  # the page in hand (page 2) completes, then the run ends
    assert server.finish() == 0, server.output()
    assert "shop/import_items run: interrupted" in server.output()
    assert server.lines[-1].endswith("stopped")

    [ex], held, written, state = rows(config)
    assert ex.status == "interrupted" and ex.counts["read"] == 10 and ex.cursor_after == {"after": 10}
    assert held == [] and state.last_status == "interrupted"
    assert written == {str(i): 1 for i in range(1, 11)}

    os.unlink(gate)
    again = procs.run(config, "serve", "--once")
    assert again.returncode == 0, again.stderr
    assert "shop/import_items run: success" in again.stdout
    executions, _, written, _ = rows(config)
    assert executions[-1].counts["read"] == 2 and executions[-1].cursor_before == {"after": 10}
    assert written == {str(i): 1 for i in range(1, 13)}


def test_a_run_keeps_its_lease_through_a_page_that_outlasts_it(tmp_path: Path, db_url: str,
                                                                started: list[procs.Proc]) -> None:
    config, gate = setup(tmp_path, db_url, lease=2)
    first = procs.Proc(config, "--verbose", "run", "import_items", "--integration", "shop", "--json")
    started.append(first)
    first.wait_for("GATE shop 1")  # page 1 is committed; the run is stuck inside the store's read
    # A renewal every third of the lease: the third comes once the lease it started with has run out.
    first.wait_for("renewed the lease of shop/import_items", count=3)
    [running], [lock], _, _ = rows(config)
    assert running.status == "running" and lock.execution_id == running.id
    assert aware(lock.lease_until) > aware(lock.acquired_at) + timedelta(seconds=2)

    second = procs.run(config, "run", "import_items", "--integration", "shop", offset=0.3)
    assert second.returncode == EXIT_LOCKED, second.stderr  # the first run's lease is alive: no takeover
    assert f"execution {running.id}" in second.stderr

    opsstore.open_gate(gate)
    assert first.finish() == 0, first.output()
    executions, held, written, state = rows(config)
    assert [e.status for e in executions] == ["success"] and held == [] and state.last_status == "success"
    assert written == {str(i): 1 for i in range(1, 13)}


def test_a_run_whose_lease_was_taken_over_stops_before_its_next_page(tmp_path: Path, db_url: str,
                                                                     started: list[procs.Proc]) -> None:
    config, gate = setup(tmp_path, db_url, lease=2)
    first = procs.Proc(config, "run", "import_items", "--integration", "shop", "--json")
    started.append(first)
    first.wait_for("GATE shop 1")
    with Engine.from_config(config, plugins=[opsstore]) as engine, engine.sessions.begin() as s:
        # What a worker does when the lease has run out (this process was frozen, say): it takes the feed.
        s.execute(update(Lock).values(holder="elsewhere:1:takeover"))
    first.wait_for("lost the lease of feed 'import_items'")
    opsstore.open_gate(gate)  # page 2 arrives; it must not be written
    assert first.finish() != 0
    executions, [lock], written, _ = rows(config)
    assert [e.status for e in executions] == ["failed"] and "lost the lease" in (executions[0].message or "")
    assert lock.holder == "elsewhere:1:takeover"  # the finished run does not release what it no longer holds
    assert written == {str(i): 1 for i in range(1, 6)}
