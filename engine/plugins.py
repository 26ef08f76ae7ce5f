"""The plugin manager factory and the typed facade every hook call goes through."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from engine import hookspecs
from engine.connector import Connector
from engine.errors import PluginError

if TYPE_CHECKING:
    import click

    from engine.mapping import JMESPathFunction
    from engine.sandbox import SandboxSpec
    from engine.store.records import ExecutionInfo, NotificationInfo

log = logging.getLogger(__name__)

TRACE_ENV = "CONNECT_ENGINE_TRACE_PLUGINS"


def build_manager(*, blocked: Iterable[str] = (), plugins: Sequence[object] | None = None) -> pluggy.PluginManager:
    """Build a plugin manager: specs, blocked names, plugins, then ``check_pending``.

    Args:
        blocked: Plugin (entry-point) names engine.yaml disables.
        plugins: Register exactly these plugin objects instead of loading the
            ``connect_engine`` entry points (tests).

    Raises:
        PluginError: A plugin failed to load or implements a hook no spec declares.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    try:
        if plugins is None:
            pm.load_setuptools_entrypoints(hookspecs.PROJECT)
        else:
            for plugin in plugins:
                # A module is named after itself; an instance after its class (not its id()).
                pm.register(plugin, name=getattr(plugin, "__name__", None) or type(plugin).__name__)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {_plugin_name(pm, exc.plugin)!r} is invalid: {exc}") from exc
    except ImportError as exc:
        raise PluginError(f"a connect_engine plugin failed to import: {exc}") from exc
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))


@dataclass(frozen=True)
class PluginInfo:
    """One registered plugin: its name, distribution version and hooks."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


class Hooks:
    """Typed facade over ``pm.hook``: every call site goes through here."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # -- registration -----------------------------------------------------------------

    def connectors(self) -> dict[str, type[Connector]]:
        """Every registered connector class by name; duplicates are a PluginError."""
        found: dict[str, tuple[type[Connector], str]] = {}
        for impl, result in self._per_plugin("register_connectors"):
            for cls in result or ():
                if not (isinstance(cls, type) and issubclass(cls, Connector)):
                    raise PluginError(f"plugin {impl!r} registered {cls!r}, which is not a Connector subclass")
                if not cls.name:
                    raise PluginError(f"plugin {impl!r} registered {cls.__name__} without a name")
                if cls.name in found:
                    raise PluginError(
                        f"connector {cls.name!r} is registered twice: by {found[cls.name][1]!r} and {impl!r}")
                found[cls.name] = (cls, impl)
        return {name: cls for name, (cls, _) in found.items()}

    def jmespath_functions(self) -> list[JMESPathFunction]:
        """Every plugin-supplied JMESPath function; duplicates are a PluginError."""
        seen: dict[str, str] = {}
        out: list[JMESPathFunction] = []
        for impl, result in self._per_plugin("register_jmespath_functions"):
            for fn in result or ():
                if fn.name in seen:
                    raise PluginError(
                        f"JMESPath function {fn.name!r} is registered twice: by {seen[fn.name]!r} and {impl!r}")
                seen[fn.name] = impl
                out.append(fn)
        return out

    def sandboxes(self) -> dict[str, SandboxSpec]:
        """Every fake store a plugin can serve, by name."""
        out: dict[str, SandboxSpec] = {}
        for impl, result in self._per_plugin("register_sandboxes"):
            for spec in result or ():
                if spec.name in out:
                    raise PluginError(f"sandbox {spec.name!r} is registered twice (again by {impl!r})")
                out[spec.name] = spec
        return out

    def register_commands(self, cli: click.Group) -> None:
        """Let plugins add CLI commands."""
        self.pm.hook.register_commands(cli=cli)

    # -- observers: never allowed to fail a feed ------------------------------------------

    def execution_finished(self, execution: ExecutionInfo) -> None:
        """Tell observers an execution finished; their exceptions are logged, not raised."""
        self._observe("execution_finished", execution=execution)

    def notification_raised(self, notification: NotificationInfo) -> None:
        """Tell observers the bell rang; their exceptions are logged, not raised."""
        self._observe("notification_raised", notification=notification)

    # -- listing --------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every registered plugin with its distribution, version and implemented hooks."""
        dists = {id(p): d for p, d in self.pm.list_plugin_distinfo()}
        out = []
        for plugin in self.pm.get_plugins():
            if plugin is hookspecs:
                continue
            name = _plugin_name(self.pm, plugin)
            dist = dists.get(id(plugin))
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            out.append(PluginInfo(
                name=name,
                distribution=dist.project_name if dist else None,
                version=dist.version if dist else None,
                hooks=hooks,
            ))
        return sorted(out, key=lambda p: p.name)

    # -- internals ------------------------------------------------------------------------

    def _per_plugin(self, hook_name: str) -> list[tuple[str, Any]]:
        caller = getattr(self.pm.hook, hook_name)
        results = []
        for impl in caller.get_hookimpls():
            try:
                results.append((impl.plugin_name, impl.function()))
            except Exception as exc:  # a broken plugin names itself
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}") from exc
        return results

    def _observe(self, hook_name: str, **kwargs: Any) -> None:
        caller = getattr(self.pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            args = [kwargs[a] for a in impl.argnames]
            try:
                impl.function(*args)
            except Exception:
                log.exception("observer %s of plugin %r raised; ignored", hook_name, impl.plugin_name)
