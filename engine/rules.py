"""Severity rules: ordered ``when`` -> ``info | retry | error``, first match wins.

Rules see one document per source record::

    {"record": <the source record>, "integration": {"name": ..., "maps": {...}},
     "params": <the feed's source params>}

so a rule reads ``record.financial_status == 'pending'`` or
``!contains(keys(integration.maps.carriers), record.shipping_lines[0].code)``.
Messages may quote values with ``{expression}``: ``"order {record.name} is unpaid"``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jmespath.exceptions

from engine.errors import MappingError, Severity
from engine.mapping import Compiler, Getter

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class Rule:
    """One compiled rule."""

    when: str
    severity: Severity
    message: str
    hint: str | None
    test: Getter
    parts: tuple[tuple[str, Getter | None], ...]  # message pieces: literal text or expression
    name: str | None = None

    def render(self, doc: Any) -> str:
        """The message with its ``{expression}`` placeholders filled from ``doc``."""
        out = []
        for text, get in self.parts:
            if get is None:
                out.append(text)
            else:
                try:
                    value = get(doc)
                except Exception:  # a message must never fail a record
                    value = None
                out.append("" if value is None else str(value))
        return "".join(out)


@dataclass(frozen=True)
class Match:
    """The rule that matched a record, with its rendered message."""

    rule: Rule
    message: str

    @property
    def severity(self) -> Severity:
        """The matched rule's severity."""
        return self.rule.severity


class RuleSet:
    """Ordered rules; :meth:`first_match` returns the first whose ``when`` holds."""

    def __init__(self, rules: Sequence[Rule], *, file: str = "") -> None:
        self.rules = tuple(rules)
        self.file = file

    def __bool__(self) -> bool:
        return bool(self.rules)

    def first_match(self, doc: Mapping[str, Any], *, feed: str = "", record: str | None = None) -> Match | None:
        """The first matching rule, or None.

        Raises:
            MappingError: A ``when`` failed on this record (naming feed, record and expression).
        """
        for rule in self.rules:
            try:
                hit = rule.test(doc)
            except Exception as exc:
                raise MappingError(f"rule {rule.name or rule.when!r} failed on record {record}: {exc}",
                                   feed=feed, field="rules", expression=rule.when, record=record,
                                   file=self.file) from exc
            if hit not in (None, False, "", [], {}):
                return Match(rule, rule.render(doc))
        return None


def compile_rules(specs: Sequence[Mapping[str, Any]], compiler: Compiler, *, file: str = "") -> RuleSet:
    """Compile validated rule dicts (``when``, ``severity``, ``message``, optional ``hint``/``name``).

    Raises:
        MappingError: A ``when`` or a message placeholder is not valid JMESPath.
    """
    rules = []
    for i, spec in enumerate(specs):
        label = spec.get("name") or f"rules[{i}]"
        when = spec["when"]
        try:
            test = compiler.compile(when)
        except jmespath.exceptions.JMESPathError as exc:
            raise MappingError(f"{label}: 'when' expression {when!r} does not compile: {exc}",
                               field=label, expression=when, file=file) from exc
        rules.append(Rule(when=when, severity=Severity(spec["severity"]), message=spec.get("message", ""),
                          hint=spec.get("hint"), test=test,
                          parts=_template(spec.get("message", ""), compiler, label, file), name=spec.get("name")))
    return RuleSet(rules, file=file)


def _template(message: str, compiler: Compiler, label: str, file: str) -> tuple[tuple[str, Getter | None], ...]:
    parts: list[tuple[str, Getter | None]] = []
    pos = 0
    for m in _PLACEHOLDER.finditer(message):
        if m.start() > pos:
            parts.append((message[pos:m.start()], None))
        try:
            parts.append(("", compiler.compile(m.group(1))))
        except jmespath.exceptions.JMESPathError as exc:
            raise MappingError(f"{label}: message placeholder {{{m.group(1)}}} is not valid JMESPath: {exc}",
                               field=label, expression=m.group(1), file=file) from exc
        pos = m.end()
    if pos < len(message):
        parts.append((message[pos:], None))
    return tuple(parts)
