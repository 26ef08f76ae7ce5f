"""Read-ahead: the CLI's ``run`` reads and maps store pages in a forked process while it writes.

The runs here are real ``connect-engine run`` processes (the memstore and hub
plugins, ``python -m tests.support.memstore``), since read-ahead only happens
in a process that runs nothing else. Each result is held against the same feed
read in-process (``read_ahead: false``) on a database of its own.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select as sql_select

from engine import earlyfork, readahead
from engine.connector import Page
from engine.errors import ConnectorError, EngineError, TransientError
from plugins.connect.models import Product, ProductLink
from tests.engine.test_crash import run_in_subprocess
from tests.support import memstore
from tests.support.procs import gone

PRODUCTS, PAGE = 61, 2  # 31 pages, the last one short: enough for the reader to be forked after the first


def cli_run(tmp_path: Path, db_url: str, name: str, settings: dict[str, Any], *,
            read_ahead: bool) -> tuple[int, dict[str, Any]]:
    config = memstore.write_config(tmp_path / f"{name}.yaml", db_url, tmp_path / f"{name}-data",
                                   {"shop": {"settings": settings}}, read_ahead=read_ahead)
    proc = run_in_subprocess(config)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {"stderr": proc.stderr}


def hub_rows(db_url: str, tmp_path: Path) -> list[tuple[Any, ...]]:
    with memstore.build(memstore.config(db_url, tmp_path / "check", {"shop": {"settings": {}}})) as engine, \
            engine.sessions() as s:
        products = s.execute(sql_select(Product.sku, Product.name, Product.price).order_by(Product.sku)).all()
        links = s.execute(sql_select(ProductLink.sku, ProductLink.external_id).order_by(ProductLink.sku)).all()
    return [tuple(r) for r in products] + [tuple(r) for r in links]


def test_a_read_ahead_run_writes_what_an_in_process_run_writes(tmp_path: Path, db_url: str, second_db: str) -> None:
    settings = {"products": PRODUCTS, "page_size": PAGE}
    code, ahead = cli_run(tmp_path, db_url, "ahead", settings, read_ahead=True)
    assert code == 0, ahead
    code, inline = cli_run(tmp_path, second_db, "inline", settings, read_ahead=False)
    assert code == 0, inline

    assert ahead["status"] == inline["status"] == "success"
    assert ahead["counts"] == inline["counts"]
    assert ahead["counts"]["read"] == PRODUCTS and ahead["counts"]["created"] > PRODUCTS
    assert ahead["cursor_after"] == inline["cursor_after"] == {"seq": 0, "after": PRODUCTS}
    assert hub_rows(db_url, tmp_path) == hub_rows(second_db, tmp_path)

    code, again = cli_run(tmp_path, db_url, "ahead", settings, read_ahead=True)
    assert code == 0 and again["cursor_before"] == ahead["cursor_after"]
    assert again["counts"]["read"] == 0  # resumed from the cursor the read-ahead run committed


@pytest.mark.parametrize(("settings", "expected"), [
    ({"fail_read": True}, "TransientError: "),  # on the first page, read in the run's own process
    ({"fail_read": 5}, "TransientError: "),  # in the reader
    # A plain exception from the connector is named after it, wherever the read ran.
    ({"read_bug": 5}, "ConnectorError: connector 'memstore' read('products') raised RuntimeError: "
                      "memstore tripped over its own feet"),
    ({"read_bug": 1}, "ConnectorError: connector 'memstore' read('products') raised RuntimeError: "
                      "memstore tripped over its own feet"),
])
def test_an_error_in_the_reader_fails_the_run_as_in_process(tmp_path: Path, db_url: str, settings: dict[str, Any],
                                                            expected: str) -> None:
    code, info = cli_run(tmp_path, db_url, "ahead", {"products": PRODUCTS, "page_size": PAGE, **settings},
                         read_ahead=True)
    assert code == 1, info
    assert info["status"] == "failed"
    assert info["message"].startswith(expected), info["message"]
    failed_at = settings.get("fail_read") or settings.get("read_bug")
    assert info["counts"]["read"] == (0 if failed_at in (True, 1) else PAGE * (failed_at - 1))  # pages before it kept


def test_the_reader_dies_with_a_killed_run(tmp_path: Path, db_url: str) -> None:
    settings = {"products": PRODUCTS, "page_size": PAGE, "crash_after_page": 2, "pid_file": "reader.pid"}
    code, _ = cli_run(tmp_path, db_url, "ahead", settings, read_ahead=True)
    assert code < 0  # SIGKILLed by its reader, as a crash would
    pid = int((tmp_path / "ahead-data" / "reader.pid").read_text())
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return  # already gone and reaped
    try:
        assert select.select([fd], [], [], 10)[0], f"the read-ahead process {pid} outlived its run"
    finally:
        os.close(fd)


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in-process", "read-ahead"])
def test_a_sigterm_to_the_group_ends_the_run_interrupted(tmp_path: Path, db_url: str, read_ahead: bool) -> None:
    # On SQLite the reader starts before the command has loaded (engine.earlyfork) and may read up to
    # earlyfork.AHEAD pages before the run takes one: the signal comes once the run has taken some.
    ahead = (earlyfork.AHEAD if db_url.startswith("sqlite") else readahead.AHEAD) if read_ahead else 0
    signal_at = 6 + ahead
    settings = {"products": max(PRODUCTS, PAGE * (signal_at + 5)), "page_size": PAGE,
                "terminate_group_at_page": signal_at}
    config = memstore.write_config(tmp_path / "run.yaml", db_url, tmp_path / "data",
                                   {"shop": {"settings": settings}}, read_ahead=read_ahead)
    proc = run_in_subprocess(config, own_group=True)  # a group of its own to signal
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert info["status"] == "interrupted", info
    # The signal comes as page signal_at + 1 is asked for, and the run ends after the page in hand:
    # in-process that is that page itself; with read-ahead the writer is one to `ahead` pages behind
    # the reader.
    pages = range(signal_at + 1, signal_at + 2) if not read_ahead else range(signal_at + 1 - ahead, signal_at + 1)
    assert info["counts"]["read"] in [n * PAGE for n in pages], info["counts"]


def test_a_failed_fork_reads_in_this_process(monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", no_fork)
    got = list(readahead.pages(numbered_pages(10, None), prepare))
    assert [prepared for _, prepared in got] == [([n * 10, -n * 10], False) for n in range(1, 11)]
    assert "read-ahead unavailable" in caplog.text


def test_an_engine_error_crosses_with_its_class_and_context() -> None:
    exc = TransientError("shop says 503", status=503, url="https://shop.example/admin", retry_after=2.5)
    back = readahead._rebuild(*readahead._describe(exc))
    assert type(back) is TransientError and isinstance(back, ConnectorError)
    assert (str(back), back.status, back.url, back.retry_after) == ("shop says 503", 503,
                                                                    "https://shop.example/admin", 2.5)
    assert back.context == exc.context


def test_any_other_error_crosses_as_a_runtime_error_naming_it() -> None:
    back = readahead._rebuild(*readahead._describe(KeyError("sku")))
    assert type(back) is RuntimeError and not isinstance(back, EngineError)
    assert str(back) == "in the read-ahead process, KeyError: 'sku'"


def test_pages_in_this_process_with_another_thread_are_read_in_process() -> None:
    assert readahead.available() == (threading.active_count() == 1 and os.name == "posix")
    done = threading.Event()
    other = threading.Thread(target=done.wait)
    other.start()
    try:
        assert not readahead.available()
    finally:
        done.set()
        other.join()


def numbered_pages(count: int, total: int | None) -> Any:
    def read() -> Any:
        yield None  # a connector may yield None for "nothing on this page"
        for n in range(1, count + 1):
            yield Page(records=[{"n": n}, {"n": -n}], cursor={"page": n}, total=total)

    return read


def prepare(records: list[dict[str, Any]]) -> tuple[list[int], bool]:
    return [r["n"] * 10 for r in records], readahead.in_reader()


@pytest.mark.parametrize(("count", "total", "forked"), [
    (3, 6, False),  # two more pages after the first: read here
    (10, 20, True),  # nine more: forked after the first
    (10, None, True),  # the store does not say how many: forked
])
def test_pages_come_in_order_with_their_cursor_and_prepared_records(count: int, total: int | None,
                                                                    forked: bool) -> None:
    got = list(readahead.pages(numbered_pages(count, total), prepare))
    assert [(p.cursor, p.total, prepared) for p, prepared in got] == [
        ({"page": n}, total, ([n * 10, -n * 10], forked and n > 1)) for n in range(1, count + 1)]
    assert all(p.records == [] for p, _ in got[1:]) == forked  # the reader keeps its records


def test_an_early_reader_reads_its_pages_ahead_though_the_pipe_holds_fewer() -> None:
    """Pages the pipe has no room for wait in the reader, which reads on (up to ``ahead``) while the run starts."""
    big = "x" * (readahead.PIPE_BYTES // 3)  # the pipe holds about three such pages
    ahead, count = 8, 12
    notify_r, notify_w = os.pipe()

    def setup() -> Any:
        def source() -> Any:
            for n in range(1, count + 1):
                os.write(notify_w, b".")  # page n is being read
                yield Page(records=[{"n": n, "blob": big}], cursor={"page": n})
        return {"said": "hello"}, source(), lambda records: [(r["n"], r["blob"]) for r in records]

    spawned = readahead.start_with(setup, ahead=ahead)
    assert spawned is not None
    os.close(notify_w)
    pid, messages, acks = spawned
    try:
        reading = b""
        while len(reading) < ahead:  # the reader gets to its ahead-th page before this process takes one
            ready, _, _ = select.select([notify_r], [], [], 30)
            assert ready, f"the reader stopped at page {len(reading)} of {ahead}, on a full pipe"
            reading += os.read(notify_r, ahead - len(reading))
        assert not select.select([notify_r], [], [], 0.2)[0], "the reader read past its ahead pages"
        assert messages.poll(30)
        assert pickle.loads(messages.recv_bytes()) == ("said", {"said": "hello"})
        early = readahead.Early(pid, messages, acks, cursor=None, mode="test")
        got = [(page.cursor, prepared) for page, prepared in early.pages()]
    finally:
        os.close(notify_r)
    assert got == [({"page": n}, [(n, big)]) for n in range(1, count + 1)]
    assert gone(pid)


def test_the_reader_holds_at_most_its_byte_limit_beyond_the_pipe() -> None:
    """A store with very large pages: the reader waits once this many bytes wait for the pipe."""
    from engine import pipes

    size, limit = 100_000, 350_000
    taken, given = pipes.pipe()  # the pipe's own room (64 KiB) holds less than one message
    outbox = pipes.Outbox(given, limit=limit)
    sent: list[int] = []

    def produce() -> None:
        for n in range(10):
            outbox.send(bytes([n]) * size)
            sent.append(n)
        outbox.flush()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    producer.join(0.5)  # long enough to queue all ten if nothing held it back
    assert producer.is_alive() and len(sent) <= limit // size, f"{len(sent)} messages queued beyond the limit"
    got = [taken.recv_bytes() for _ in range(10)]
    producer.join(30)
    assert not producer.is_alive()
    assert got == [bytes([n]) * size for n in range(10)]
    taken.close()
    given.close()
