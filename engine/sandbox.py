"""How a plugin offers a fake store for tests, benchmarks and demos."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxSpec:
    """A fake store a plugin can serve with ``connect-engine sandbox NAME ARGS...``.

    Attributes:
        name: The sandbox's name on the command line.
        description: One line for ``--help``.
        main: Serves in the foreground until interrupted; takes the remaining
            command-line arguments and returns an exit code.
    """

    name: str
    description: str
    main: Callable[[Sequence[str]], int]
