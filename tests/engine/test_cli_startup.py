"""What ``connect-engine`` pays before a command runs: plugin commands load on use, collection is held."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import engine.cli
from engine.cli.common import main_group

ROOT = Path(__file__).resolve().parents[2]


@click.command("hello")
def HELLO() -> None:  # noqa: N802 - a command object, named like the constants commands usually are
    """Say hello."""
    click.echo("hello")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def _gc_restored() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    gc.unfreeze()
    if not was:
        gc.disable()


def test_a_lazy_command_is_listed_and_imported_when_used() -> None:
    @main_group
    def group() -> None:
        """A root group."""

    group.add_lazy_command("greet", f"{__name__}:HELLO")  # type: ignore[attr-defined]

    assert "greet" in group.list_commands(click.Context(group))
    assert "greet" not in group.commands
    result = CliRunner().invoke(group, ["greet"])
    assert (result.exit_code, result.output) == (0, "hello\n")
    assert group.commands["greet"] is HELLO
    assert "greet" not in engine.cli.LAZY_COMMANDS  # each group keeps its own


def test_plugin_commands_are_registered_without_importing_them() -> None:
    proc = _python("import sys\nfrom engine.cli import add_plugin_commands, cli\nadd_plugin_commands(cli)\n"
                   "import click\nprint(sorted(m for m in ('plugins.shopify.demo', 'engine.app', 'alembic', "
                   "'importlib.metadata') if m in sys.modules), 'demo' in cli.list_commands(click.Context(cli)))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "True"]


def test_help_lists_the_plugin_command_without_importing_the_engine() -> None:
    proc = _python("import atexit, sys\nfrom engine.cli import main\nsys.argv = ['connect-engine', '--help']\n"
                   "atexit.register(lambda: print([m for m in ('alembic', 'sqlalchemy', 'engine.app', 'httpx') "
                   "if m in sys.modules], file=sys.stderr))\nmain()")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.split() == ["[]"]
    assert "  demo " in proc.stdout and "  db " in proc.stdout


SEEN: dict[str, bool] = {}


@click.command("probe")
def PROBE() -> None:  # noqa: N802
    """Record whether collection runs while a command runs."""
    SEEN["command"] = gc.isenabled()


def test_collection_is_held_through_start_up_and_resumed_for_the_command(
        monkeypatch: pytest.MonkeyPatch, _gc_restored: None) -> None:
    SEEN.clear()

    def add_plugin_commands(group: click.Group) -> None:
        SEEN["start-up"] = gc.isenabled()
        group.add_lazy_command("probe", f"{__name__}:PROBE")  # type: ignore[attr-defined]

    monkeypatch.setattr(engine.cli, "add_plugin_commands", add_plugin_commands)
    monkeypatch.setattr(engine.cli.cli, "lazy_commands", {**engine.cli.LAZY_COMMANDS})
    monkeypatch.setattr(sys, "argv", ["connect-engine", "probe"])
    monkeypatch.setattr(engine.cli, "leave", lambda code: sys.exit(code))  # not the test process's end
    try:
        with pytest.raises(SystemExit) as exit_:
            engine.cli.main()
    finally:
        engine.cli.cli.commands.pop("probe", None)

    assert exit_.value.code == 0
    assert SEEN == {"start-up": False, "command": True}
    assert gc.isenabled()


_NOT_ON_A_RUN = ("engine.scheduler", "engine.serve", "alembic", "engine.store.models", "plugins.connect.models",
                 "sqlalchemy.orm")


def _memstore_cli(tmp_path: Path, db_url: str, *args: str) -> tuple[dict[str, Any], list[str]]:
    """Run the command line in a fresh interpreter on the memstore plugin: its JSON output and what it loaded
    of ``_NOT_ON_A_RUN``."""
    from tests.support import memstore

    config = memstore.write_config(tmp_path / "engine.yaml", db_url, tmp_path / "data",
                                   {"shop": {"settings": {"products": 2}}})
    code = ("import json, sys\nfrom click.testing import CliRunner\nfrom engine.cli import cli\n"
            "from tests.support import memstore\n"
            "r = CliRunner().invoke(cli, ['--config', sys.argv[1], *sys.argv[2:], '--json'],"
            " obj={'plugins': memstore.plugin_list()})\n"
            "assert r.exit_code == 0, r.output\n"
            f"print(json.dumps([json.loads(r.output), sorted(m for m in {_NOT_ON_A_RUN!r} if m in sys.modules)]))")
    proc = _python(code, str(config), *args)
    assert proc.returncode == 0, proc.stderr
    output, loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    return output, loaded


def test_a_run_builds_its_engine_without_the_scheduler_or_the_orm(tmp_path: Path, db_url: str) -> None:
    # A run reads and writes the engine's and the hub's tables with Core connections: importing SQLAlchemy's
    # ORM, building the ORM classes and their mappers would cost its start-up about 55 ms more
    # (docs/decisions.md §26).
    output, loaded = _memstore_cli(tmp_path, db_url, "run", "import_products", "-i", "shop")
    assert (output["status"], loaded) == ("success", [])


def test_what_is_due_runs_without_the_orm(tmp_path: Path, db_url: str) -> None:
    # ``run --due`` (a host's cron) schedules with the scheduler, itself on Core connections too.
    output, loaded = _memstore_cli(tmp_path, db_url, "run", "--due")
    ran = [r["feed"] for r in output["results"] if r["status"] == "success"]
    assert "import_products" in ran
    assert loaded == ["engine.scheduler"]


def test_a_command_that_sends_no_request_loads_no_http_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The Shopify and hub plugins load httpx with their first request: listing executions never makes one.
    monkeypatch.setenv("STARTUP_SHOP_TOKEN", "token")
    config = tmp_path / "engine.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'engine.db'}\ndata_dir: {tmp_path / 'data'}\n"
                      f"feeds_dir: {ROOT / 'feeds.d'}\nmappings_dir: {ROOT / 'mappings'}\n"
                      "integrations:\n  shop:\n    connector: shopify\n    settings:\n"
                      "      shop_url: https://example.myshopify.com\n"
                      "      access_token: ${STARTUP_SHOP_TOKEN}\n", encoding="utf-8")
    proc = _python("import atexit, sys\nfrom engine.cli import main\n"
                   "atexit.register(lambda: print('httpx' in sys.modules, file=sys.stderr))\nmain()",
                   "--config", str(config), "executions", "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == "False"


LEAVING = """
import atexit, sys, threading
from engine.cli import leave
done = threading.Event()
def late():
    done.wait(0.3)
    print("thread finished", flush=True)
