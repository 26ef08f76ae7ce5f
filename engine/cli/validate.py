"""``connect-engine validate``: check engine.yaml and every feed and mapping file, report every problem."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from engine.cli import cli
from engine.cli.common import EXIT_FAILED, echo_json, json_option
from engine.config import EngineConfig, load_config
from engine.errors import ConfigError, ConfigValidationError, EngineError
from engine.mapping import Compiler
from engine.plugins import Hooks, build_manager
from engine.yamlio import read_disabled_plugins


@cli.command()
@json_option
@click.pass_context
def validate(ctx: click.Context, as_json: bool) -> None:
    """Check the configuration: engine.yaml, its feeds and mappings, every plugin's settings.

    Prints every problem as file:line:col: message and exits 1, or one line per
    integration and exits 0.
    """
    obj = ctx.ensure_object(dict)
    path = obj.get("config_path", "engine.yaml")
    try:
        config = _load(path, obj.get("plugins"))
    except EngineError as exc:
        problems = _problems(exc, path)
        if as_json:
            echo_json({"valid": False, "problems": [_problem_json(p) for p in problems], "integrations": []})
        else:
            for problem in problems:
                click.echo(_render(problem), err=True)
            click.echo(f"{len(problems)} problem(s) found", err=True)
        ctx.exit(EXIT_FAILED)
    summaries = [_summary(config, name) for name in sorted(config.integrations)]
    if as_json:
        echo_json({"valid": True, "problems": [], "integrations": summaries})
        return
    if not summaries:
        click.echo("valid: no integrations configured")
    for s in summaries:
        click.echo(f"{s['name']}: connector {s['connector']}, initial mode {s['mode']}, "
                   f"{s['feeds']} feeds ({s['enabled']} enabled)")
        if s.get("no_feeds_folder"):
            click.echo(f"  note: no feed folder {s['no_feeds_folder']}, so this integration has no feeds; "
                       "a connector's standard feeds go there (its plugin's documentation says where they are)")


def _load(path: str, plugins: Sequence[object] | None) -> EngineConfig:
    # ``plugins`` (ctx.obj["plugins"]) lets tests and embedders register exactly these
    # plugin objects instead of the installed entry points.
    if not Path(path).is_file():
        raise ConfigError(f"configuration file {path!r} does not exist (give another with --config)", file=path)
    hooks = Hooks(build_manager(blocked=read_disabled_plugins(path), plugins=plugins))
    compiler = Compiler(hooks.jmespath_functions())
    return load_config(path, connectors=hooks.connectors(), compiler=compiler)


def _problems(exc: EngineError, path: str) -> list[ConfigError]:
    if isinstance(exc, ConfigValidationError):
        return list(exc.errors)
    if isinstance(exc, ConfigError):
        return [exc]
    return [ConfigError(str(exc), file=path)]


def _relative(file: str | None) -> str | None:
    if not file or file.startswith("<"):
        return file
    p = Path(file)
    if p.is_absolute():
        try:
            return str(p.relative_to(Path.cwd()))
        except ValueError:
            return file
    return file


def _render(problem: ConfigError) -> str:
    where = ConfigError("", file=_relative(problem.file), line=problem.line, col=problem.col).location()
    return f"{where}: {problem.message}"


def _problem_json(problem: ConfigError) -> dict[str, Any]:
    return {"file": _relative(problem.file), "line": problem.line, "col": problem.col, "message": problem.message}


def _summary(config: EngineConfig, name: str) -> dict[str, Any]:
    integ = config.integrations[name]
    out = {"name": name, "connector": integ.connector, "mode": integ.mode, "feeds": len(integ.feeds),
           "enabled": sum(1 for f in integ.feeds.values() if f.enabled)}
    folder = Path(config.feeds_dir) / integ.feed_set
    if not integ.feeds and not folder.is_dir():
        out["no_feeds_folder"] = _relative(str(folder))
    return out
