"""Mapping files and JMESPath checks: every expression is tried at load time, each failure located.

:func:`engine.mapping.compile_mapping` and :func:`engine.rules.compile_rules`
stop at the first bad expression; the checks here try every expression of a
file first (syntax, known function names, argument counts) so one run reports
them all, and compile only what is clean.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath
import jmespath.exceptions

from engine.errors import ConfigError, MappingError
from engine.mapping import CompiledMapping, Compiler, compile_mapping
from engine.schemacheck import did_you_mean, load_schema, one_of, schema_errors
from engine.yamlio import JsonPath, Marks, dotted, load_yaml_file

# The same placeholder syntax engine.rules renders: "{expression}".
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_FIELD_KINDS = ("path", "value", "fields")


def expression_problem(compiler: Compiler, expression: str) -> str | None:
    """None if ``expression`` compiles and calls only known functions with the right argument count."""
    try:
        compiler.compile(expression)
        parsed = jmespath.compile(expression).parsed
    except jmespath.exceptions.LexerError as exc:
        return f"{exc.message} at column {exc.lexer_position + 1}"
    except jmespath.exceptions.IncompleteExpressionError:
        return "the expression is incomplete"
    except jmespath.exceptions.ParseError as exc:
        return f"{exc.msg} at column {exc.lex_position + 1}" if exc.expression else "it is empty"
    except jmespath.exceptions.JMESPathError as exc:
        return str(exc).splitlines()[0]
    table = compiler.options.custom_functions.FUNCTION_TABLE  # type: ignore[union-attr]
    return _function_problem(parsed, table)


def _function_problem(node: Any, table: Mapping[str, Any]) -> str | None:
    if not isinstance(node, dict):
        return None
    if node.get("type") == "function_expression":
        name, args = node["value"], node.get("children", [])
        if name not in table:
            return f"unknown function {name}(); known: {one_of(sorted(table))}{did_you_mean(name, table)}"
        signature = table[name]["signature"]
        variadic = bool(signature) and signature[-1].get("variadic", False)
        if (len(args) < len(signature)) if variadic else (len(args) != len(signature)):
            wanted = f"at least {len(signature)}" if variadic else str(len(signature))
            return f"{name}() takes {wanted} argument(s), not {len(args)}"
    for child in node.get("children", []):
        problem = _function_problem(child, table)
        if problem:
            return problem
    return None


def check_expression(compiler: Compiler, expression: Any, marks: Marks, path: JsonPath, what: str,
                     errors: list[ConfigError]) -> None:
    """Append an error at ``path`` if the string ``expression`` is not usable JMESPath."""
    if not isinstance(expression, str) or not expression.strip():
        return  # the schema reports wrong types and empty strings
    problem = expression_problem(compiler, expression)
    if problem:
        errors.append(marks.error(path, f"{what}: {expression!r} is not valid JMESPath: {problem}"))


def check_rules(rules: Any, compiler: Compiler, marks: Marks, base: JsonPath, errors: list[ConfigError]) -> None:
    """Check every rule's ``when`` and message placeholders; append located errors."""
    if not isinstance(rules, list):
        return
    for i, rule in enumerate(rules):
        if not isinstance(rule, Mapping):
            continue
        label = f"rule {rule['name']!r}" if isinstance(rule.get("name"), str) else f"{dotted((*base, i))}"
        check_expression(compiler, rule.get("when"), marks, (*base, i, "when"), f"{label} 'when'", errors)
        message = rule.get("message")
        if isinstance(message, str):
            for m in _PLACEHOLDER.finditer(message):
                check_expression(compiler, m.group(1), marks, (*base, i, "message"),
                                 f"{label} message placeholder {{{m.group(1)}}}", errors)


@dataclass
class LoadedMapping:
    """A mapping file, checked and (when clean) compiled.

    Attributes:
        file: The file name errors carry.
        marks: Its line marks.
        compiled: The compiled mapping (None when the file has problems).
        fields: Its top-level target fields.
        key: Its ``key`` (target key field), if set.
        maps: Names of the value maps it defines.
        lookups: ``(map name, path of the lookup)`` of every field that looks a map up and has no
            ``default``: that map must exist in the file or in each integration using it.
        optional_lookups: The same for lookups with a ``default`` (or ``unmapped``): their map may
            be left out by some integrations, but not by the file and all of them.
    """

    file: str
    marks: Marks
    compiled: CompiledMapping | None = None
    fields: tuple[str, ...] = ()
    key: str | None = None
    maps: tuple[str, ...] = ()
    lookups: list[tuple[str, JsonPath]] = field(default_factory=list)
    optional_lookups: list[tuple[str, JsonPath]] = field(default_factory=list)

    def with_maps(self, maps: Mapping[str, Mapping[str, Any]]) -> CompiledMapping | None:
        """The compiled mapping whose value maps are the file's, replaced by name by ``maps``."""
        m = self.compiled
        if m is None or not maps:
            return m
        return CompiledMapping(fields=m.fields, key=m.key, each=m.each, each_text=m.each_text,
                               maps={**m.maps, **maps}, file=m.file)