threading.Thread(target=late).start()
atexit.register(lambda: print("atexit ran"))
sys.stdout.write("x" * 200000)  # buffered, no newline: flushed by leave
sys.stdout.write("\\n")
leave(CODE)
"""


@pytest.mark.parametrize(("code", "status", "stderr"), [("3", 3, ""), ("None", 0, ""), ("'no config'", 1, "no config")])
def test_leaving_waits_for_threads_runs_atexit_and_flushes_output(code: str, status: int, stderr: str) -> None:
    proc = _python(LEAVING.replace("CODE", code))

    assert proc.returncode == status, proc.stderr
    assert proc.stdout.splitlines() == ["x" * 200000, "thread finished", "atexit ran"]
    assert proc.stderr.strip() == stderr


def test_a_command_on_an_in_memory_database_leaves_no_scratch_file(tmp_path: Path) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(f"database: 'sqlite://'\nfeeds_dir: {ROOT / 'feeds.d'}\nmappings_dir: {ROOT / 'mappings'}\n"
                      "integrations:\n  shop:\n    connector: shopify\n    settings:\n"
                      "      shop_url: http://127.0.0.1:9\n      access_token: ${SHOP_TOKEN}\n", encoding="utf-8")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECT_ENGINE_")}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(scratch), SHOP_TOKEN="token")
    proc = subprocess.run([sys.executable, "-c", "from engine.cli import main; main()", "--config", str(config),
                           "executions", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"executions": []}
    assert sorted(p.name for p in scratch.iterdir()) == []  # the scratch database went with the process


def test_leaving_wakes_an_idle_thread_pool_instead_of_waiting_for_it_forever() -> None:
    proc = _python("from concurrent.futures import ThreadPoolExecutor\nfrom engine.cli import leave\n"
                   "POOL = ThreadPoolExecutor(2)\nprint(POOL.submit(sum, [1, 2]).result())\nleave(0)")

    assert (proc.returncode, proc.stdout) == (0, "3\n"), proc.stderr
