"""JSON Schema validation that reports every problem as a located, friendly :class:`ConfigError`.

``jsonschema`` says ``'prod' is not one of ['test', 'live']``; an integrator
needs ``integrations.demo-shop.mode must be one of test, live, not 'prod'`` at
the line of ``prod``. :func:`schema_errors` runs ``Draft202012Validator.iter_errors``
and rewrites each error with the allowed values and a did-you-mean.
The schemas themselves are the JSON files of the top-level ``schemas/`` folder
(the same files editors use).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import validcache
from engine.errors import ConfigError
from engine.secrets import secret_path
from engine.yamlio import JsonPath, Marks, dotted

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"

# What a pattern means, in words (keyed by the schema's pattern).
PATTERN_HINTS = {
    "^[a-z][a-z0-9_]*$": "use lowercase letters, digits and '_', starting with a letter",
    "^[a-z0-9][a-z0-9_-]*$": "use lowercase letters, digits, '-' and '_', starting with a letter or digit",
    "^[1-9][0-9]*[dhms]$": "use a number followed by d, h, m or s (30d, 12h, 15m), or whole seconds",
}

_TYPE_WORDS = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "true or false", "null": "null",
}


# Validators by id of their schema, for the schemas that live until exit (the schemas/ files, kept
# by load_schema's cache): a configuration validates every feed and mapping file against the same
# one. jsonschema is imported only when something is validated (engine.validcache).
_VALIDATORS: dict[int, Any] = {}


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``schemas/<name>.schema.json`` (``engine``, ``feed`` or ``mapping``)."""
    path = SCHEMAS_DIR / f"{name}.schema.json"
    try:
        schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:  # an installation without the schemas folder
        raise ConfigError(f"JSON Schema {name!r} is missing: cannot read {path}: {exc}") from exc
    _VALIDATORS[id(schema)] = None  # built on first use
    return schema


def _validator(schema: Mapping[str, Any]) -> Any:
    from jsonschema import Draft202012Validator
    from jsonschema.validators import validator_for

    if id(schema) in _VALIDATORS:
        validator = _VALIDATORS[id(schema)]
        if validator is None or validator.schema is not schema:
            validator = _VALIDATORS[id(schema)] = validator_for(schema, default=Draft202012Validator)(schema)
        return validator
    return validator_for(schema, default=Draft202012Validator)(schema)  # a connector's settings_schema


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when ``word`` is close to one of ``choices``, else ``""``."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_of(choices: Iterable[Any]) -> str:
    """``a, b, c`` (or ``none`` when empty)."""
    return ", ".join(str(c) for c in choices) or "none"


