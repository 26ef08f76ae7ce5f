"""Every hook a connect-engine plugin can implement.

Hooks are called with keyword arguments only; an implementation may accept any
subset of a spec's arguments. Arguments may be added to a spec, never removed.
``docs/hooks.md`` documents each one; a test fails if one is missing there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from engine.connector import Connector
    from engine.mapping import JMESPathFunction
    from engine.sandbox import SandboxSpec
    from engine.store.records import ExecutionInfo, NotificationInfo

PROJECT = "connect_engine"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- registration --------------------------------------------------------------------------


@hookspec
def register_connectors() -> list[type[Connector]]:  # type: ignore[empty-body]
    """Return the connector classes this plugin provides.

    Called once when the engine is built. Each class must subclass
    :class:`engine.Connector` and have a unique ``name``; a duplicate name is a
    ``PluginError`` naming both plugins.

    Returns:
        A list of connector classes (may be empty).
    """


@hookspec
def register_jmespath_functions() -> list[JMESPathFunction]:  # type: ignore[empty-body]
    """Return JMESPath functions that mappings and rules may call.

    Called once when the engine is built, before any feed is compiled.
    A name registered twice is a ``PluginError``.

    Returns:
        A list of :class:`engine.JMESPathFunction` (name, Python callable,
        argument types as JMESPath type names).
    """


@hookspec
def register_sandboxes() -> list[SandboxSpec]:  # type: ignore[empty-body]
    """Return fake stores this plugin can serve (``connect-engine sandbox NAME``).

    Returns:
        A list of :class:`engine.SandboxSpec` (name, description and a
        ``main(argv) -> int`` that serves until interrupted).
    """


@hookspec
def register_migrations() -> list[str]:  # type: ignore[empty-body]
    """Return Alembic version folders of this plugin's own tables.

    ``connect-engine db upgrade`` upgrades every registered folder to its head
    (each folder is its own Alembic branch; models share :class:`engine.store.models.Base`).

    Returns:
        A list of folder paths.
    """


@hookspec
def register_models() -> list[object]:  # type: ignore[empty-body]
    """Return the modules (or classes) that define this plugin's models.

    Called before the schema is created so their tables join the engine's
    metadata. Returning the imported module is enough.

    Returns:
        A list of imported modules or model classes.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands to the ``connect-engine`` CLI.

    Every command calls this hook at start-up, so a command that imports much
    (the engine, a sandbox) is better added by name: the engine's root group has
    ``cli.add_lazy_command(name, "package.module:attribute")``, which imports
    it only when that command runs or its help is shown.

    Args:
        cli: The root click group; call ``cli.add_command(...)`` (or ``add_lazy_command``) on it.
    """


# -- execution observers (return None; exceptions are logged and swallowed) ----------------


@hookspec
def execution_finished(execution: ExecutionInfo) -> None:
    """Observe every finished execution (success, partial, failed, skipped, interrupted).

    Called after the execution row is committed. An exception raised here is
    logged and never fails the feed.

    Args:
        execution: The execution's id, integration, feed, trigger, status,
            counts, timings, cursors and message.
    """


@hookspec
def notification_raised(notification: NotificationInfo) -> None:
    """Observe every error-severity event that rang the bell.

    Called after the notification row is committed, once per occurrence
    (``notification.count`` tells how many times the same cause happened).
    An exception raised here is logged and never fails the feed.

    Args:
        notification: The notification's id, integration, feed, record,
            message, hint and count.
    """