class MappingLoader:
    """Loads mapping files once each, however many feeds use them."""

    def __init__(self, compiler: Compiler, mappings_dir: Path, display: Callable[[Path], str]) -> None:
        self.compiler = compiler
        self.mappings_dir = mappings_dir
        self.display = display
        self._cache: dict[Path, LoadedMapping | None] = {}

    def resolve(self, ref: str, feed_set: str) -> Path:
        """The file a feed's ``mapping: ref`` names."""
        return self.mappings_dir / ref if "/" in ref else self.mappings_dir / feed_set / ref

    def load(self, ref: str, feed_set: str, marks: Marks, path: JsonPath,
             errors: list[ConfigError]) -> LoadedMapping | None:
        """The mapping ``ref`` of a feed (its ``mapping`` value is at ``path`` in ``marks``).

        A missing file is reported at the feed; problems inside the file are reported once.
        """
        file = self.resolve(ref, feed_set)
        if not file.is_file():
            folder = file.parent
            present = sorted(p.name for p in folder.glob("*.y*ml")) if folder.is_dir() else []
            listing = f"files in {self.display(folder)}: {one_of(present)}" if folder.is_dir() else \
                f"folder {self.display(folder)} does not exist"
            errors.append(marks.error(path, f"mapping file {self.display(file)} does not exist; "
                                            f"{listing}{did_you_mean(file.name, present)}"))
            return None
        if file not in self._cache:
            self._cache[file] = self._load_file(file, errors)
        return self._cache[file]

    def _load_file(self, path: Path, errors: list[ConfigError]) -> LoadedMapping | None:
        name = self.display(path)
        try:
            doc = load_yaml_file(path, name)
        except ConfigError as exc:
            errors.append(exc)
            return None
        found: list[ConfigError] = list(doc.errors)
        loaded = LoadedMapping(file=name, marks=doc.marks)
        data = doc.data
        if not isinstance(data, Mapping):
            found.append(doc.marks.error((), "a mapping file must be a mapping with 'fields' "
                                             "(and optionally each, key, maps)"))
            errors.extend(found)
            return loaded
        found.extend(schema_errors(data, load_schema("mapping"), doc.marks, what="mapping"))
        check_expression(self.compiler, data.get("each"), doc.marks, ("each",), "each", found)
        fields = data.get("fields")
        self._check_fields(fields, ("fields",), doc.marks, loaded, found)
        if isinstance(fields, Mapping):
            loaded.fields = tuple(fields)
            key = data.get("key")
            if isinstance(key, str):
                loaded.key = key
                if key not in fields:
                    found.append(doc.marks.error(("key",), f"key {key!r} is not one of the mapped fields "
                                                           f"({one_of(fields)}){did_you_mean(key, fields)}"))
        if isinstance(data.get("maps"), Mapping):
            loaded.maps = tuple(data["maps"])
        if not found:
            try:
                loaded.compiled = compile_mapping(data, self.compiler, file=name)
            except MappingError as exc:  # the checks above should have caught it
                found.append(doc.marks.error((), str(exc)))
        errors.extend(found)
        return loaded

    def _check_fields(self, fields: Any, path: JsonPath, marks: Marks, loaded: LoadedMapping,
                      errors: list[ConfigError]) -> None:
        if not isinstance(fields, Mapping):
            return
        for name, spec in fields.items():
            p = (*path, name)
            label = "field " + repr(".".join(str(x) for x in p[1::2]))
            if isinstance(spec, str):
                check_expression(self.compiler, spec, marks, p, label, errors)
                continue
            if not isinstance(spec, Mapping):
                continue
            problem = _combination_problem(spec)
            if problem:
                errors.append(marks.error(p, f"{label}: {problem}", at_key=True))
            for key in ("path", "each"):
                check_expression(self.compiler, spec.get(key), marks, (*p, key), f"{label} {key}", errors)
            if isinstance(spec.get("lookup"), str):
                optional = "default" in spec or "unmapped" in spec
                (loaded.optional_lookups if optional else loaded.lookups).append((spec["lookup"], (*p, "lookup")))
            self._check_fields(spec.get("fields"), (*p, "fields"), marks, loaded, errors)


def _combination_problem(spec: Mapping[str, Any]) -> str | None:
    keys = set(spec)
    if "value" in keys and keys - {"value"}:
        return f"'value' is a constant and cannot be combined with {one_of(sorted(keys - {'value'}))}"
    if "fields" in keys:
        extra = sorted(keys & {"map", "lookup", "default", "unmapped"})
        if extra:
            return f"'fields' builds an object and cannot be combined with {one_of(extra)}"
        if {"each", "path"} <= keys:
            return "use 'each' (a list of objects) or 'path' (one object) with 'fields', not both"
        return None
    if "each" in keys:
        return "'each' needs 'fields' (the fields of each nested object)"
    if "unmapped" in keys and not keys & {"map", "lookup"}:
        return "'unmapped' says what happens to a value not in the map: it needs 'map' or 'lookup'"
    if not keys & set(_FIELD_KINDS):
        return "needs 'path' (an expression), 'value' (a constant) or 'fields' (a nested object)"
    return None
