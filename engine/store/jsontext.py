"""The text JSON columns are stored as: ``json.dumps``'s document, written by orjson when that is the same.

Every JSON column value is serialised on write (a hub product link's store
ids, an execution's counts, an event's details). ``json.dumps`` costs about
ten times what orjson does for a small object, which shows on imports of
hundreds of thousands of rows. orjson writes the same JSON document (compact,
without the spaces after ``,`` and ``:``) for plain data, and differs
elsewhere: it writes ``null`` for NaN and infinities, refuses integers beyond 64
bits and non-string keys, and accepts values ``json.dumps`` refuses (enums,
UUIDs, datetimes). So only values made of exact ``dict`` (string keys),
``list``, ``tuple``, ``str``, ``int``, finite ``float``, ``bool`` and ``None``
take the fast path; anything else goes to ``json.dumps`` as before.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

_isfinite = math.isfinite


def dumps(value: Any) -> str:
    """The JSON text of ``value``: the document ``json.dumps(value)`` writes (raises what it raises)."""
    if plain(value):
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:  # an integer beyond 64 bits
            pass
    return json.dumps(value)


def plain(value: Any) -> bool:
    """Whether ``value`` holds plain JSON data only (see the module docstring)."""
    stack = [value]
    pop, push = stack.pop, stack.append
    while stack:
        v = pop()
        kind = type(v)
        if kind is dict:
            for key, item in v.items():
                if type(key) is not str:
                    return False
                of = type(item)
                if of is str or of is int or item is None or of is bool:  # scalars checked here: no push
                    continue
                push(item)
        elif kind is list or kind is tuple:
            for item in v:
                push(item)
        elif kind is float:
            if not _isfinite(v):
                return False
        elif not (kind is str or kind is int or kind is bool or v is None):
            return False
    return True
