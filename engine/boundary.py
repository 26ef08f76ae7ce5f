"""What the engine checks of what a connector hands it: pages, records and write outcomes.

Connectors are plugins, often a third party's. A mistake in one (a list yielded
where a :class:`~engine.connector.Page` belongs, an outcome that is a dict, a plain
``ValueError`` from ``read``) must end the run with a message that names the
connector, the resource and what was expected, not with an ``AttributeError`` from
deep inside the pipeline. The checks cost next to nothing on the hot path: pages are
checked one by one as they come, and outcomes only once something about them has
already gone wrong.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from typing import Any

from engine.connector import Page, WriteOutcome
from engine.errors import ConnectorError, EngineError, RecordError

log = logging.getLogger(__name__)

ACTIONS = ("created", "updated", "unchanged", "error")

# What to do about a record's problem, by its kind, when the problem brings no hint of its own.
HINTS = {
    "AuthError": "Check the integration's credentials (settings in engine.yaml) and the app's access scopes.",
    "RemoteRejected": "The store refused the record: correct it in the store or the hub, then run the feed again.",
    "MappingError": "Fix the feed's mapping or the record it names, then run the feed again.",
    "TransientError": "The store did not answer in time; it is retried automatically.",
    "mismatch": "The hub and the store disagree: check recent stock moves, then run the stock export.",
    "keyless": "The source gave a record without its key: correct it where it comes from (or the connector).",
    "RecordError": "The record's data does not fit the target (the message names the field): correct it where it "
                   "comes from, then run the feed again.",
}


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters: a message quotes a value, it does not store it."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({type(value).__name__}, {len(text)} characters)"


def keyless(raw: Any, label: str | None, side: str, resource: str, key: str, feed: str) -> str:
    """Why a source record without its key is refused (it could not be parked, re-fetched or told apart)."""
    what = f"record {label!r}" if label else "a record"
    if not isinstance(raw, dict):
        return (f"{what} of {side} resource {resource!r} is a {type(raw).__name__}, not an object "
                f"(a connector bug; feed {feed})")
    return (f"{what} of {side} resource {resource!r} has no {key!r}, the key that identifies it; "
            f"it was not written (feed {feed})")


def pages(source: Iterator[Any], connector: str, resource: str) -> Iterator[Page | None]:
    """``source`` (a connector's ``read``), each page checked; a plain exception is named after the connector."""
    what = f"connector {connector!r} read({resource!r})"
    try:
        for page in source:
            yield None if page is None else checked_page(page, what)
    except EngineError:
        raise
    except Exception as exc:
        log.info("%s raised", what, exc_info=True)  # the traceback, for --verbose
        raise ConnectorError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def checked_page(page: Any, what: str) -> Page:
    """``page`` if it is what ``read`` must yield; otherwise a :class:`ConnectorError` saying what was wrong."""
    if not isinstance(page, Page):
        raise ConnectorError(f"{what} yielded a {type(page).__name__}; expected engine.Page(records=[...], "
                             "cursor=..., total=...)")
    if type(page.records) is not list:
        raise ConnectorError(f"{what} yielded a Page whose records are a {type(page.records).__name__}; "
                             "expected a list of dicts")
    total = page.total
    if total is not None and (type(total) is not int or total < 0):
        log.warning("%s gave total=%s, not a count: ignored (it only drives progress)", what, shown(total))
        page.total = None
    if page.cursor is not None:
        try:
            json.dumps(page.cursor, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConnectorError(f"{what} gave a cursor JSON cannot hold ({exc}): {shown(page.cursor)}; "
                                 "a cursor is saved as JSON") from None
    return page


def write_failed(exc: Exception, connector: str, resource: str, call: str = "write") -> ConnectorError:
    """A plain exception from a connector's ``write`` (or ``prepare_write``), named after the connector."""
    log.info("connector %r %s(%r) raised", connector, call, resource, exc_info=True)
    return ConnectorError(f"connector {connector!r} {call}({resource!r}) raised {type(exc).__name__}: {exc}")


def outcome_problem(result: Any, expected: int, connector: str, resource: str) -> ConnectorError | None:
    """What is wrong with what ``write`` returned for ``expected`` records, if anything."""
    what = f"connector {connector!r} write({resource!r})"
    if not isinstance(result, Sequence) or isinstance(result, (str, bytes)):
        return ConnectorError(f"{what} returned a {type(result).__name__}; expected a list of engine.WriteOutcome")
    if len(result) != expected:
        return ConnectorError(f"{what} returned {len(result)} outcomes for {expected} records; expected one per "
                              "record, in order")
    for o in result:
        if not isinstance(o, WriteOutcome):
            return ConnectorError(f"{what} returned a {type(o).__name__} among its outcomes; expected "
                                  "engine.WriteOutcome(key, action, remote_id=None, error=None)")
        if o.action not in ACTIONS:
            return ConnectorError(f"{what} returned action {shown(o.action)}; expected one of {', '.join(ACTIONS)}")
    return None


def outcome_error(o: WriteOutcome) -> EngineError:
    """The error of an ``error`` outcome, as an :class:`EngineError` whatever the connector put there."""
    err = o.error
    if isinstance(err, EngineError):
        return err
    if err is None:
        return RecordError("the target reported an error without details")
    return RecordError(f"{type(err).__name__}: {err}")
