"""Checks that passed, kept by content, so a command's start-up skips jsonschema and croniter.

Every command checks the whole configuration: engine.yaml, each feed and mapping
file against its JSON Schema, each connector's settings against the connector's
schema, each cron expression. Importing jsonschema and croniter and running those
checks is about a tenth of a short ``run``. A check's outcome depends on nothing
but the document, the schema and the checking package, so a check that passed is
kept under a hash of the three, and the same document checked again passes at once
(like :mod:`engine.yamlcache` keeps parsed YAML):

- Only passes are kept. A document with any problem is checked every time, so
  its messages are always the checker's own.
- No private value enters a hash or the folder: values that came from the
  environment (secrets, database URLs) and a connector's own settings. The hash
  has a stand-in there, and each private value is checked on its own at every
  load against the part of the schema that applies to it. That is exact only
  where that part is simple (type, length, pattern, range, enum, on a path of
  plain properties and local ``$ref`` s, with no ``$id`` or ``$schema`` below the
  root); anything else and the document is checked every time and never kept.
- The checker is jsonschema with referencing and its specifications (croniter
  with dateutil for cron): their installed files are part of the key, so an
  upgrade starts afresh. A schema object is hashed once: it must not be changed
  after its first check.
- Entries are empty files named by the hash, in ``valid/`` of the YAML cache's
  folder: the same setting moves or turns off both, and deleting it is safe.
  A folder that cannot be read or written only means checking every time.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from engine import yamlcache

T = TypeVar("T")
JsonPath = tuple[str | int, ...]

# Part of every key: change it whenever what is hashed, or how a check is made, changes.
_FORMAT = "connect-engine valid 1"
JSONSCHEMA = ("jsonschema", "referencing", "jsonschema_specifications")  # what validates, resolves $ref, knows drafts
CRONITER = ("croniter", "dateutil")
EVERY_VALUE: tuple[JsonPath, ...] = (("*every value*",),)  # ``private=EVERY_VALUE``: every scalar is private


class _Unkeepable(Exception):
    """This check cannot be kept: it runs every time."""


def passed(kind: str, packages: tuple[str, ...], parts: tuple[Any, ...], check: Callable[[], list[T]]) -> list[T]:
    """``check()``'s problems, or none at once if the same ``parts`` passed before.

    Args:
        kind: What is checked (``schema``, ``cron``): part of the key.
        packages: The packages doing the check (their installed files are part of the key).
        parts: Everything the outcome depends on, as plain JSON values.
        check: The check itself; returns its problems (empty: passed).
    """
    key = _key(kind, packages, parts)
    if key is not None and _seen(key):
        return []
    problems = check()
    if key is not None and not problems:
        _note(key)
    return problems


def schema_passed(schema: Mapping[str, Any], instance: Any, check: Callable[[], list[T]], *,
                  private: Collection[JsonPath] = ()) -> list[T]:
    """:func:`passed` for validating ``instance`` against the JSON Schema ``schema``.

    ``private`` names the paths (within ``instance``) whose values must not be kept;
    ``EVERY_VALUE`` makes every scalar private.
    """
    try:
        paths = scalar_paths(instance) if tuple(private) == EVERY_VALUE else [tuple(p) for p in private]
        values = [(path, _at(instance, path)) for path in paths]
        values = [(path, value) for path, value in values if value is not _ABSENT]
        if values and not all(_leaf_ok(value, _leaf_schema(schema, path)) for path, value in values):
            return check()  # a private value breaks its schema: the checker says how
        hidden = {path for path, _ in values}
        parts = (_schema_digest(schema), _plain(instance, (), hidden))
    except _Unkeepable:
        return check()
    return passed("schema", JSONSCHEMA, parts, check)


def schema_checked(schema: Mapping[str, Any], check: Callable[[], list[T]]) -> list[T]:
    """:func:`passed` for checking that ``schema`` itself is a valid JSON Schema (a connector's settings_schema)."""
    try:
        digest = _schema_digest(schema)
    except _Unkeepable:
        return check()
    return passed("meta", JSONSCHEMA, (digest,), check)


# -- keys and entries -------------------------------------------------------------------------------

@functools.cache
def _stamp(package: str) -> str | None:
    """The installed files of ``package`` (path, size, times): another version is another stamp. None: not found."""
    try:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            return None
        origin = os.stat(spec.origin)
        folder = os.stat(os.path.dirname(spec.origin))
    except (ImportError, OSError, ValueError):
        return None
    return f"{spec.origin}:{origin.st_size}:{origin.st_mtime_ns}:{folder.st_mtime_ns}"


def _key(kind: str, packages: tuple[str, ...], parts: tuple[Any, ...]) -> Path | None:
    folder = yamlcache.cache_dir()
    stamps = [_stamp(package) for package in packages]
    if folder is None or None in stamps:
        return None
    try:  # ASCII: every character, a lone surrogate too, has one spelling
        text = json.dumps([_FORMAT, kind, stamps, *parts], separators=(",", ":"))
    except (TypeError, ValueError):  # a value JSON has no form for: checked every time
        return None
    name = hashlib.blake2b(text.encode("ascii"), digest_size=20).hexdigest()
    return folder / "valid" / name[:2] / name


def _seen(key: Path) -> bool:
    try:
        return key.is_file()
    except OSError:
        return False


def _note(key: Path) -> None:
    try:
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key.touch()
    except OSError:  # a read-only or full disk: checking every time is only slower
        return


# -- what is hashed ---------------------------------------------------------------------------------

_ABSENT = object()
_SCHEMAS: dict[int, tuple[Mapping[str, Any], str]] = {}  # id -> (schema, digest): one schema checks many files


def _schema_digest(schema: Mapping[str, Any]) -> str:
    """A hash of ``schema``'s content, remembered for the schema object (schemas are not changed once loaded)."""
    known = _SCHEMAS.get(id(schema))
    if known is not None and known[0] is schema:
        return known[1]
    text = json.dumps(_plain(schema, (), set()), separators=(",", ":"))
    digest = hashlib.blake2b(text.encode("ascii"), digest_size=20).hexdigest()
    _SCHEMAS[id(schema)] = (schema, digest)  # kept alive with it, so its id is never reused
    return digest


def _plain(value: Any, path: JsonPath, hidden: set[JsonPath]) -> Any:
    """``value`` as JSON that tells every type apart, with a stand-in at each hidden path."""
    if path in hidden:
        return ["private"]
    if isinstance(value, dict):  # exactly what the checker takes for an object and an array
        if not all(isinstance(k, str) for k in value):
            raise _Unkeepable  # 1 and "1" would hash alike
        return {"o": {k: _plain(v, (*path, k), hidden) for k, v in sorted(value.items())}}
    if isinstance(value, list):
        return {"a": [_plain(v, (*path, i), hidden) for i, v in enumerate(value)]}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": repr(value)}
    raise _Unkeepable  # a tuple, a date, bytes...: only the checker knows


def scalar_paths(value: Any, path: JsonPath = ()) -> list[JsonPath]:
    """The path of every scalar in ``value`` (dicts and lists walked)."""
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in scalar_paths(v, (*path, k))]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in scalar_paths(v, (*path, i))]
    return [path]