def describe(value: Any, *, hide: bool = False) -> str:
    """A short description of a YAML value for messages (``'abc'``, ``5``, ``a list``)."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if hide:
        return "a " + type(value).__name__ + " value"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return repr(value)
    return f"{type(value).__name__} {value}"


def check_schema(schema: Mapping[str, Any]) -> str | None:
    """None if ``schema`` is a valid JSON Schema (of the draft its ``$schema`` names; 2020-12 by default)."""
    def check() -> list[str]:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError
        from jsonschema.validators import validator_for

        try:
            validator_for(schema, default=Draft202012Validator).check_schema(dict(schema))
        except SchemaError as exc:
            return [exc.message]
        return []

    return next(iter(validcache.schema_checked(schema, check)), None)


def schema_errors(instance: Any, schema: Mapping[str, Any], marks: Marks, *, base: JsonPath = (),
                  what: str = "document", skip: Iterable[JsonPath] = (),
                  private: Iterable[JsonPath] = ()) -> list[ConfigError]:
    """Validate ``instance`` and return one friendly, located error per problem.

    Args:
        instance: The data to validate.
        schema: A JSON Schema (draft 2020-12 unless its ``$schema`` names another).
        marks: Line marks of the file ``instance`` comes from.
        base: JSON path of ``instance`` within that file (for marks and names).
        what: How to call the document itself in messages (``feed``, ``engine.yaml``).
        skip: Paths whose problems are already reported (an undefined ``${VAR}``).
        private: Paths (within ``instance``) of values never to keep, even hashed: those
            from the environment (:mod:`engine.validcache`); ``validcache.EVERY_VALUE``: all.
    """
    skipped = tuple(skip)

    def check() -> list[ConfigError]:
        seen: set[tuple[JsonPath, str]] = set()
        out: list[ConfigError] = []
        for error in _validator(schema).iter_errors(instance):
            for path, message, at_key in _translate(error, base, what):
                if any(path[:len(s)] == s for s in skipped) or (path, message) in seen:
                    continue
                seen.add((path, message))
                out.append(marks.error(path, message, at_key=at_key))
        return out

    if skipped:  # the document has problems already: nothing to keep
        return check()
    return validcache.schema_passed(schema, instance, check, private=tuple(private))


def _translate(error: ValidationError, base: JsonPath, what: str) -> list[tuple[JsonPath, str, bool]]:
    path: JsonPath = (*base, *error.absolute_path)
    name = dotted(path) or what
    kind: Any = error.validator
    value: Any = error.validator_value
    inst: Any = error.instance
    hide = secret_path(path)
    if "propertyNames" in error.absolute_schema_path:
        hint = PATTERN_HINTS.get(value, f"it must match {value}") if kind == "pattern" else error.message
        return [((*path, str(inst)), f"invalid name {inst!r} in {name}: {hint}", True)]
    if kind == "additionalProperties" and isinstance(inst, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        extras = [k for k in inst if k not in allowed and not any(re.search(p, k) for p in patterns)]
        return [((*path, k), f"unknown key {k!r} in {name}; allowed: {one_of(allowed)}{did_you_mean(k, allowed)}",
                 True) for k in extras]
    if kind == "required" and isinstance(inst, Mapping):
        return [(path, f"missing required key {k!r} in {name}", True) for k in value if k not in inst]
    if kind == "type":
        types: list[str] = value if isinstance(value, list) else [value]
        expected = " or ".join(_TYPE_WORDS.get(t, t) for t in types)
        return [(path, f"{name} must be {expected}, not {describe(inst, hide=hide)}", False)]
    if kind == "enum":
        return [(path, f"{name} must be one of {one_of(value)}, not {describe(inst, hide=hide)}"
                       f"{did_you_mean(inst, map(str, value))}", False)]
    if kind == "const":
        return [(path, f"{name} must be {value!r}, not {describe(inst, hide=hide)}", False)]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [(path, _range_message(name, error.schema, inst), False)]
    if kind == "pattern":
        hint = PATTERN_HINTS.get(value, f"it must match {value}")
        return [(path, f"{name} {describe(inst, hide=hide)} is not valid: {hint}", False)]
    if kind == "minLength":
        return [(path, f"{name} must not be empty" if value == 1 else
                 f"{name} must be at least {value} characters long", False)]
    if kind in ("minItems", "minProperties"):
        return [(path, f"{name} must not be empty" if value == 1 else
                 f"{name} must have at least {value} entries", False)]
    if kind == "uniqueItems":
        return [(path, f"{name} lists the same item twice", False)]
    if kind in ("anyOf", "oneOf"):
        return _translate_alternatives(error, path, name, base, what, hide)
    return [(path, f"{name}: {error.message}", False)]


def _range_message(name: str, schema: Any, inst: Any) -> str:
    low = schema.get("minimum") if isinstance(schema, Mapping) else None
    high = schema.get("maximum") if isinstance(schema, Mapping) else None
    if low is not None and high is not None:
        return f"{name} must be between {low} and {high}, not {inst}"
    if low is not None:
        return f"{name} must be at least {low}, not {inst}"
    if high is not None:
        return f"{name} must be at most {high}, not {inst}"
    return f"{name} is out of range: {inst}"


def _translate_alternatives(error: ValidationError, path: JsonPath, name: str, base: JsonPath, what: str,
                            hide: bool) -> list[tuple[JsonPath, str, bool]]:
    # Report the branch whose type fits the value (a string that breaks the string branch's
    # pattern); when none or several fit, say which types are allowed.
    branches: dict[Any, list[ValidationError]] = defaultdict(list)
    for sub in error.context or ():
        branches[sub.relative_schema_path[0]].append(sub)
    fitting = [errs for errs in branches.values()
               if not any(e.validator == "type" and not e.relative_path for e in errs)]
    if len(fitting) == 1:
        out: list[tuple[JsonPath, str, bool]] = []
        for sub in fitting[0]:
            out.extend(_translate(sub, base, what))
        return out
    words: list[str] = []
    alternatives: Any = error.validator_value
    for sub_schema in alternatives:
        t: Any = sub_schema.get("type") if isinstance(sub_schema, Mapping) else None
        for one in t if isinstance(t, list) else [t] if t else []:
            words.append(_TYPE_WORDS.get(str(one), str(one)))
    expected = " or ".join(dict.fromkeys(words)) or "a valid value"
    return [(path, f"{name} must be {expected}, not {describe(error.instance, hide=hide)}", False)]
