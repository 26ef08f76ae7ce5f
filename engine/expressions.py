"""JMESPath expressions turned into Python closures, node by node, with the interpreter's exact semantics.

``jmespath``'s tree interpreter dispatches on a dict per AST node on every
search: about 1.5 us per field per record, which dominates a mapping applied to
hundreds of thousands of records. :func:`closure` walks the parsed AST once and
returns nested closures that do the same work directly.

Each closure reproduces ``jmespath.visitor.TreeInterpreter``'s behaviour for its
node: field access via ``.get`` (``None`` on ``AttributeError``), JMESPath
truthiness, comparisons, projections, and function calls through the same
function table with the same argument checks (:mod:`engine.expression_calls`).
Nodes this module does not know (expression references such as
``sort_by(a, &b)``) are evaluated by the library's interpreter itself.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Number
from typing import Any

import jmespath.visitor

from engine.expression_calls import function_call

Fn = Callable[[Any], Any]

_COMPARATORS = jmespath.visitor.TreeInterpreter.COMPARATOR_FUNC


def is_false(value: Any) -> bool:
    """JMESPath falsiness: empty string, list or object, null and false (``0`` is true)."""
    kind = type(value)
    if kind is str or kind is list or kind is dict:
        return not value
    return value == "" or value == [] or value == {} or value is None or value is False


def _actual_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, Number)


def _comparable(x: Any) -> bool:
    return _actual_number(x) or isinstance(x, str)


def closure(ast: dict[str, Any], options: jmespath.Options) -> Fn:
    """A function of one document returning what ``TreeInterpreter(options).visit(ast, doc)`` returns."""
    return _Builder(options).build(ast)


class _Builder:
    def __init__(self, options: jmespath.Options) -> None:
        self.interpreter = jmespath.visitor.TreeInterpreter(options)
        self.functions = self.interpreter._functions
        self.dict_cls = options.dict_cls or dict

    def build(self, node: dict[str, Any]) -> Fn:
        method = getattr(self, "_" + node["type"], None)
        fn: Fn | None = method(node) if method is not None else None
        if fn is None:  # not compiled here: the interpreter evaluates this subtree
            visit, interp = self.interpreter.visit, node
            return lambda value: visit(interp, value)
        return fn

    # -- paths ------------------------------------------------------------------------------------

    def _field(self, node: dict[str, Any]) -> Fn:
        return _fields([node["value"]])

    def _subexpression(self, node: dict[str, Any]) -> Fn:
        children = node["children"]
        # Runs of plain fields are fused into one lookup chain.
        steps: list[Fn] = []
        names: list[str] = []
        for child in children:
            if child["type"] == "field":
                names.append(child["value"])
                continue
            if names:
                steps.append(_fields(names))
                names = []
            steps.append(self.build(child))
        if names:
            steps.append(_fields(names))
        return _chain(steps)

    def _index_expression(self, node: dict[str, Any]) -> Fn:
        return _chain([self.build(c) for c in node["children"]])

    _pipe = _index_expression

    def _current(self, node: dict[str, Any]) -> Fn:
        return _identity

    _identity = _current

    def _literal(self, node: dict[str, Any]) -> Fn:
        const = node["value"]
        return lambda value: const

    def _index(self, node: dict[str, Any]) -> Fn:
        i = node["value"]

        def index(value: Any) -> Any:
            if not isinstance(value, list):
                return None
            try:
                return value[i]
            except IndexError:
                return None

        return index

    def _slice(self, node: dict[str, Any]) -> Fn:
        s = slice(*node["children"])
        return lambda value: value[s] if isinstance(value, list) else None

    # -- projections ------------------------------------------------------------------------------

    def _projection(self, node: dict[str, Any]) -> Fn:
        base, each = self.build(node["children"][0]), self.build(node["children"][1])

        def projection(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            return [r for r in map(each, items) if r is not None]

        return projection

    def _value_projection(self, node: dict[str, Any]) -> Fn:
        base, each = self.build(node["children"][0]), self.build(node["children"][1])

        def value_projection(value: Any) -> Any:
            obj = base(value)
            try:
                items = obj.values()
            except AttributeError:
                return None
            return [r for r in map(each, items) if r is not None]

        return value_projection

    def _filter_projection(self, node: dict[str, Any]) -> Fn:
        base, each, test = (self.build(c) for c in node["children"])
        if node["children"][1]["type"] == "identity":  # ``a[?b]``: the kept elements themselves

            def filter_elements(value: Any) -> Any:
                items = base(value)
                if not isinstance(items, list):
                    return None
                return [e for e in items if not is_false(test(e)) and e is not None]

            return filter_elements

        def filter_projection(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            out = []
            for element in items:
                if not is_false(test(element)):
                    current = each(element)
                    if current is not None:
                        out.append(current)
            return out

        return filter_projection

    def _flatten(self, node: dict[str, Any]) -> Fn:
        base = self.build(node["children"][0])

        def flatten(value: Any) -> Any:
            items = base(value)
            if not isinstance(items, list):
                return None
            merged: list[Any] = []
            for element in items:
                if isinstance(element, list):
                    merged.extend(element)
                else:
                    merged.append(element)
            return merged

        return flatten

    # -- multi-selects ----------------------------------------------------------------------------

    def _multi_select_list(self, node: dict[str, Any]) -> Fn:
        parts = [self.build(c) for c in node["children"]]
        if len(parts) == 2:
            p0, p1 = parts
            return lambda value: None if value is None else [p0(value), p1(value)]
        return lambda value: None if value is None else [f(value) for f in parts]

    def _multi_select_dict(self, node: dict[str, Any]) -> Fn:
        pairs = [(c["value"], self.build(c["children"][0])) for c in node["children"]]
        dict_cls = self.dict_cls

        def multi_select_dict(value: Any) -> Any:
            if value is None:
                return None
            out: dict[str, Any] = dict_cls()
            for key, f in pairs:
                out[key] = f(value)
            return out

        return multi_select_dict

    # -- logic and comparison ---------------------------------------------------------------------

    def _or_expression(self, node: dict[str, Any]) -> Fn:
        left, right = (self.build(c) for c in node["children"])

        def or_expression(value: Any) -> Any:
            matched = left(value)
            return right(value) if is_false(matched) else matched

        return or_expression

    def _and_expression(self, node: dict[str, Any]) -> Fn:
        left, right = (self.build(c) for c in node["children"])

        def and_expression(value: Any) -> Any:
            matched = left(value)
            return matched if is_false(matched) else right(value)

        return and_expression

    def _not_expression(self, node: dict[str, Any]) -> Fn:
        inner = self.build(node["children"][0])

        def not_expression(value: Any) -> Any:
            result = inner(value)
            if _actual_number(result) and result == 0:
                return False  # !0 is false: 0 is true in JMESPath
            return not result

        return not_expression

    def _comparator(self, node: dict[str, Any]) -> Fn:
        op = node["value"]
        compare = _COMPARATORS[op]
        left, right = (self.build(c) for c in node["children"])
        if op in ("eq", "ne"):
            equal = op == "eq"

            def equality(value: Any) -> Any:
                a, b = left(value), right(value)
                if type(a) is str and type(b) is str:  # no number/boolean special case applies
                    return (a == b) is equal
                return compare(a, b)

            return equality

        def ordering(value: Any) -> Any:
            a, b = left(value), right(value)
            if not (_comparable(a) and _comparable(b)):
                return None
            return compare(a, b)

        return ordering

    # -- functions --------------------------------------------------------------------------------

    def _function_expression(self, node: dict[str, Any]) -> Fn | None:
        return function_call(node, self.functions, self.build)


def _identity(value: Any) -> Any:
    return value


def _chain(steps: list[Fn]) -> Fn:
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2:
        first, second = steps
        return lambda value: second(first(value))

    def chain(value: Any) -> Any:
        for step in steps:
            value = step(value)
        return value

    return chain


def _fields(names: list[str]) -> Fn:
    # ``value.get(name)``, None when the value has no ``get`` (None, lists, strings, numbers).
    if len(names) == 1:
        (a,) = names

        def field(value: Any) -> Any:
            try:
                return value.get(a)
            except AttributeError:
                return None

        return field
    if len(names) == 2:
        a, b = names

        def field2(value: Any) -> Any:
            try:
                return value.get(a).get(b)
            except AttributeError:
                return None

        return field2

    def fields(value: Any) -> Any:
        try:
            for name in names:
                value = value.get(name)
        except AttributeError:
            return None
        return value

    return fields
