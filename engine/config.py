"""engine.yaml, feed and mapping files: load, validate, resolve, freeze.

:func:`load_config` works in three stages: YAML with line marks
(:mod:`engine.yamlio`), JSON Schema plus semantic checks that collect every
problem as ``file:line:col`` (:mod:`engine.schemacheck`, :mod:`engine.feedfiles`,
:mod:`engine.mappingfiles`), then these frozen dataclasses. Nothing outside the loader
sees a raw YAML dict. ``docs/configuration.md`` describes the formats."""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from engine.errors import ConfigError, ConfigValidationError
from engine.feedfiles import FeedSet, LoadedFeed, apply_overrides, check_override, load_feed_set
from engine.feeds import FeedDef
from engine.mappingfiles import MappingLoader
from engine.schemacheck import check_schema, did_you_mean, load_schema, one_of, schema_errors
from engine.secrets import Masker, Resolution, resolve_env
from engine.validcache import EVERY_VALUE
from engine.yamlio import (
    JsonPath,
    Marks,
    YamlDoc,
    display_path,
    load_yaml_file,
    plain_data,
    read_disabled_plugins,  # noqa: F401 - its home before engine.yamlio; hosts import it here
)

if TYPE_CHECKING:
    from engine.connector import Connector
    from engine.mapping import Compiler

DEFAULT_DATABASE = "sqlite:///var/connect.db"
DEFAULT_HUB = "connect"
IN_MEMORY = "<config>"


@dataclass(frozen=True)
class IntegrationDef:
    """One store connection, fully resolved.

    Attributes:
        name: The integration's name (key in engine.yaml).
        connector: The connector's registered name.
        settings: Connector settings with ``${ENV_VAR}`` resolved (never log these).
        mode: The initial mode (``test`` unless engine.yaml says ``live``); the
            current mode lives in the database.
        maps: Value maps (e.g. ``carriers``) that override the mapping files' maps.
        feeds: The integration's feeds by name: the connector's standard set with
            this integration's overrides applied.
        secrets: Resolved values of secret settings, masked in every output.
        file: engine.yaml's path.
        line: Line of the integration in engine.yaml.
        feed_set: The folder of its connector's standard feeds under ``feeds_dir``.
    """

    name: str
    connector: str
    settings: Mapping[str, Any]
    mode: str = "test"
    maps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    feeds: Mapping[str, FeedDef] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()
    file: str = ""
    line: int = 0
    feed_set: str = ""

    def pushers(self, feed: FeedDef) -> list[FeedDef]:
        """The feeds that write what check feed ``feed`` reads (``stock_check``: ``export_stock_levels``)."""
        if feed.direction != "check":
            return []
        return [f for f in self.feeds.values() if f.name != feed.name and f.direction != "check"
                and (f.target.side, f.target.resource) == (feed.source.side, feed.source.resource)]

    def exclusive_with(self, feed: FeedDef) -> list[FeedDef]:
        """The feeds that must not run beside ``feed``: a check and the feeds that write what it reads.

        A check running beside the export of what it reads reports every record the export has
        not reached yet; an export started beside a check makes the check's view stale.
        """
        if feed.direction == "check":
            return self.pushers(feed)
        return [c for c in self.feeds.values() if c.direction == "check" and feed in self.pushers(c)]

    def baseline(self, feed: FeedDef) -> list[FeedDef]:
        """The enabled run-once feeds that fill what check feed ``feed`` compares against.

        Stock is imported once (``import_stock_levels``) and the hub owns it afterwards: a
        stock check before that import would report every SKU. A check waits for them.
        """
        if feed.direction != "check":
            return []
        return [f for f in self.feeds.values() if f.enabled and f.run_once and f.direction == "inbound"
                and (f.target.side, f.target.resource) == (feed.target.side, feed.target.resource)]


@dataclass(frozen=True)
class EngineConfig:
    """The whole configuration, validated and frozen.

    Paths are absolute (relative ones in engine.yaml are resolved from its folder);
    ``secrets`` holds every secret value resolved from ``${ENV_VAR}`` (the
    integrations', the hub's and the database URL's password), for masking.
    """

    path: Path | None
    root: Path
    database_url: str
    timezone: str = "UTC"
    data_dir: Path = Path("var/data")
    feeds_dir: Path = Path("feeds.d")
    mappings_dir: Path = Path("mappings")
    pool_size: int = 4
    lock_lease: timedelta = timedelta(seconds=60)
    read_ahead: bool = True
    disabled_plugins: tuple[str, ...] = ()
    hub_connector: str = "connect"
    hub_settings: Mapping[str, Any] = field(default_factory=dict)
    integrations: Mapping[str, IntegrationDef] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()


