"""Feed sets: ``feeds.d/<feed_set>/*.yaml`` loaded, checked against the connectors, built into FeedDefs.

One file holds one feed. Each file is validated against ``schemas/feed.schema.json``,
then against what the connectors can do (a resource the source can read, the
target can write or fetch), its cron expressions, JMESPath expressions and
mapping file. A :class:`~engine.feeds.FeedDef` is built only from a clean file;
integrations then apply their overrides (:func:`apply_overrides`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine import validcache
from engine.connector import Connector, Resource
from engine.errors import ConfigError, Severity
from engine.feeds import Endpoint, FeedDef, RetryPolicy
from engine.mapping import Compiler
from engine.mappingfiles import LoadedMapping, MappingLoader, check_expression, check_rules
from engine.rules import compile_rules
from engine.schemacheck import did_you_mean, load_schema, one_of, schema_errors
from engine.yamlio import JsonPath, Marks, dotted, load_yaml_file

_DURATION = re.compile(r"^([1-9][0-9]*)([dhms])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_SIDES = {"inbound": ("store", "hub"), "outbound": ("hub", "store")}
_VERBS = {"read": "read", "write": "written", "fetch": "fetched"}


#: The longest duration a setting may give (a parked record kept ten years is kept for good).
MAX_DURATION = timedelta(days=3650)
_CRON_PROBE = datetime(2000, 1, 1)


def parse_duration(value: Any) -> timedelta | None:
    """``30d`` / ``12h`` / ``15m`` / ``90s`` or whole seconds as a timedelta; None if not valid or over ten years."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            found = timedelta(seconds=value)
        else:
            m = _DURATION.match(value) if isinstance(value, str) else None
            found = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))}) if m else None
    except OverflowError:
        return None
    return found if found is None or found <= MAX_DURATION else None