def _at(value: Any, path: JsonPath) -> Any:
    for step in path:
        in_list = isinstance(value, list | tuple) and isinstance(step, int) and 0 <= step < len(value)
        if not in_list and not (isinstance(value, Mapping) and step in value):
            return _ABSENT
        value = value[step]
    if isinstance(value, Mapping | list | tuple):
        raise _Unkeepable  # a private container: its insides would need the whole checker
    return value


# -- checking a private value on its own --------------------------------------------------------------

_NOTES = frozenset({"$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default",
                    "examples", "deprecated", "readOnly", "writeOnly", "$anchor", "format"})  # format: not asserted
_OBJECT = _NOTES | {"type", "properties", "patternProperties", "additionalProperties", "required", "propertyNames",
                    "minProperties", "maxProperties"}
_ARRAY = _NOTES | {"type", "items", "minItems", "maxItems"}
_LEAF = _NOTES | {"type", "minLength", "maxLength", "pattern", "enum", "const", "minimum", "maximum",
                  "exclusiveMinimum", "exclusiveMaximum"}
_DRAFT = "https://json-schema.org/draft/2020-12/schema"


def _resolve(node: Any, root: Mapping[str, Any]) -> Any:
    """``node`` with its local ``$ref`` followed; _Unkeepable where the base of a ref could be another."""
    for _ in range(20):
        _own_base(node, root)
        if not isinstance(node, Mapping) or "$ref" not in node:
            return node
        ref = node["$ref"]
        if set(node) - _NOTES - {"$ref"} or not isinstance(ref, str) or not ref.startswith("#/") or "%" in ref:
            raise _Unkeepable  # $ref beside other checks, to another document, or percent-encoded
        node = root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise _Unkeepable
            node = node[part]
            _own_base(node, root)
    raise _Unkeepable


