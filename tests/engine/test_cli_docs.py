"""docs/cli.md is the ``--help`` of every command; this test fails when they drift.

Regenerate with ``WRITE_DOCS=1 python -m pytest tests/engine/test_cli_docs.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.testing import CliRunner

from engine.cli import add_plugin_commands, cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
HEADER = """# Command line reference

Generated from `connect-engine --help` and the help of every command, rendered 100 columns wide
(a test keeps it true; a narrower terminal wraps and shortens the summaries).
Exit codes: 0 ok, 1 a failed run or an invalid configuration, 2 a usage error, 3 the feed is
already running.
"""


def _walk(group: click.Group, path: list[str]) -> list[tuple[list[str], click.Command]]:
    out: list[tuple[list[str], click.Command]] = []
    for name in group.list_commands(click.Context(group)):
        cmd = group.get_command(click.Context(group), name)
        assert cmd is not None
        out.append(([*path, name], cmd))
        if isinstance(cmd, click.Group):
            out.extend(_walk(cmd, [*path, name]))
    return out


def render() -> str:
    """The reference as Markdown: one section per command with its ``--help``."""
    add_plugin_commands(cli)
    runner = CliRunner()
    parts = [HEADER]
    for path, _ in [([], cli), *_walk(cli, [])]:
        # ``sandbox`` hands its arguments to the sandbox itself; alone, it prints its own help
        args = [*path] if path and path[-1] == "sandbox" else [*path, "--help"]
        result = runner.invoke(cli, args, prog_name="connect-engine", terminal_width=100)
        title = " ".join(["connect-engine", *path])
        parts.append(f"\n## `{title}`\n\n```\n{result.output.rstrip()}\n```\n")
    return "".join(parts)


def test_cli_reference_matches_help() -> None:
    text = render()
    if os.environ.get("WRITE_DOCS"):
        DOC.write_text(text, encoding="utf-8")
    assert DOC.exists(), "docs/cli.md is missing: run with WRITE_DOCS=1"
    assert DOC.read_text(encoding="utf-8") == text, "docs/cli.md is stale: run with WRITE_DOCS=1"
