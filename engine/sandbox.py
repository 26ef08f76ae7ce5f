"""How a plugin offers a fake store for tests, benchmarks, demos and the connector contract suite."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SandboxSpec:
    """A fake store a plugin can serve with ``connect-engine sandbox NAME ARGS...``.

    The last three fields are optional. A sandbox that sets ``start`` takes part in
    the connector contract suite (``tests/contract/``), which runs every check
    against the connector it fakes; ``docs/plugins.md`` ("Contract tests") lists
    the keys of ``contract``.

    Attributes:
        name: The sandbox's name on the command line.
        description: One line for ``--help``.
        main: Serves in the foreground until interrupted; takes the remaining
            command-line arguments and returns an exit code.
        connector: The registered name of the connector this sandbox fakes
            (``None``: the same as ``name``).
        start: Returns a context manager that starts the fake store in-process
            (small deterministic data, no rate limiting), yields the connector
            settings that point at it, and stops it on exit.
        contract: Hints for the contract suite, by key: ``small_pages``,
            ``single_page``, ``full_refresh``, ``cursor_fields``, ``read``,
            ``fetch``, ``write_samples`` and ``received_writes``.
    """

    name: str
    description: str
    main: Callable[[Sequence[str]], int]
    connector: str | None = None
    start: Callable[..., AbstractContextManager[Mapping[str, Any]]] | None = None
    contract: Mapping[str, Any] | None = None
