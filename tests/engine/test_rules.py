"""Severity rules: first match wins, messages quote values, failures name the rule and record."""

from __future__ import annotations

import pytest

from engine.errors import MappingError, Severity
from engine.mapping import Compiler
from engine.rules import compile_rules

RULES = [
    {"name": "cancelled", "when": "record.cancelled_at != null", "severity": "info",
     "message": "order {record.name} was cancelled"},
    {"name": "unpaid", "when": "contains(['pending', 'authorized'], record.financial_status)", "severity": "retry",
     "message": "order {record.name} is {record.financial_status}"},
    {"name": "carrier", "when": "!contains(keys(integration.maps.carriers), record.shipping)", "severity": "error",
     "message": "unknown shipping method {record.shipping}", "hint": "add it to maps.carriers"},
]
MAPS = {"integration": {"name": "x", "maps": {"carriers": {"Standard": "dhl"}}}}


def doc(**record: object) -> dict[str, object]:
    return {**MAPS, "record": {"name": "#1", "cancelled_at": None, "financial_status": "paid",
                               "shipping": "Standard", **record}}


def test_first_match_wins_in_order() -> None:
    rules = compile_rules(RULES, Compiler())
    m = rules.first_match(doc(cancelled_at="2024-01-01", financial_status="pending"))
    assert m is not None and m.severity == Severity.INFO and m.message == "order #1 was cancelled"
    m = rules.first_match(doc(financial_status="pending", shipping="Pigeon"))
    assert m is not None and m.severity == Severity.RETRY and m.message == "order #1 is pending"
    m = rules.first_match(doc(shipping="Pigeon"))
    assert m is not None and m.severity == Severity.ERROR and m.rule.hint == "add it to maps.carriers"
    assert rules.first_match(doc()) is None


def test_failing_when_names_rule_and_record() -> None:
    rules = compile_rules([{"name": "bad", "when": "abs(record.name)", "severity": "info"}], Compiler())
    with pytest.raises(MappingError, match="rule 'bad' failed on record 42"):
        rules.first_match(doc(), feed="f", record="42")


def test_uncompilable_when_and_placeholder() -> None:
    with pytest.raises(MappingError, match="'when' expression"):
        compile_rules([{"when": "record.[", "severity": "info"}], Compiler())
    with pytest.raises(MappingError, match="placeholder"):
        compile_rules([{"when": "`true`", "severity": "info", "message": "x {record.[} y"}], Compiler())
