"""The fork server (engine.forkserver): children forked on request, by a process started from a fresh interpreter."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from engine import pipes
from engine.forkserver import ForkServer
from tests.support.forked import ended

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="Linux with pidfds")


@pytest.fixture
def server() -> Iterator[ForkServer]:
    fs = ForkServer(preload=["tests.support.forked"])
    yield fs
    fs.close()


def test_a_child_runs_the_function_with_its_connections_and_is_the_servers_not_ours(server: ForkServer) -> None:
    theirs, ours = pipes.pipe()
    pid = server.fork("tests.support.forked:echo", ("hello",), [ours])
    ours.close()
    assert theirs.poll(30)
    word, child, parent = theirs.recv()
    assert (word, child) == ("hello", pid)
    assert parent not in (os.getpid(), pid) and server._process is not None and parent == server._process.pid
    assert ended(pid)


def test_threads_fork_at_once_and_a_dead_server_is_started_again(server: ForkServer) -> None:
    answers: list[tuple[str, int, int]] = []

    def one(word: str) -> None:
        theirs, ours = pipes.pipe()
        server.fork("tests.support.forked:echo", (word,), [ours])
        ours.close()
        assert theirs.poll(30)
        answers.append(theirs.recv())

    threads = [threading.Thread(target=one, args=(f"w{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a[0] for a in answers) == [f"w{i}" for i in range(8)] and len({a[1] for a in answers}) == 8
    assert server._process is not None
    first = server._process.pid
    server._process.kill()
    server._process.wait()
    one("again")
    assert answers[-1][0] == "again" and server._process.pid != first


def test_a_child_outlives_a_closed_server_only_until_its_pipe_closes(server: ForkServer) -> None:
    told, tell = pipes.pipe()
    theirs, ours = pipes.pipe()
    pid = server.fork("tests.support.forked:wait_for_word", (), [ours, told])
    ours.close()
    told.close()
    assert theirs.poll(30) and theirs.recv() == pid
    process = server._process
    server.close()
    assert process is not None and process.poll() is not None  # the server ended with its socket
    tell.close()  # the child's inbox closes: it ends
    assert ended(pid)


def test_a_server_started_ahead_is_the_one_that_forks(server: ForkServer) -> None:
    server.start()
    assert server._process is not None
    started = server._process.pid
    server.start()  # already running: nothing new
    theirs, ours = pipes.pipe()
    server.fork("tests.support.forked:echo", ("ahead",), [ours])
    ours.close()
    assert theirs.poll(30) and theirs.recv()[2] == started == server._process.pid


def test_an_unknown_function_ends_the_child_and_closes_its_pipe(server: ForkServer,
                                                                capfd: pytest.CaptureFixture[str]) -> None:
    theirs, ours = pipes.pipe()
    pid = server.fork("tests.support.forked:no_such_function", (), [ours])
    ours.close()
    assert ended(pid)
    with pytest.raises(EOFError):
        theirs.recv()
    assert "no_such_function" in capfd.readouterr().err
