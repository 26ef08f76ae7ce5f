"""The JSON state file the test stores share across processes, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` so a reader in another process never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)
