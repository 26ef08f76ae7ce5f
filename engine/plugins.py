"""The plugin manager factory and the typed facade every hook call goes through."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from engine import entrypoints, hookspecs
from engine.connector import Connector
from engine.entrypoints import EntryPoint
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
    pm = _Manager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    try:
        if plugins is None:
            _load_entry_points(pm)
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
    except _LoadFailed as failed:  # a plugin that cannot even be imported names itself
        raise PluginError(_load_failure(failed.name, failed.error), plugin=failed.name) from failed.error
    except Exception as exc:  # pluggy refusing a registration (the same module under two names)
        raise PluginError(_load_failure(None, exc)) from exc
    if os.environ.get(TRACE_ENV):
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


class _Manager(pluggy.PluginManager):
    """A plugin manager that knows which installed distribution each entry-point plugin came from."""

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.entry_points: dict[str, EntryPoint] = {}


class _LoadFailed(Exception):
    def __init__(self, name: str, error: Exception) -> None:
        super().__init__(name)
        self.name, self.error = name, error


def _load_entry_points(pm: _Manager) -> None:
    """Register the ``connect_engine`` entry points as pluggy's ``load_setuptools_entrypoints`` does: in order,
    skipping names blocked or taken (:mod:`engine.entrypoints` finds them without importing importlib.metadata)."""
    for ep in entrypoints.find(hookspecs.PROJECT):
        if pm.get_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise _LoadFailed(ep.name, exc) from exc
        pm.register(plugin, name=ep.name)
        pm.entry_points[ep.name] = ep


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
        dists = {id(p): (d.project_name, d.version) for p, d in self.pm.list_plugin_distinfo()}
        ours: Mapping[str, EntryPoint] = getattr(self.pm, "entry_points", {})
        out = []
        for plugin in self.pm.get_plugins():
            if plugin is hookspecs:
                continue
            name = _plugin_name(self.pm, plugin)
            ep = ours.get(name)
            distribution, version = ep.distribution() if ep is not None else dists.get(id(plugin), (None, None))
            hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
            out.append(PluginInfo(name=name, distribution=distribution, version=version, hooks=hooks))
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
