"""Field mappings: JMESPath compiled once per feed load, simple paths made direct lookups.

A mapping turns one source record into one or more target records::

    each: variants              # optional: one target record per item (items see ``parent``)
    key: sku                    # the target key field (default: the target resource's key)
    fields:
      sku: sku                                   # an expression
      name: "join(' - ', [parent.title, title])"
      status: {path: financial_status, map: {paid: paid}, default: open}   # value map
      carrier: {path: "shipping_lines[0].code", lookup: carriers}       # integration map
      remote: {fields: {product_id: parent.id}}                          # nested object
      lines: {each: line_items, fields: {sku: sku, quantity: quantity}}  # nested list
      origin: {value: store}                                             # a constant
    maps:
      carriers: {Standard: postnl}

Plain dotted paths (``a.b.c``) become direct dict lookups; every other expression
is turned into Python closures once (:mod:`engine.expressions`) instead of being
walked by the JMESPath interpreter for each record, which costs about fifteen
times a dict lookup per field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jmespath
import jmespath.exceptions
import jmespath.functions

from engine.errors import MappingError
from engine.expressions import closure

Getter = Callable[[Any], Any]

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MISSING = object()


@dataclass(frozen=True)
class JMESPathFunction:
    """A function plugins add to JMESPath (hook ``register_jmespath_functions``).

    Attributes:
        name: The name expressions call it by.
        func: The Python callable; receives the evaluated arguments.
        types: One JMESPath type name per argument (``string``, ``number``,
            ``array``, ``object``, ``boolean``, ``null``; ``any`` accepts all).
    """

    name: str
    func: Callable[..., Any]
    types: tuple[str, ...] = ()


_GRAMS_PER = {"g": 1.0, "kg": 1000.0, "lb": 453.59237, "oz": 28.349523125}


def _weight_grams(value: Any, unit: Any) -> Any:
    if value is None:
        return None
    factor = _GRAMS_PER.get(unit) if type(unit) is str else None  # the usual lowercase unit, as given
    if factor is None:
        factor = _GRAMS_PER.get(str(unit or "g").lower())
    if factor is None:
        raise ValueError(f"unknown weight unit {unit!r} (known: g, kg, lb, oz)")
    return round(float(value) * factor, 3)


BUILTINS: tuple[JMESPathFunction, ...] = (
    JMESPathFunction("lower", lambda s: s.lower() if s is not None else None, ("any",)),
    JMESPathFunction("upper", lambda s: s.upper() if s is not None else None, ("any",)),
    JMESPathFunction("to_int", lambda v: int(float(v)) if v not in (None, "") else None, ("any",)),
    JMESPathFunction("to_decimal_str", lambda v: None if v in (None, "") else f"{float(v):.2f}", ("any",)),
    JMESPathFunction("weight_grams", _weight_grams, ("any", "any")),
    JMESPathFunction("split", lambda s, sep: [] if not s else [p.strip() for p in s.split(sep)], ("any", "string")),
)


class Compiler:
    """Compiles expressions with the built-in and plugin-supplied JMESPath functions."""

    def __init__(self, functions: Iterable[JMESPathFunction] = ()) -> None:
        methods: dict[str, Any] = {}
        for fn in (*BUILTINS, *functions):
            spec = [{"types": []} if t == "any" else {"types": [t]} for t in fn.types]

            def method(self: Any, *args: Any, _f: Callable[..., Any] = fn.func) -> Any:
                return _f(*args)

            method.engine_function = fn.func  # type: ignore[attr-defined]  # compiled calls skip the wrapper
            methods["_func_" + fn.name] = jmespath.functions.signature(*spec)(method)
        cls = type("EngineFunctions", (jmespath.functions.Functions,), methods)
        self.options = jmespath.Options(custom_functions=cls())
        self.function_names = sorted(f.name for f in (*BUILTINS, *functions))

    def compile(self, expression: str) -> Getter:
        """Compile ``expression``; raises ``jmespath.exceptions.ParseError`` if it is not JMESPath."""
        if not isinstance(expression, str) or not expression.strip():
            raise jmespath.exceptions.ParseError(0, "", "", "empty expression")
        if _PLAIN.match(expression) and expression not in ("null", "true", "false"):
            return _plain_getter(expression.split("."))
        return closure(jmespath.compile(expression).parsed, self.options)


def _plain_getter(parts: list[str]) -> Getter:
    if len(parts) == 1:
        (a,) = parts
        return lambda d: d.get(a) if type(d) is dict else None
    if len(parts) == 2:
        a, b = parts

        def get2(d: Any) -> Any:
            v = d.get(a) if type(d) is dict else None
            return v.get(b) if type(v) is dict else None

        return get2

    def get_n(d: Any) -> Any:
        for p in parts:
            if type(d) is not dict:
                return None
            d = d.get(p)
        return d

    return get_n


def _plain_field(parts: list[str]) -> Field:
    get = _plain_getter(parts)

    def field(d: Any, maps: Any) -> Any:
        return get(d)

    field.plain = tuple(parts)  # type: ignore[attr-defined]  # builders inline short paths
    return field


# -- compiled field tree --------------------------------------------------------------------

Field = Callable[[Any, Mapping[str, Mapping[str, Any]]], Any]


class CompiledMapping:
    """A mapping ready to apply: ``apply(record, maps)`` returns the target records."""

    def __init__(self, *, fields: Sequence[tuple[str, Field]], key: str | None, each: Getter | None,
                 each_text: str | None, maps: Mapping[str, Mapping[str, Any]], file: str) -> None:
        self.fields = tuple(fields)
        self.key = key
        self.each = each
        self.each_text = each_text
        self.maps = maps
        self.file = file
        self._build = _builder(self.fields)

    def apply(self, record: dict[str, Any],
              maps: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Map one source record; raises :class:`MappingError` naming the failing field."""
        maps = maps if maps is not None else self.maps
        build = self._build
        if self.each is None:
            return [build(record, maps)]
        items = self.each(record)
        if items is None:
            return []
        if type(items) is not list:
            raise MappingError(f"'each' expression {self.each_text!r} gave {type(items).__name__}, not a list",
                               field="each", expression=self.each_text, file=self.file)
        return [build({**item, "parent": record} if type(item) is dict else {"value": item, "parent": record}, maps)
                for item in items]