def load_config(source: str | Path | Mapping[str, Any], *, connectors: Mapping[str, type[Connector]],
                compiler: Compiler, env: Mapping[str, str] | None = None,
                resolve_database: bool = True) -> EngineConfig:
    """Load, validate and resolve engine.yaml with its feed and mapping files.

    Args:
        source: Path of engine.yaml, or its content as a dict (relative paths then
            resolve from the current directory, or from the dict's ``root`` key).
        connectors: The registered connector classes by name.
        compiler: Compiles JMESPath with the built-in and plugin functions.
        env: Environment for ``${ENV_VAR}`` (default: ``os.environ``).
        resolve_database: False keeps ``database_url`` as written, unchecked, and loads
            no SQLAlchemy (:mod:`engine.earlyfork`, which checks it against the run's).

    Raises:
        ConfigValidationError: Every problem found, each with file, line, column
            and what is allowed instead; secrets are masked in the messages.
    """
    return _Loader(connectors, compiler, os.environ if env is None else env, resolve_database).load(source)


class _Loader:
    def __init__(self, connectors: Mapping[str, type[Connector]], compiler: Compiler,
                 env: Mapping[str, str], resolve_database: bool = True) -> None:
        self.connectors = connectors
        self.resolve_database = resolve_database
        self.compiler = compiler
        self.env = env
        self.errors: list[ConfigError] = []
        self.secrets: list[str] = []  # secrets found outside the resolution's own (the database password)

    def load(self, source: str | Path | Mapping[str, Any]) -> EngineConfig:
        path, root, doc = self._read(source)
        marks = doc.marks
        self.errors.extend(doc.errors)
        raw = doc.data if doc.data is not None else {}
        if not isinstance(raw, Mapping):
            self._fail([marks.error((), "engine.yaml must be a mapping of settings (database, timezone, "
                                        "integrations, ...)")])
        res = resolve_env(raw, self.env, marks)
        self.errors.extend(res.errors)
        data: dict[str, Any] = res.data
        self.errors.extend(schema_errors(data, load_schema("engine"), marks, what="engine.yaml",
                                         skip=res.unresolved, private=res.private()))
        base = self._engine_settings(data, root, marks, res)
        hub_cls = self._hub(data, marks, res)
        mappings = MappingLoader(self.compiler, base["mappings_dir"], display_path)
        integrations = self._integrations(data, marks, res, base["feeds_dir"], hub_cls, mappings)
        if self.errors:
            self._fail(self.errors, res)
        hub = _section(data, "hub")
        return EngineConfig(
            path=path, root=root, hub_connector=hub.get("connector", DEFAULT_HUB),
            hub_settings=dict(_section(hub, "settings")), integrations=integrations,
            secrets=tuple(dict.fromkeys([*res.secrets.values(), *self.secrets])), **base)

    def _read(self, source: str | Path | Mapping[str, Any]) -> tuple[Path | None, Path, YamlDoc]:
        if isinstance(source, Mapping):
            data = plain_data(source)
            root = Path(data.pop("root", None) or Path.cwd()).absolute()
            return None, root, YamlDoc(data=data, marks=Marks(IN_MEMORY))
        path = Path(source).absolute()
        try:
            return path, path.parent, load_yaml_file(path, display_path(path))
        except ConfigError as exc:
            self._fail([exc])

    def _fail(self, errors: list[ConfigError], res: Resolution | None = None) -> NoReturn:
        masker = Masker([*(res.secrets.values() if res else ()), *self.secrets])
        unique: dict[tuple[Any, ...], ConfigError] = {}
        for e in errors:
            masked = ConfigError(masker.mask(e.message), file=e.file, line=e.line, col=e.col, path=e.path)
            unique.setdefault((e.file, e.line, e.col, masked.message), masked)
        raise ConfigValidationError(list(unique.values()))

    # -- engine-wide settings --------------------------------------------------------------------

    def _engine_settings(self, data: Mapping[str, Any], root: Path, marks: Marks,
                         res: Resolution) -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["database_url"] = self._database(data.get("database", DEFAULT_DATABASE), root, marks, res)
        tz = data.get("timezone", "UTC")
        out["timezone"] = tz
        if isinstance(tz, str) and tz and ("timezone",) not in res.unresolved:
            try:
                zoneinfo.ZoneInfo(tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.errors.append(marks.error(("timezone",), f"unknown timezone {tz!r}: use an IANA name such "
                                                              f"as UTC or Europe/Amsterdam"
                                                              f"{did_you_mean(tz, zoneinfo.available_timezones())}"))
        for key, default in (("data_dir", "var/data"), ("feeds_dir", "feeds.d"), ("mappings_dir", "mappings")):
            value = data.get(key, default)
            out[key] = root / (value if isinstance(value, str) and value else default)
        out["read_ahead"] = data.get("read_ahead", True) is not False
        scheduler = _section(data, "scheduler")
        out["pool_size"] = scheduler.get("pool_size", 4)
        out["lock_lease"] = timedelta(seconds=_int(scheduler.get("lock_lease_seconds"), 60))
        disabled = _section(data, "plugins").get("disabled", [])
        out["disabled_plugins"] = tuple(d for d in disabled if isinstance(d, str)) if isinstance(
            disabled, list) else ()
        if _section(data, "integrations") and not out["feeds_dir"].is_dir():
            start = ("the folder of engine.yaml" if marks.file != IN_MEMORY
                     else f"the configuration's 'root', else the current directory: {root}")
            self.errors.append(marks.error(("feeds_dir",), f"feeds_dir {display_path(out['feeds_dir'])} does not "
                                                           f"exist (relative paths start at {start})"))
        return out

    def _database(self, value: Any, root: Path, marks: Marks, res: Resolution) -> str:
        if not isinstance(value, str) or not value or ("database",) in res.unresolved:
            return DEFAULT_DATABASE
        if not self.resolve_database:
            return value
        from sqlalchemy.engine import make_url  # loaded here: a reader forked before start-up does without it
        from sqlalchemy.exc import ArgumentError
        try:
            url = make_url(value)
        except ArgumentError:
            self.errors.append(marks.error(("database",), "database is not a SQLAlchemy URL; write e.g. "
                                                          "sqlite:///var/connect.db or "
                                                          "postgresql://user:${DB_PASSWORD}@host/dbname"))
            return DEFAULT_DATABASE
        if url.password:
            if ("database",) in res.from_env:
                self.secrets.append(str(url.password))
            else:
                self.errors.append(marks.error(("database",), "the database URL holds a literal password; write "
                                                              "secrets as ${ENV_VAR} (e.g. "
                                                              "postgresql://user:${DB_PASSWORD}@host/dbname)"))
        database = url.database
        if url.get_backend_name() == "sqlite" and database and database != ":memory:" \
                and not database.startswith("file:") and not Path(database).is_absolute():
            url = url.set(database=str(root / database))
        return url.render_as_string(hide_password=False)

    def _hub(self, data: Mapping[str, Any], marks: Marks, res: Resolution) -> type[Connector] | None:
        hub = _section(data, "hub")
        name = hub.get("connector", DEFAULT_HUB)
        if not isinstance(name, str):
            return None
        cls = self.connectors.get(name)
        if cls is None:
            default = "" if "connector" in hub else " (the default of hub.connector)"
            self.errors.append(marks.error(("hub", "connector"), f"unknown hub connector {name!r}{default}; known "
                                                                 f"connectors: {one_of(sorted(self.connectors))}"
                                                                 f"{did_you_mean(name, self.connectors)}"))
            return None
        self._check_settings(cls, hub.get("settings", {}), ("hub", "settings"), ("hub", "connector"), marks, res)
        return cls

    def _check_settings(self, cls: type[Connector], settings: Any, path: JsonPath, connector_path: JsonPath,
                        marks: Marks, res: Resolution) -> None:
        problem = check_schema(cls.settings_schema)
        if problem:
            self.errors.append(marks.error(connector_path, f"connector {cls.name!r} declares an invalid "
                                                           f"settings_schema (a plugin bug): {problem}"))
            return
        self.errors.extend(schema_errors(settings if settings is not None else {}, cls.settings_schema, marks,
                                         base=path, skip=res.unresolved, private=EVERY_VALUE))

    # -- integrations ----------------------------------------------------------------------------

    def _integrations(self, data: Mapping[str, Any], marks: Marks, res: Resolution, feeds_dir: Path,
                      hub_cls: type[Connector] | None, mappings: MappingLoader) -> dict[str, IntegrationDef]:
        specs = {name: spec for name, spec in _section(data, "integrations").items() if isinstance(spec, Mapping)}
        classes: dict[str, type[Connector]] = {}
        for name, spec in specs.items():
            cls = self._connector(name, spec, marks, res)
            if cls is not None:
                classes[name] = cls
        by_set: dict[str, list[type[Connector]]] = {}
        for cls in classes.values():
            members = by_set.setdefault(cls.feed_set or cls.name, [])
            if cls not in members:
                members.append(cls)
        feed_sets = {set_name: load_feed_set(FeedSet(set_name, feeds_dir / set_name, members, hub_cls),
                                             mappings, self.compiler, display_path, self.errors)
                     for set_name, members in sorted(by_set.items())}
        out = {}
        for name, cls in classes.items():
            set_name = cls.feed_set or cls.name
            integ = self._integration(name, specs[name], cls, set_name, feed_sets[set_name], marks, res)
            if integ is not None:
                out[name] = integ
        for set_name, feeds in feed_sets.items():
            users = [specs[n] for n, cls in classes.items() if (cls.feed_set or cls.name) == set_name]
            self._check_optional_lookups(feeds, {m for spec in users for m in _section(spec, "maps")})
        return out

    def _check_optional_lookups(self, feeds: Mapping[str, LoadedFeed], defined: set[str]) -> None:
        """A lookup with a default whose map nobody defines, but whose name is close to one that is: a typo.

        A map nobody defines at all may be meant (an integration that imports no orders needs no
        carriers): its lookups give the default.
        """
        seen = set()
        for loaded in feeds.values():
            mapping = loaded.mapping
            if mapping is None or mapping.file in seen:
                continue
            seen.add(mapping.file)
            for map_name, where in mapping.optional_lookups:
                known = sorted({*mapping.maps, *defined})
                close = did_you_mean(map_name, known)
                if map_name not in known and close:
                    self.errors.append(mapping.marks.error(where, f"lookup {map_name!r}: no value map of that name "
                                                                  f"under 'maps' in {mapping.file} nor in any "
                                                                  f"integration's maps, so every value would be "
                                                                  f"the default; maps defined: {one_of(known)}"
                                                                  f"{close}"))

    def _connector(self, name: str, spec: Mapping[str, Any], marks: Marks, res: Resolution) -> type[Connector] | None:
        base: JsonPath = ("integrations", name)
        connector = spec.get("connector")
        if not isinstance(connector, str):
            return None
        cls = self.connectors.get(connector)
        if cls is None:
            self.errors.append(marks.error((*base, "connector"), f"unknown connector {connector!r} in integration "
                                                                 f"{name!r}; known connectors: "
                                                                 f"{one_of(sorted(self.connectors))}"
                                                                 f"{did_you_mean(connector, self.connectors)}"))
            return None
        self._check_settings(cls, spec.get("settings", {}), (*base, "settings"), (*base, "connector"), marks, res)
        return cls

    def _integration(self, name: str, spec: Mapping[str, Any], cls: type[Connector], set_name: str,
                     feeds: dict[str, LoadedFeed], marks: Marks, res: Resolution) -> IntegrationDef | None:
        base: JsonPath = ("integrations", name)
        maps = {k: dict(v) for k, v in _section(spec, "maps").items() if isinstance(v, Mapping)}
        overrides = _section(spec, "feeds")
        for feed_name, override in overrides.items():
            if feed_name not in feeds:
                self.errors.append(marks.error((*base, "feeds", feed_name), f"unknown feed {feed_name!r} in "
                                                                            f"integrations.{name}.feeds; feeds of "
                                                                            f"connector {cls.name!r}: "
                                                                            f"{one_of(sorted(feeds))}"
                                                                            f"{did_you_mean(feed_name, feeds)}",
                                               at_key=True))
            check_override(override, self.compiler, marks, (*base, "feeds", feed_name), self.errors,
                           feeds.get(feed_name), private=res.from_env)
        for loaded in feeds.values():
            mapping = loaded.mapping
            for map_name, where in mapping.lookups if mapping else ():
                if mapping is not None and map_name not in mapping.maps and map_name not in maps:
                    known = sorted({*mapping.maps, *maps})
                    self.errors.append(mapping.marks.error(where, f"lookup {map_name!r}: no value map of that name "
                                                                  f"under 'maps' in {mapping.file} nor in "
                                                                  f"integrations.{name}.maps; maps defined: "
                                                                  f"{one_of(known)}{did_you_mean(map_name, known)}"))
        if self.errors:
            return None
        built: dict[str, FeedDef] = {}
        for feed_name in sorted(feeds):
            override = overrides.get(feed_name)
            built[feed_name] = apply_overrides(feeds[feed_name], override if isinstance(override, Mapping) else {},
                                               maps, self.compiler, marks.file)
        prefix = len(base)
        return IntegrationDef(
            name=name, connector=cls.name, settings=dict(_section(spec, "settings")),
            mode=spec.get("mode", "test"), maps=maps, feeds=built,
            secrets=tuple(dict.fromkeys(v for p, v in res.secrets.items() if p[:prefix] == base)),
            file=marks.file, line=(marks.key(base) or (0, 0))[0], feed_set=set_name)


def _section(data: Any, key: str) -> Mapping[str, Any]:
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
