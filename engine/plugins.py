"""The plugin manager factory and the typed facade every hook call goes through."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
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
                # A module is named after itself; an instance after its class (not its id()), numbered
                # from the second instance of a class on.
                base = getattr(plugin, "__name__", None) or type(plugin).__name__
                name, n = base, 1
                while pm.has_plugin(name):
                    n += 1
                    name = f"{base}#{n}"
                pm.register(plugin, name=name)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {_plugin_name(pm, exc.plugin)!r} is invalid: {exc}") from exc
    except Exception as exc:  # a plugin that cannot even be imported names itself
        name = _failing_entry_point(pm)
        raise PluginError(_load_failure(name, exc), plugin=name) from exc
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def _failing_entry_point(pm: pluggy.PluginManager) -> str | None:
    """The first ``connect_engine`` entry point, not blocked, that fails to load (None if they all load)."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=hookspecs.PROJECT):
        if pm.is_blocked(ep.name):
            continue
        try:
            ep.load()
        except Exception:
            return ep.name
    return None


def _load_failure(name: str | None, exc: Exception) -> str:
    where = f"plugin {name!r}" if name else "a connect_engine plugin"
    return (f"{where} failed to load: {type(exc).__name__}: {exc} "
            f"(disable it with plugins: {{disabled: [{name or 'NAME'}]}} in engine.yaml, or uninstall it)")


def _plugin_name(pm: pluggy.PluginManager, plugin: object) -> str:
    return pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))


JMESPATH_TYPES = ("any", "string", "number", "boolean", "array", "object", "null", "expref", "array-string",
                  "array-number")


def _listed(result: Any, impl: str, hook: str, what: str) -> Sequence[Any]:
    """A hook's list (or tuple, or None); anything else is the plugin's mistake, named."""
    if result is None:
        return ()
    if isinstance(result, (list, tuple)):
        return result
    raise PluginError(f"plugin {impl!r}: {hook} returned {result!r}; expected a list of {what}")


def _check_resources(cls: type[Connector], impl: str) -> None:
    from engine.connector import Resource

    resources = cls.resources
    if not isinstance(resources, Mapping) or not all(
            isinstance(k, str) and isinstance(r, Resource) for k, r in resources.items()):
        raise PluginError(f"plugin {impl!r}: connector {cls.name!r} declares resources as "
                          f"{type(resources).__name__}; expected a mapping of name to engine.Resource, "
                          "e.g. {r.name: r for r in (Resource('orders'), ...)}")


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
            for cls in _listed(result, impl, "register_connectors", "Connector classes"):
                if not (isinstance(cls, type) and issubclass(cls, Connector)):
                    raise PluginError(f"plugin {impl!r} registered {cls!r}, which is not a Connector subclass")
                if not cls.name:
                    raise PluginError(f"plugin {impl!r} registered {cls.__name__} without a name")
                _check_resources(cls, impl)
                if cls.name in found:
                    raise PluginError(
                        f"connector {cls.name!r} is registered twice: by {found[cls.name][1]!r} and {impl!r}")
                found[cls.name] = (cls, impl)
        return {name: cls for name, (cls, _) in found.items()}

    def jmespath_functions(self) -> list[JMESPathFunction]:
        """Every plugin-supplied JMESPath function; duplicates are a PluginError."""
        import jmespath.functions

        from engine.mapping import BUILTINS, JMESPathFunction

        taken = {f.name for f in BUILTINS} | set(jmespath.functions.Functions.FUNCTION_TABLE)
        seen: dict[str, str] = {}
        out: list[JMESPathFunction] = []
        for impl, result in self._per_plugin("register_jmespath_functions"):
            for fn in _listed(result, impl, "register_jmespath_functions", "engine.JMESPathFunction"):
                if not isinstance(fn, JMESPathFunction) or not callable(fn.func):
                    raise PluginError(f"plugin {impl!r} registered {fn!r}; expected "
                                      "engine.JMESPathFunction(name, func, types)")
                if fn.name in seen:
                    raise PluginError(
                        f"JMESPath function {fn.name!r} is registered twice: by {seen[fn.name]!r} and {impl!r}")
                if fn.name in taken:
                    raise PluginError(f"plugin {impl!r} registers JMESPath function {fn.name!r}, which the engine "
                                      "or JMESPath already has; give it another name")
                bad = [t for t in fn.types if t not in JMESPATH_TYPES]
                if bad:
                    raise PluginError(f"plugin {impl!r}: JMESPath function {fn.name!r} has argument type(s) "
                                      f"{', '.join(map(repr, bad))}; types are {', '.join(JMESPATH_TYPES)}")
                seen[fn.name] = impl
                out.append(fn)
        return out

    def sandboxes(self) -> dict[str, SandboxSpec]:
        """Every fake store a plugin can serve, by name."""
        from engine.sandbox import SandboxSpec

        out: dict[str, SandboxSpec] = {}
        by: dict[str, str] = {}
        for impl, result in self._per_plugin("register_sandboxes"):
            for spec in _listed(result, impl, "register_sandboxes", "engine.SandboxSpec"):
                if not isinstance(spec, SandboxSpec):
                    raise PluginError(f"plugin {impl!r} registered {spec!r} as a sandbox; expected engine.SandboxSpec")
                if spec.name in out:
                    raise PluginError(f"sandbox {spec.name!r} is registered twice: by {by[spec.name]!r} and {impl!r}")
                out[spec.name], by[spec.name] = spec, impl
        return out

    def register_commands(self, cli: click.Group) -> list[tuple[str, str]]:
        """Let plugins add CLI commands; returns ``(plugin, problem)`` for each plugin that raised."""
        failed = []
        for impl in self.pm.hook.register_commands.get_hookimpls():
            try:
                impl.function(cli)
            except Exception as exc:  # one broken plugin must not take the command line down
                failed.append((impl.plugin_name, f"{type(exc).__name__}: {exc}"))
        return failed

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