def cron_problem(expression: str, *, keep: bool = True) -> str | None:
    """None if ``expression`` is a usable cron expression of 5 or 6 fields, else why not.

    ``keep=False``: the expression is private (from the environment): a pass is not kept.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        return (f"it has {len(fields)} field(s); write 5 (minute hour day-of-month month day-of-week) "
                f"or 6 (the same plus seconds)")
    if len(fields) == 6 and not (fields[5].isdigit() and int(fields[5]) < 60):
        # Seconds come last here; Quartz and Spring put them first, and "30 0 2 * * *" would then
        # mean 00:30 on the 2nd, every second of that minute.
        return (f"its 6th field, seconds, is {fields[5]!r}; seconds come last (minute hour day-of-month month "
                "day-of-week second) and must be one number from 0 to 59: a feed does not run every second. "
                "A seconds-first (Quartz) expression: drop its first field")

    def check() -> list[str]:
        from croniter import croniter

        try:
            croniter(expression, _CRON_PROBE).get_next(datetime)  # a day that never comes (30 Feb) fails here
        except Exception as exc:  # croniter's errors have no common public base
            return [f"it never falls due ({exc})" if "date" in type(exc).__name__.lower() else str(exc)]
        return []

    return next(iter(validcache.passed("cron", validcache.CRONITER, (expression,), check) if keep else check()), None)


def check_cron(value: Any, marks: Marks, path: JsonPath, errors: list[ConfigError],
               private: Collection[JsonPath] = ()) -> None:
    """Append an error at ``path`` if the string ``value`` is not a valid cron expression.

    A value at a ``private`` path (from the environment) is never kept by :mod:`engine.validcache`.
    """
    if isinstance(value, str) and value.strip():
        problem = cron_problem(value, keep=path not in private)
        if problem:
            errors.append(marks.error(path, f"{dotted(path)} {value!r} is not a valid cron expression: {problem}"))


def retry_policy(data: Mapping[str, Any]) -> RetryPolicy:
    """A RetryPolicy from a validated ``retry`` mapping (missing keys take the defaults)."""
    default = RetryPolicy()
    expire_after = parse_duration(data.get("expire_after")) or default.expire_after
    return RetryPolicy(
        schedule=data.get("schedule", default.schedule),
        expire_after=expire_after,
        on_expiry=Severity(data.get("on_expiry", default.on_expiry.value)),
        max_attempts=data.get("max_attempts", default.max_attempts),
    )


def check_retry(retry: Any, marks: Marks, base: JsonPath, errors: list[ConfigError],
                private: Collection[JsonPath] = ()) -> None:
    """Check a ``retry`` mapping's cron, and that its duration (its form is the schema's) is not beyond reach."""
    if isinstance(retry, Mapping):
        check_cron(retry.get("schedule"), marks, (*base, "schedule"), errors, private)
        value = retry.get("expire_after")
        if isinstance(value, (str, int)) and not isinstance(value, bool) and parse_duration(value) is None \
                and (isinstance(value, int) or _DURATION.match(value)):
            path = (*base, "expire_after")
            errors.append(marks.error(path, f"{dotted(path)} {value!r} is longer than "
                                            f"{MAX_DURATION.days} days; give at most {MAX_DURATION.days}d"))


@dataclass(frozen=True)
class FeedSet:
    """What a feed set is checked against.

    Attributes:
        name: The set's folder name under ``feeds_dir``.
        folder: That folder.
        store: The connector classes (in use) whose feed set this is.
        hub: The hub connector class (None when it is unknown; reported elsewhere).
    """

    name: str
    folder: Path
    store: Sequence[type[Connector]]
    hub: type[Connector] | None


@dataclass
class LoadedFeed:
    """One feed file: its standard FeedDef (None when the file has problems) and where it came from."""

    file: str
    marks: Marks
    feed: FeedDef | None
    mapping: LoadedMapping | None
    resources: tuple[Resource | None, Resource | None] = (None, None)  # (source, target): what params they take


def load_feed_set(feed_set: FeedSet, mappings: MappingLoader, compiler: Compiler,
                  display: Callable[[Path], str], errors: list[ConfigError]) -> dict[str, LoadedFeed]:
    """Load every feed file of ``feed_set`` (none when its folder does not exist).

    Problems are appended to ``errors``; feeds with problems have ``feed=None``.
    """
    if not feed_set.folder.is_dir():
        return {}
    out: dict[str, LoadedFeed] = {}
    for path in sorted(p for p in feed_set.folder.iterdir()
                       if p.suffix in (".yaml", ".yml") and p.is_file() and not p.name.startswith(".")):
        loaded = _load_feed(path, feed_set, mappings, compiler, display(path), errors)
        if loaded is None:
            continue
        name, feed_file = loaded
        if name in out:
            first = out[name]
            line = (first.marks.value(("name",)) or (0, 0))[0]
            errors.append(feed_file.marks.error(("name",), f"feed name {name!r} is defined twice in feed set "
                                                           f"{feed_set.name!r}: in {first.file} (line {line}) "
                                                           f"and in {feed_file.file}"))
            continue
        out[name] = feed_file
    return out


def _load_feed(path: Path, feed_set: FeedSet, mappings: MappingLoader, compiler: Compiler, file: str,
               errors: list[ConfigError]) -> tuple[str, LoadedFeed] | None:
    try:
        doc = load_yaml_file(path, file)
    except ConfigError as exc:
        errors.append(exc)
        return None
    marks, data = doc.marks, doc.data
    found: list[ConfigError] = list(doc.errors)
    if not isinstance(data, Mapping):
        errors.extend([*found, marks.error((), "a feed file must be a mapping (name, direction, source, "
                                               "target, schedule, ...)")])
        return None
    found.extend(schema_errors(data, load_schema("feed"), marks, what="feed"))
    source = _check_endpoint(data, "source", "read", feed_set, marks, found)
    direction = data.get("direction")
    target = _check_endpoint(data, "target", "fetch" if direction == "check" else "write", feed_set, marks, found)
    _check_sides(data, marks, found)
    check_cron(data.get("schedule"), marks, ("schedule",), found)
    check_retry(data.get("retry"), marks, ("retry",), found)
    check_expression(compiler, data.get("label"), marks, ("label",), "label", found)
    check_rules(data.get("rules"), compiler, marks, ("rules",), found)
    if "compare" in data and direction == "inbound":
        found.append(marks.error(("compare",), "'compare' is for check and outbound feeds; this feed's direction "
                                               "is 'inbound'", at_key=True))
    elif "compare" in data and direction == "outbound":
        _check_endpoint(data, "target", "fetch", feed_set, marks, found)
    mapping = None
    if isinstance(data.get("mapping"), str) and data["mapping"].strip():
        mapping = mappings.load(data["mapping"], feed_set.name, marks, ("mapping",), found)
    if mapping is not None and mapping.fields:
        for key in ("fields", "compare"):
            for i, name in enumerate(data.get(key) or []):
                if isinstance(name, str) and name not in mapping.fields:
                    found.append(marks.error((key, i), f"{key}: {name!r} is not a field mapping {mapping.file} "
                                                       f"produces ({one_of(mapping.fields)})"
                                                       f"{did_you_mean(name, mapping.fields)}"))
    if mapping is not None and mapping.fields and target is not None:
        _check_mapping_fits(data, mapping, target, direction, marks, found, errors)
    for key, resource in (("source", source), ("target", target)):
        endpoint = data.get(key)
        check_params(endpoint.get("params") if isinstance(endpoint, Mapping) else None, resource, marks,
                     (key, "params"), found)
    errors.extend(found)
    name = data.get("name")
    if not isinstance(name, str):
        return None
    feed = None if found else _build(data, file, source, mapping, compiler)
    return name, LoadedFeed(file=file, marks=marks, feed=feed, mapping=mapping, resources=(source, target))


def _check_mapping_fits(data: Mapping[str, Any], mapping: LoadedMapping, target: Resource, direction: Any,
                        marks: Marks, found: list[ConfigError], errors: list[ConfigError]) -> None:
    """The mapping produces only fields the target resource has, and, for a feed that writes, those it needs."""
    side = data["target"]["side"]
    if target.fields is not None:
        for name in mapping.fields:
            if name in target.fields:
                continue
            problem = mapping.marks.error(("fields", name), f"field {name!r} is not a field of {side} resource "
                                                            f"{target.name!r}, which would drop it; its fields: "
                                                            f"{one_of(target.fields)}"
                                                            f"{did_you_mean(name, target.fields)}", at_key=True)
            if not any(str(e) == str(problem) for e in (*errors, *found)):  # a mapping shared by several feeds
                found.append(problem)
    if direction != "check":
        missing = [n for n in target.needs if n not in mapping.fields]
        if missing:
            found.append(marks.error(("mapping",), f"mapping {mapping.file} does not produce "
                                                   f"{', '.join(map(repr, missing))}, which the {side} resource "
                                                   f"{target.name!r} needs to write a record"))


def _check_sides(data: Mapping[str, Any], marks: Marks, errors: list[ConfigError]) -> None:
    direction = data.get("direction")
    if direction not in _SIDES:
        return
    for key, want in zip(("source", "target"), _SIDES[direction], strict=True):
        endpoint = data.get(key)
        side = endpoint.get("side") if isinstance(endpoint, Mapping) else None
        if side in ("store", "hub") and side != want:
            why = " (only outbound feeds write to the store)" if side == "store" and key == "target" else ""
            errors.append(marks.error((key, "side"), f"an {direction} feed goes {_SIDES[direction][0]} -> "
                                                     f"{_SIDES[direction][1]}: {key}.side must be {want!r}, "
                                                     f"not {side!r}{why}"))


def _check_endpoint(data: Mapping[str, Any], key: str, need: str, feed_set: FeedSet, marks: Marks,
                    errors: list[ConfigError]) -> Resource | None:
    endpoint = data.get(key)
    if not isinstance(endpoint, Mapping):
        return None
    side, name = endpoint.get("side"), endpoint.get("resource")
    if side not in ("store", "hub") or not isinstance(name, str):
        return None
    classes = list(feed_set.store) if side == "store" else [feed_set.hub] if feed_set.hub else []
    found = None
    for cls in classes:
        able = sorted(n for n, r in cls.resources.items() if getattr(r, need))
        resource = cls.resources.get(name)
        why = " (check feeds look their records up on the target)" if need == "fetch" else ""
        if resource is None:
            errors.append(marks.error((key, "resource"), f"{key}.resource {name!r} is not a resource of the {side} "
                                                         f"connector {cls.name!r}; resources it can "
                                                         f"{need}{why}: {one_of(able)}"
                                                         f"{did_you_mean(name, cls.resources)}"))
        elif not getattr(resource, need):
            errors.append(marks.error((key, "resource"), f"{key}.resource {name!r} of the {side} connector "
                                                         f"{cls.name!r} cannot be {_VERBS[need]}{why}; resources "
                                                         f"it can {need}: {one_of(able)}"))
        elif found is None:
            found = resource
    return found


def _endpoint(data: Mapping[str, Any]) -> Endpoint:
    return Endpoint(side=data["side"], resource=data["resource"], params=dict(data.get("params") or {}))


def _build(data: Mapping[str, Any], file: str, source: Resource | None, mapping: LoadedMapping | None,
           compiler: Compiler) -> FeedDef:
    rules = data.get("rules")
    return FeedDef(
        name=data["name"], direction=data["direction"], source=_endpoint(data["source"]),
        target=_endpoint(data["target"]), schedule=data["schedule"],
        mapping=mapping.compiled if mapping else None,
        rules=compile_rules(rules, compiler, file=file) if rules else None,
        key=data.get("key") or (source.key if source else None), label=data.get("label"),
        batch_size=data.get("batch_size", 250), run_once=data.get("run_once", False),
        write_mode=data.get("write_mode", "upsert"),
        fields=tuple(data["fields"]) if data.get("fields") else None,
        compare=tuple(data["compare"]) if data.get("compare") else None,
        incremental=data.get("incremental", True), change_detection=data.get("change_detection", True),
        retry=retry_policy(data.get("retry") or {}), enabled=data.get("enabled", True),
        description=data.get("description", ""), file=file,
    )


def check_override(override: Any, compiler: Compiler, marks: Marks, base: JsonPath,
                   errors: list[ConfigError], loaded: LoadedFeed | None = None,
                   private: Collection[JsonPath] = ()) -> None:
    """Check the cron, expressions and params of an integration's ``feeds.<name>`` override.

    ``private``: engine.yaml paths of values from the environment (never kept, even hashed).
    """
    if not isinstance(override, Mapping):
        return
    check_cron(override.get("schedule"), marks, (*base, "schedule"), errors, private)
    check_retry(override.get("retry"), marks, (*base, "retry"), errors, private)
    check_rules(override.get("rules"), compiler, marks, (*base, "rules"), errors)
    if loaded is not None:
        check_params(override.get("params"), loaded.resources[0], marks, (*base, "params"), errors, private)
        check_params(override.get("target_params"), loaded.resources[1], marks, (*base, "target_params"), errors,
                     private)


def check_params(params: Any, resource: Resource | None, marks: Marks, path: JsonPath,
                 errors: list[ConfigError], private: Collection[JsonPath] = ()) -> None:
    """Check feed params against the schema their resource declares (``Resource.params``), if it does."""
    if not isinstance(params, Mapping) or resource is None or resource.params is None:
        return  # not a mapping at all: the feed's own schema says so
    inside = [p[len(path):] for p in private if len(p) > len(path) and p[:len(path)] == path]
    errors.extend(schema_errors(params, resource.params, marks, base=path, what=dotted(path), private=inside))
    known = list((resource.params.get("properties") or {}).keys())
    if resource.params.get("additionalProperties") is False:
        return  # the schema itself refused the unknown names
    for name in params:  # other params pass on to rules (params.NAME); a near miss is a misspelling
        close = did_you_mean(name, known) if name not in known else ""
        if close:
            errors.append(marks.error((*path, name), f"unknown param {name!r} in {dotted(path)} of "
                                                     f"{resource.name!r}{close} (params it does not take are "
                                                     "only read by rules)", at_key=True))


def apply_overrides(loaded: LoadedFeed, override: Mapping[str, Any], maps: Mapping[str, Mapping[str, Any]],
                    compiler: Compiler, file: str) -> FeedDef:
    """The feed as one integration runs it: overrides applied, the integration's value maps in its mapping.

    ``enabled``, ``schedule``, ``batch_size``, ``retry`` and ``rules`` replace the
    feed's own; ``params`` and ``target_params`` are merged into the source's and
    the target's params. Call only for clean feeds and checked overrides.

    Raises:
        MappingError: An override rule does not compile (the checks should have said so first).
    """
    feed = loaded.feed
    assert feed is not None, "apply_overrides needs a clean feed"
    changes: dict[str, Any] = {}
    for key in ("enabled", "schedule", "batch_size"):
        if key in override:
            changes[key] = override[key]
    if "retry" in override:
        changes["retry"] = retry_policy(override["retry"] or {})
    if "rules" in override:
        rules = override["rules"] or []
        changes["rules"] = compile_rules(rules, compiler, file=file) if rules else None
    if override.get("params"):
        changes["source"] = dataclasses.replace(feed.source, params={**feed.source.params, **override["params"]})
    if override.get("target_params"):
        changes["target"] = dataclasses.replace(feed.target,
                                                params={**feed.target.params, **override["target_params"]})
    if loaded.mapping is not None and maps:
        changes["mapping"] = loaded.mapping.with_maps(maps)
    return dataclasses.replace(feed, **changes) if changes else feed
