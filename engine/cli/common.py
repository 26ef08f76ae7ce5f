"""Shared pieces of the CLI: the root group, ``--config``, ``--json``, engine building, errors."""

from __future__ import annotations

import functools
import gc
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from engine.errors import ConfigError, ConfigValidationError, EngineError

if TYPE_CHECKING:
    from engine.app import Engine

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_LOCKED = 3


class _Group(click.Group):
    """Root group whose commands are imported on first use.

    ``lazy_commands`` maps a name to a module that registers the command on this
    group when imported (the built-in commands), or to ``module:attribute``, a
    command added under that name (plugins: :meth:`add_lazy_command`).
    """

    lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, target: str) -> None:
        """Add the click command ``target`` (``"package.module:attribute"``) as ``name``, imported when used."""
        self.lazy_commands = {**self.lazy_commands, name: target}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            import importlib

            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            loaded = importlib.import_module(module)  # a built-in command's module registers itself
            if attribute:
                self.add_command(getattr(loaded, attribute), cmd_name)
        return self.commands.get(cmd_name)


def main_group(fn: Callable[..., Any]) -> click.Group:
    """Decorate the root function into the ``connect-engine`` group with ``--config``."""
    fn = click.option("--config", "config_path", default="engine.yaml", show_default=True,
                      envvar="CONNECT_ENGINE_CONFIG", type=click.Path(dir_okay=False),
                      help="The engine configuration file.")(fn)
    fn = click.option("-v", "--verbose", is_flag=True, envvar="CONNECT_ENGINE_VERBOSE",
                      help="Log progress, and tracebacks of unexpected errors.")(fn)
    fn = click.pass_context(_store_config(fn))
    return click.group(cls=_Group)(fn)


def _store_config(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(ctx: click.Context, config_path: str, verbose: bool, **kwargs: Any) -> Any:
        from engine import gcpause

        gcpause.release()  # main() held collection through start-up; the command runs as usual
        ctx.ensure_object(dict)
        ctx.obj["config_path"] = config_path
        setup_logging(verbose)
        return fn(**kwargs)

    return wrapper


class _Quiet(logging.Formatter):
    """One line per record; a traceback only when asked for (``--verbose``)."""

    def __init__(self, verbose: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.verbose = verbose

    def format(self, record: logging.LogRecord) -> str:
        if self.verbose:
            return super().format(record)
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return super().format(record) + (" (run with --verbose for details)" if saved[0] else "")
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def setup_logging(verbose: bool) -> None:
    """Warnings (INFO with ``--verbose``) to stderr, one line each; secrets are masked by the engine's filter."""
    root = logging.getLogger()
    if any(getattr(h, "_connect_engine", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Quiet(verbose))
    handler._connect_engine = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def get_engine(ctx: click.Context, *, migrate: bool = True) -> Engine:
    """Build (once per invocation) the engine from ``--config``; config errors exit 1.

    A host (or a test) may hand the command line a ready ``obj["engine"]``, or the
    plugins to register instead of the entry points in ``obj["plugins"]``.
    ``migrate=False``: the caller brings the schema up to date (``Engine.upgrade``).
    """
    from engine import gcpause

    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        try:
            with gcpause.paused():  # what is built here lives until exit (engine.gcpause)
                from engine.app import Engine

                obj["engine"] = Engine.from_config(obj.get("config_path", "engine.yaml"),
                                                   plugins=obj.get("plugins"), migrate=migrate)
                # One command, one engine: what exists now lives until exit, so the collector can skip it.
                gc.freeze()
        except EngineError as exc:
            fail(exc)
        ctx.call_on_close(obj["engine"].close)
    return obj["engine"]  # type: ignore[no-any-return]


def fail(exc: EngineError, code: int = EXIT_FAILED) -> None:
    """Print an engine error (every problem of a ConfigValidationError) and exit."""
    if isinstance(exc, ConfigValidationError):
        click.echo(exc.render(), err=True)
        click.echo(f"{len(exc.errors)} problem(s) found", err=True)
    elif isinstance(exc, ConfigError) and exc.file:  # a problem in a file: say where
        click.echo(f"error: {exc.render()}", err=True)
    else:
        click.echo(f"error: {exc}", err=True)
    sys.exit(code)


def known_or_found(engine: Any, integration: str | None, rows: list[Any]) -> None:
    """An ``--integration`` filter that matched nothing and names no configured integration is a typo, not an
    all-clear; one that found rows (an integration since removed from engine.yaml) shows them."""
    if integration and not rows and integration not in engine.config.integrations:
        engine.integration(integration)  # raises, listing the known ones


def handle_errors(fn: F) -> F:
    """Turn :class:`EngineError` into a message and exit 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EngineError as exc:
            fail(exc)
        except Exception as exc:
            from sqlalchemy.exc import DBAPIError  # only reached once something raised: SQLAlchemy is loaded

            if not isinstance(exc, DBAPIError):
                raise
            logging.getLogger(__name__).info("database error", exc_info=True)  # the traceback, for --verbose
            fail(EngineError(f"the database failed: {type(exc.orig).__name__}: {exc.orig} (another process may "
                             "hold it, or the server is unreachable; run with --verbose for details)"))

    return wrapper  # type: ignore[return-value]


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (datetimes as ISO strings)."""
    click.echo(json.dumps(data, indent=2, default=str, sort_keys=False))


def table(rows: list[list[Any]], headers: list[str]) -> str:
    """A plain text table, columns padded to their widest cell."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
