"""The docs keep up with the code: every hook documented with its exact signature."""

from __future__ import annotations

import inspect
from pathlib import Path

from engine import hookspecs
from engine.plugins import build_manager

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_hook_is_documented_with_its_signature() -> None:
    text = (DOCS / "hooks.md").read_text()
    pm = build_manager(plugins=[])
    names = [n for n in dir(pm.hook) if not n.startswith("_")]
    assert names, "no hooks found"
    for name in names:
        args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"### `{name}({args})`" in text, f"docs/hooks.md lacks a heading for {name}({args})"
