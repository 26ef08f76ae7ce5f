"""The installed distributions' entry points of one group, found without importing ``importlib.metadata``.

Every command loads the ``connect_engine`` entry points before it parses its
arguments. ``importlib.metadata`` (with the email, zipfile and csv modules it
imports) costs a command about 20 to 30 ms before it has read one file; what it
does for entry points is simple: for each folder on ``sys.path`` in order, each
``*.dist-info`` and ``*.egg-info`` folder in it, the ``[group]`` section of its
``entry_points.txt``. That is what :func:`find` does. Where ``sys.path`` holds
something that is not a folder (a zip archive), it leaves the search to
``importlib.metadata``, which also reads those.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point (``name = module:attr``) and the distribution folder it comes from."""

    name: str
    value: str
    source: str  # the distribution's metadata folder
    found_by: Any = None  # the importlib.metadata distribution, where that found it

    def load(self) -> Any:
        """Import the module and return the object the entry point names."""
        module, _, attrs = self.value.split("[", 1)[0].partition(":")  # extras ("[name]") select nothing here
        found: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.strip().split(".")):
            found = getattr(found, attr)
        return found

    def distribution(self) -> tuple[str | None, str | None]:
        """The distribution's name and version, as its metadata says them (read by ``importlib.metadata``, which
        only the ``plugins`` listing needs)."""
        from importlib.metadata import PathDistribution

        dist = self.found_by if self.found_by is not None else PathDistribution(Path(self.source))
        return dist.metadata["Name"], dist.version


def find(group: str) -> list[EntryPoint]:
    """The ``group`` entry points of every distribution on ``sys.path``, in the order ``importlib.metadata`` gives."""
    found: list[EntryPoint] = []
    for entry in sys.path:
        folder = entry or "."
        if not os.path.isdir(folder):
            if os.path.exists(folder):  # an archive: importlib.metadata reads inside it
                return _by_importlib(group)
            continue
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.lower().endswith(_SUFFIXES):
                source = os.path.join(folder, name)
                found.extend(EntryPoint(n, v, source) for n, v in _section(source, group))
    return found


def _section(source: str, group: str) -> list[tuple[str, str]]:
    """``(name, value)`` of the ``[group]`` section of ``source``'s entry_points.txt (none if it has none)."""
    try:
        with open(os.path.join(source, "entry_points.txt"), encoding="utf-8") as lines:
            text = lines.read()
    except (OSError, UnicodeDecodeError):
        return []
    out: list[tuple[str, str]] = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _by_importlib(group: str) -> list[EntryPoint]:
    from importlib.metadata import distributions

    return [EntryPoint(ep.name, ep.value, "", dist) for dist in distributions()
            for ep in dist.entry_points if ep.group == group]