def _builder(fields: Sequence[tuple[str, Field]]) -> Field:
    """``build(doc, maps)``: the dict ``{name: field(doc, maps), ...}`` in field order.

    Generated as one function whose body is a single dict display, with plain
    paths of one or two parts and nested objects inline: a mapping is applied to
    every record of every run, and a call per field per record is most of its cost.
    """
    env: dict[str, Any] = {}
    source = f"def build(doc, maps):\n    return {_display(fields, env, [0])}\n"
    exec(compile(source, "<mapping builder>", "exec"), env)  # noqa: S102 - built from field names only
    build: Any = env["build"]
    build.fields = tuple(fields)
    return build  # type: ignore[no-any-return]


def _display(fields: Sequence[tuple[str, Field]], env: dict[str, Any], serial: list[int]) -> str:
    items = []
    for name, fn in fields:
        plain, nested = getattr(fn, "plain", None), getattr(fn, "fields", None)
        serial[0] += 1
        if plain is not None and len(plain) == 1:
            value = f"(doc.get({plain[0]!r}) if type(doc) is dict else None)"
        elif plain is not None and len(plain) == 2:
            tmp = f"_t{serial[0]}"
            value = (f"({tmp}.get({plain[1]!r}) if type({tmp} := (doc.get({plain[0]!r}) if type(doc) is dict "
                     f"else None)) is dict else None)")
        elif nested is not None:
            value = _display(nested, env, serial)
        else:
            ref = f"_f{serial[0]}"
            env[ref] = fn
            value = f"{ref}(doc, maps)"
        items.append(f"{name!r}: {value}")
    return "{" + ", ".join(items) + "}"


def compile_mapping(spec: Mapping[str, Any], compiler: Compiler, *, file: str = "<mapping>") -> CompiledMapping:
    """Compile a validated mapping document (see the module docstring).

    Raises:
        MappingError: An expression does not compile (naming file, field and expression).
    """
    maps = {k: dict(v) for k, v in (spec.get("maps") or {}).items()}
    each_text = spec.get("each")
    each = _compile(compiler, each_text, "each", file) if each_text else None
    fields = _compile_fields(spec.get("fields") or {}, compiler, file, prefix="")
    return CompiledMapping(fields=fields, key=spec.get("key"), each=each, each_text=each_text, maps=maps, file=file)


