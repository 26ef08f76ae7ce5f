"""Compiled JMESPath closures give exactly what the library's interpreter gives: values, types and errors."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import jmespath
import jmespath.exceptions
import pytest

from engine.expressions import closure
from engine.mapping import Compiler, JMESPathFunction

EXPRESSIONS = [
    # paths, indexes, slices
    "a", "a.b", "a.b.c", "a.b.c.d", "a[0]", "a[-1]", "a[5]", "a[0].b", "a.b[0].c", "a[1:3]", "a[::-1]",
    "a[0][0]", "@", "@.a", "s.length", "n.b", "l.b", "a.b.length",
    # projections and flatten
    "a[*]", "a[*].b", "a[*].b.c", "a[].b", "a[][]", "a.*", "a.*.b", "*.b", "*", "a[?b]", "a[?b == `1`].c",
    "a[?b > `1`]", "a[?!b]", "a[*].[b, c]", "a[*].{x: b}", "a[0:2].b", "l[*]", "l[].x",
    # multi-selects
    "[a, b]", "{x: a, y: b.c}", "a.[b, c]", "a.{x: b, y: c}", "[a, `1`, 'z']", "nothing.[a]", "nothing.{a: a}",
    # logic and comparison
    "a && b", "a || b", "e || 'x'", "e && 'x'", "s || 'x'", "z || 'x'", "n || 'x'", "nothing || l",
    "!a", "!n", "!z", "!e", "a == b", "a != b", "n == `1`", "t == `true`", "z == `false`",
    "z == `0`", "n < `2`", "n >= n", "s < 'b'", "s > `1`", "a < b", "t == n", "e == `[]`", "a || `\"d\"`",
    "title == 'Default Title' && parent.title || join(' - ', [parent.title, title])",
    # literals
    "`[1, 2]`", "`{\"k\": 1}`", "'text'", "`null`", "`true`",
    # functions: stock, engine, type errors, arity errors, exprefs, unknown
    "to_string(n)", "to_string(s)", "to_string(f)", "to_string(a)", "to_string(t)", "to_string(nothing)",
    "to_string(big)", "to_number(s)", "length(s)", "length(a)", "length(n)", "join(', ', l)", "join(', ', ls)",
    "join(', ', [s, s])", "join(`1`, ls)", "sum(ln)", "sum(ls)", "max(ln)", "max(ls)", "max(lm)", "abs(n)",
    "abs(s)", "contains(ls, 'x')", "not_null(nothing, n)", "not_null()", "keys(a)", "keys(@)", "values(a)",
    "sort(ls)", "sort(lm)", "sort_by(l, &x)", "map(&x, l)", "max_by(l, &x)", "type(@)", "type(a)",
    "length(s, s)", "nope(s)", "starts_with(s, 'a')", "starts_with(n, 'a')", "lower(s)", "upper(nothing)",
    "to_int(f)", "to_int(s)", "to_decimal_str(f)", "weight_grams(w, u)", "weight_grams(w, bad)", "split(s, ',')",
    "split(n, ',')", "merge(a, `{\"k\": 1}`)", "reverse(s)", "ends_with(s, s)", "avg(ln)", "avg(lm)",
    "floor(f)", "ceil(n)", "to_array(n)", "length(a) > `0` && s || 'none'", "shout(s)", "shout(n)",
]

DOCS: list[Any] = [
    {"a": {"b": {"c": {"d": 1}}, "c": [1]}, "b": 2, "s": "a,b", "n": 1, "f": 2.5, "t": True, "z": False,
     "e": [], "l": [{"x": 2}, {"x": 1}, {"y": 3}], "ls": ["b", "a"], "ln": [1, 2.5], "lm": [1, "a"],
     "w": 2, "u": "kg", "bad": "stone", "big": 2 ** 70, "title": "Default Title", "parent": {"title": "Mug"}},
    {"a": [{"b": 1, "c": "x"}, {"b": 2, "c": None}, {"b": [1, 2]}, None, "str", [3, [4]]], "b": None,
     "s": "", "n": 0, "f": -0.0, "t": False, "z": 0, "e": {}, "l": [], "ls": [], "ln": [], "lm": [],
     "w": None, "u": None, "title": "Large", "parent": {"title": "Mug"}},
    {"a": {"b": [{"c": 5}], "x": {"b": 1}, "y": {"b": None}}, "b": {"c": 3}, "s": "zz", "n": 2.0,
     "l": "not a list", "ls": ["x", 1], "ln": [True], "title": None, "parent": None},
    OrderedDict(a=OrderedDict(b=1, c=2), s="b"),
    {"a": "text", "b": "text", "s": 5, "n": "1", "l": [{"x": "a"}, {"x": "b"}], "ls": None},
    [1, 2, {"a": 1}], "a string", 7, None, True, [],
]


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        value = fn()
    except Exception as exc:  # the compared outcome includes the error's type and text
        return "error", (type(exc).__name__, str(exc))
    return "value", (type(value).__name__, value)


@pytest.fixture(scope="module")
def options() -> jmespath.Options:
    shout = JMESPathFunction("shout", lambda s: s.upper() + "!", ("string",))
    return Compiler([shout]).options


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_closure_matches_the_interpreter(expression: str, options: jmespath.Options) -> None:
    parsed = jmespath.compile(expression)
    fn = closure(parsed.parsed, options)
    for doc in DOCS:
        assert _outcome(lambda d=doc: fn(d)) == _outcome(lambda d=doc: parsed.search(d, options)), (expression, doc)


def test_unknown_function_and_bad_arity_raise_the_library_errors(options: jmespath.Options) -> None:
    with pytest.raises(jmespath.exceptions.UnknownFunctionError):
        closure(jmespath.compile("nope(a)").parsed, options)({"a": 1})
    with pytest.raises(jmespath.exceptions.ArityError):
        closure(jmespath.compile("length(a, a)").parsed, options)({"a": "x"})
    with pytest.raises(jmespath.exceptions.JMESPathTypeError):
        closure(jmespath.compile("join(', ', a)").parsed, options)({"a": ["x", 1]})


def test_compiler_compiles_to_closures(options: jmespath.Options) -> None:
    get = Compiler().compile("title == 'Default Title' && parent.title || join(' - ', [parent.title, title])")
    assert get({"title": "Default Title", "parent": {"title": "Mug"}}) == "Mug"
    assert get({"title": "L", "parent": {"title": "Mug"}}) == "Mug - L"
    assert Compiler().compile("to_string(id)")({"id": 45_000_000_000_001}) == "45000000000001"
