"""Automatic garbage collection is held inside paused blocks and restored as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from engine.gcpause import hold, paused, pausing, release


@pytest.fixture(autouse=True)
def _gc_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()  # a test may leave it disabled on purpose; later tests expect it as it was
    else:
        gc.disable()


def test_held_inside_nested_blocks_and_resumed_after() -> None:
    with paused():
        assert not gc.isenabled()
        with paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_resumed_after_an_exception() -> None:
    with pytest.raises(ValueError, match="boom"), paused():
        raise ValueError("boom")
    assert gc.isenabled()


def test_left_disabled_when_it_was_disabled() -> None:
    gc.disable()
    with paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_held_until_the_last_thread_leaves() -> None:
    inside, leave, done = threading.Event(), threading.Event(), threading.Event()

    def other() -> None:
        with paused():
            inside.set()
            leave.wait(10)
        done.set()

    thread = threading.Thread(target=other)
    thread.start()
    assert inside.wait(10)
    with paused():
        pass
    assert not gc.isenabled()  # the other thread is still inside
    leave.set()
    thread.join(10)
    assert done.is_set()
    assert gc.isenabled()


def test_the_decorator_holds_collection_for_each_call() -> None:
    @pausing
    def page(n: int) -> tuple[int, bool]:
        """A page."""
        return n * 2, gc.isenabled()

    assert page(21) == (42, False)
    assert gc.isenabled()
    assert page.__doc__ == "A page."


def test_held_from_hold_to_release_which_freezes_what_was_made() -> None:
    frozen = gc.get_freeze_count()
    try:
        hold()
        made = [object() for _ in range(10)]
        assert not gc.isenabled()
        with paused():
            pass
        assert not gc.isenabled()  # a paused block inside does not end the hold
        release()
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen + len(made)
        release()  # nothing held: nothing happens
        assert gc.isenabled()
    finally:
        release()
        gc.unfreeze()


def test_release_without_hold_freezes_nothing() -> None:
    gc.unfreeze()
    release()
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()