def _own_base(node: Any, root: Mapping[str, Any]) -> None:
    # Below the root, $id makes "#/..." mean another document and $schema another dialect.
    if node is not root and isinstance(node, Mapping) and ("$id" in node or "$schema" in node):
        raise _Unkeepable


def _leaf_schema(schema: Mapping[str, Any], path: JsonPath) -> Any:
    """The one schema that applies to the value at ``path`` (True: anything); _Unkeepable if not that simple."""
    if schema.get("$schema", _DRAFT) != _DRAFT:
        raise _Unkeepable  # another draft's keywords mean other things (exclusiveMinimum)
    node = _resolve(schema, schema)
    for step in path:
        if node is True:
            return True
        if not isinstance(node, Mapping):
            raise _Unkeepable
        if isinstance(step, str):
            if set(node) - _OBJECT:
                raise _Unkeepable
            matched = [s for p, s in (node.get("patternProperties") or {}).items() if re.search(p, step)]
            properties = node.get("properties") or {}
            if step in properties and not matched:
                child = properties[step]
            elif step not in properties and len(matched) == 1:
                child = matched[0]
            elif step not in properties and not matched:
                child = node.get("additionalProperties", True)
            else:
                raise _Unkeepable
        else:
            if set(node) - _ARRAY:
                raise _Unkeepable
            child = node.get("items", True)
        node = _resolve(child, schema)
    return node


def _leaf_ok(value: Any, node: Any) -> bool:
    """Whether ``value`` meets ``node``, exactly as the validator would decide."""
    if isinstance(node, bool):
        return node
    if not isinstance(node, Mapping) or set(node) - _LEAF:
        raise _Unkeepable
    kinds = node.get("type")
    if kinds is not None and not any(_is(value, k) for k in (kinds if isinstance(kinds, list) else [kinds])):
        return False
    if isinstance(value, str):
        if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", len(value)):
            return False
        if "pattern" in node and not re.search(node["pattern"], value):
            return False
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not (node.get("minimum", value) <= value <= node.get("maximum", value)):
            return False
        if "exclusiveMinimum" in node and not value > node["exclusiveMinimum"]:
            return False
        if "exclusiveMaximum" in node and not value < node["exclusiveMaximum"]:
            return False
    if "enum" in node or "const" in node:
        allowed = node.get("enum", []) if "enum" in node else [node["const"]]
        if not isinstance(value, str):
            raise _Unkeepable  # equality across numbers and booleans is the checker's to decide
        return value in [a for a in allowed if isinstance(a, str)]
    return True


def _is(value: Any, kind: Any) -> bool:
    if kind == "integer" and isinstance(value, float):
        raise _Unkeepable  # 1.0 is an integer to the checker
    if kind == "string":
        return isinstance(value, str)
    if kind in ("integer", "number"):
        return isinstance(value, int if kind == "integer" else int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind in ("object", "array"):
        return isinstance(value, dict if kind == "object" else list)
    raise _Unkeepable  # a type the checker does not know: it says so
