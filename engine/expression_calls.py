"""Calls of JMESPath functions from compiled expressions (:mod:`engine.expressions`).

A call goes through the same function table the interpreter uses (built-in
functions and the ones plugins add), after the same checks: the arity is
checked when the expression is compiled (a wrong one is left to the
interpreter, which raises its own error), argument types when it runs. Types
are first tested by exact Python type; whenever that quick test is not sure,
the library's own check runs, so a bad argument raises the library's error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import jmespath.functions

Fn = Callable[[Any], Any]

_FAST_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "number": (int, float), "boolean": (bool,), "array": (list,), "object": (dict,),
    "null": (type(None),),
}
_STOCK_TO_STRING = jmespath.functions.Functions.FUNCTION_TABLE["to_string"]["function"]


def function_call(node: dict[str, Any], functions: jmespath.functions.Functions,
                  build: Callable[[dict[str, Any]], Fn]) -> Fn | None:
    """The closure of a ``function_expression`` node, or None when the interpreter should evaluate it.

    Args:
        node: The AST node.
        functions: The function table's owner (``Options.custom_functions`` or the library's).
        build: Compiles an argument node.
    """
    name, children = node["value"], node["children"]
    spec = functions.FUNCTION_TABLE.get(name)
    if spec is None or any(c["type"] == "expref" for c in children):
        return None  # unknown function (the interpreter raises its error) or one taking &expressions
    signature = spec["signature"]
    variadic = bool(signature) and signature[-1].get("variadic")
    if (len(children) < len(signature)) if variadic else (len(children) != len(signature)):
        return None  # wrong arity: the interpreter raises its error
    args = [build(c) for c in children]
    function = spec["function"]
    if function is _STOCK_TO_STRING and len(args) == 1:
        return _to_string(args[0])
    raw = getattr(function, "engine_function", None)
    target: Callable[..., Any] = raw if raw is not None else functools.partial(function, functions)
    # All arguments are evaluated first, then checked in order, as the interpreter does.
    types: list[list[str] | None] = [None] * len(args)
    for i, s in enumerate(signature):
        types[i] = s["types"] or None
    if all(t is None for t in types):
        return _call(target, args)
    fast = [None if t is None else (_fast_check(t) or _never) for t in types]

    def verify(values: tuple[Any, ...]) -> None:
        for i, value in enumerate(values):
            ok = fast[i]
            if ok is not None and not ok(value):
                functions._type_check_single(value, types[i], name)

    if len(args) == 1:
        (a0,) = args
        ok0 = fast[0]

        def call1(value: Any) -> Any:
            v0 = a0(value)
            if ok0 is not None and not ok0(v0):
                verify((v0,))
            return target(v0)

        return call1
    if len(args) == 2:
        a0, a1 = args
        ok0, ok1 = fast

        def call2(value: Any) -> Any:
            v0, v1 = a0(value), a1(value)
            if (ok0 is not None and not ok0(v0)) or (ok1 is not None and not ok1(v1)):
                verify((v0, v1))
            return target(v0, v1)

        return call2

    def call(value: Any) -> Any:
        values = tuple(a(value) for a in args)
        verify(values)
        return target(*values)

    return call


def _call(target: Callable[..., Any], args: list[Fn]) -> Fn:
    if len(args) == 1:
        (a0,) = args
        return lambda value: target(a0(value))
    if len(args) == 2:
        a0, a1 = args
        return lambda value: target(a0(value), a1(value))
    return lambda value: target(*[a(value) for a in args])


def _to_string(arg: Fn) -> Fn:
    dumps = json.dumps

    def to_string(value: Any) -> Any:
        v = arg(value)
        if type(v) is str:
            return v
        if type(v) is int:
            return int.__repr__(v)  # what json.dumps writes for an int
        return dumps(v, separators=(",", ":"), default=str)

    return to_string


def _never(value: Any) -> bool:
    return False


def _fast_check(types: list[str]) -> Callable[[Any], bool] | None:
    """An exact-type test that passes only values the library's check passes (None: always ask it)."""
    allowed: list[type] = []
    sub: list[tuple[type, ...]] = []
    for t in types:
        base, _, subtype = t.partition("-")
        if base not in _FAST_TYPES or (subtype and subtype not in _FAST_TYPES):
            return None
        allowed.extend(_FAST_TYPES[base])
        if subtype:
            sub.append(_FAST_TYPES[subtype])
    kinds = tuple(allowed)
    if not sub:
        return lambda v: type(v) in kinds
    if len(sub) == 1:
        elements = sub[0]

        def array_of(v: Any) -> bool:
            if type(v) not in kinds:
                return False
            for e in v:  # noqa: SIM110 - a loop beats all() over a generator on short lists
                if type(e) not in elements:
                    return False
            return True

        return array_of
    return None
