"""The ``connect-engine`` command line: a thin click group over :class:`engine.app.Engine`.

Each command parses options, builds the engine from ``--config``, calls one
method and renders text or ``--json``. Exit codes: 0 ok, 1 a failed run or an
invalid configuration, 2 a usage error (click's own), 3 the feed is already running.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import NoReturn

import click

from engine.cli.common import main_group


@main_group
def cli() -> None:
    """Keep an inventory / order hub in sync with e-commerce stores."""


# Built-in commands load when used: ``run`` should not pay for importing migrations or the hub CLI.
LAZY_COMMANDS = {
    "db": "engine.cli.db", "executions": "engine.cli.inspect", "feeds": "engine.cli.feeds",
    "hub": "engine.cli.hub", "integrations": "engine.cli.integrations", "notifications": "engine.cli.inspect",
    "parked": "engine.cli.parked", "plugins": "engine.cli.plugins_cmd", "run": "engine.cli.run",
    "sandbox": "engine.cli.sandbox", "serve": "engine.cli.serve", "validate": "engine.cli.validate",
}
cli.lazy_commands = LAZY_COMMANDS  # type: ignore[attr-defined]


def add_plugin_commands(group: click.Group, argv: list[str] | None = None) -> None:
    """Let installed plugins add their commands (``register_commands``).

    Plugins that engine.yaml disables (``plugins.disabled``, read from ``--config`` or
    its default) add none. A plugin that fails to load or to register is named in a
    warning and left out; the other plugins' commands are still added.
    """
    from engine.errors import PluginError
    from engine.plugins import Hooks, build_manager

    blocked = list(disabled_plugins(sys.argv[1:] if argv is None else argv))
    for _ in range(20):  # each pass leaves out one more plugin that cannot load
        try:
            hooks = Hooks(build_manager(blocked=blocked))
        except PluginError as exc:
            click.echo(f"warning: {exc}; its commands are not available", err=True)
            name = exc.context.get("plugin")
            if not name or name in blocked:
                return
            blocked.append(name)
            continue
        for name, problem in hooks.register_commands(group):
            click.echo(f"warning: plugin {name!r} could not add its commands: {problem}", err=True)
        return


def disabled_plugins(argv: list[str]) -> tuple[str, ...]:
    """``plugins.disabled`` of the engine.yaml the command line names (a cheap look before click parses it)."""
    path = os.environ.get("CONNECT_ENGINE_CONFIG") or "engine.yaml"
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            path = argv[i + 1]
            break
        if arg.startswith("--config="):
            path = arg.split("=", 1)[1]
            break
        if not arg.startswith("-"):
            break  # the command: options after it are its own
    if not os.path.isfile(path):
        return ()
    from engine.yamlio import read_disabled_plugins

    return read_disabled_plugins(path)


def main() -> None:
    """Console-script entry point: run the command, then leave without tearing the interpreter down."""
    from engine import gcpause

    # Start-up only makes what lives until exit: no collection walks it. The root group
    # releases this before the command runs (engine.cli.common, engine.gcpause).
    gcpause.hold()
    try:
        add_plugin_commands(cli)
        cli(prog_name="connect-engine")  # click ends every command with SystemExit
    except SystemExit as exc:
        code = exc.code
    else:
        code = 0
    finally:
        gcpause.release()
    leave(code)


def leave(code: object) -> NoReturn:
    """End the process with ``code`` (as ``sys.exit`` takes it), skipping the interpreter's teardown.

    Tearing down frees every module, class and cached object one by one: after a
    run that is a fifth of a second or more, spent on memory the system takes back
    at once anyway. This does what the teardown would do that anyone can see:
    waits for threads that are not daemons, runs the ``atexit`` functions (log
    handlers flushed, an in-memory database's scratch file removed), and flushes
    standard output and error; then it ends the process.
    """
    shutdown = getattr(threading, "_shutdown", None)  # what the interpreter itself calls first: it also
    if shutdown is not None and threading.current_thread() is threading.main_thread():  # wakes idle pools
        shutdown()
    else:
        current = threading.current_thread()
        for thread in threading.enumerate():
            if thread is not current and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message") prints it and exits 1
        print(code, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`| head`): what could be written was
            status = status or 120  # what Python itself exits with when it cannot flush
    os._exit(status)


__all__ = ["cli", "click", "leave", "main"]