def _compile(compiler: Compiler, expression: str, field: str, file: str) -> Getter:
    try:
        return compiler.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise MappingError(f"field {field!r}: expression {expression!r} does not compile: {exc}",
                           field=field, expression=expression, file=file) from exc


def _compile_fields(fields: Mapping[str, Any], compiler: Compiler, file: str, prefix: str) -> list[tuple[str, Field]]:
    return [(name, _compile_field(prefix + name, spec, compiler, file)) for name, spec in fields.items()]


def _compile_field(name: str, spec: Any, compiler: Compiler, file: str) -> Field:
    if isinstance(spec, str):
        if _PLAIN.match(spec) and spec not in ("null", "true", "false"):
            return _plain_field(spec.split("."))  # cannot fail: no guard, one call per field
        return _guard_getter(_compile(compiler, spec, name, file), name, spec, file)
    if not isinstance(spec, Mapping):
        raise MappingError(f"field {name!r}: expected an expression or an object, got {spec!r}", field=name, file=file)
    if "value" in spec:
        const = spec["value"]
        return lambda doc, maps: const
    if "fields" in spec:
        sub = _compile_fields(spec["fields"], compiler, file, prefix=name + ".")
        build = _builder(sub)
        if "each" in spec:
            get_items = _compile(compiler, spec["each"], name, file)

            def nested_list(doc: Any, maps: Mapping[str, Mapping[str, Any]]) -> Any:
                items = get_items(doc)
                return [build(item, maps) for item in items or ()]

            return _guard(nested_list, name, spec["each"], file)
        if "path" in spec:
            get_obj = _compile(compiler, spec["path"], name, file)
            return _guard(lambda doc, maps: None if (o := get_obj(doc)) is None else build(o, maps),
                          name, spec["path"], file)
        return build
    path = spec.get("path")
    if not path:
        raise MappingError(f"field {name!r}: needs 'path', 'value' or 'fields'", field=name, file=file)
    get = _compile(compiler, path, name, file)
    default = spec.get("default", _MISSING)
    if "map" in spec or "lookup" in spec:
        return _value_map(name, path, get, spec.get("map"), spec.get("lookup"), default, file,
                          keep=spec.get("unmapped") == "keep")
    if default is not _MISSING:
        return _guard(lambda doc, maps: v if (v := get(doc)) is not None else default, name, path, file)
    return _guard_getter(get, name, path, file)


def _value_map(name: str, path: str, get: Getter, inline: Mapping[str, Any] | None, lookup: str | None,
               default: Any, file: str, *, keep: bool = False) -> Field:
    inline = dict(inline or {})

    def mapped(doc: Any, maps: Mapping[str, Mapping[str, Any]]) -> Any:
        value = get(doc)
        table = maps.get(lookup, inline) if lookup else inline
        hit = table.get(value if isinstance(value, str) else str(value) if value is not None else None, _MISSING)
        if hit is not _MISSING:
            return hit
        if keep and (value is not None or default is _MISSING):
            return value  # kept as it is (null too, unless a default is given for it)
        if default is not _MISSING:
            return default
        known = ", ".join(sorted(map(str, table))) or "none"
        where = f"map {lookup!r}" if lookup else "the value map"
        raise MappingError(f"field {name!r}: value {value!r} of {path!r} is not in {where} (known: {known})",
                           field=name, expression=path, file=file)

    return _guard(mapped, name, path, file)


def _failure(name: str, expression: str, file: str, exc: Exception) -> MappingError:
    return MappingError(f"field {name!r}: expression {expression!r} failed: {exc}",
                        field=name, expression=expression, file=file)


def _guard(fn: Field, name: str, expression: str, file: str) -> Field:
    # Only JMESPath-level failures are wrapped here; MappingError passes through untouched.
    def guarded(doc: Any, maps: Mapping[str, Mapping[str, Any]]) -> Any:
        try:
            return fn(doc, maps)
        except MappingError:
            raise
        except Exception as exc:
            raise _failure(name, expression, file, exc) from exc

    return guarded


def _guard_getter(get: Getter, name: str, expression: str, file: str) -> Field:
    # _guard for a bare expression, one call fewer per field (the hot path of every mapping).
    def guarded(doc: Any, maps: Mapping[str, Mapping[str, Any]]) -> Any:
        try:
            return get(doc)
        except MappingError:
            raise
        except Exception as exc:
            raise _failure(name, expression, file, exc) from exc

    return guarded
