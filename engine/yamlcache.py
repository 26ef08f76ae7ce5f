"""Loaded YAML documents kept by their content, so a command's start-up skips the YAML parser.

Every ``connect-engine`` command reads engine.yaml and the feed set's feed and
mapping files. PyYAML's pure-Python parser is most of what loading them costs
(tens of milliseconds on each start of a one-feed ``run``). What
:func:`engine.yamlio.load_yaml_file` builds from a file (its data and the line
marks of every key and value) depends on nothing but the file's text and name,
so it is kept under a hash of both, like Python keeps bytecode:

- A file read again with the same text, under the same name, is taken from the
  cache. Any edit changes the hash, whatever the file's timestamps say.
- Only what the parser gives is kept: validation, ``${ENV}`` resolution and
  expression compiling run on every load, so a cached document is checked
  exactly like a parsed one, and no resolved secret is ever written here.
- A document with problems (duplicate keys) or with values marshal cannot keep
  (YAML timestamps) is parsed every time; a syntax error is never kept.
- A cache file that cannot be read, written or decoded is ignored: the file is
  parsed instead. Nothing here can make a load fail.

The folder is ``$XDG_CACHE_HOME/connect-engine/yaml`` (default ``~/.cache``);
``CONNECT_ENGINE_CACHE_DIR`` moves it, and an empty value turns the cache off.
Deleting the folder is always safe.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.yamlio import YamlDoc

ENV_VAR = "CONNECT_ENGINE_CACHE_DIR"

# Part of every key: change it whenever what engine.yamlio builds from a file changes.
_FORMAT = b"connect-engine yaml 1"


def cache_dir() -> Path | None:
    """The folder documents are kept in, or None when the cache is off."""
    value = os.environ.get(ENV_VAR)
    if value is not None:
        return Path(value) if value else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "connect-engine" / "yaml"


def _entry(folder: Path, text: str, file: str) -> Path:
    digest = hashlib.blake2b(_FORMAT, digest_size=20)
    digest.update(b"\0" + file.encode("utf-8", "surrogateescape") + b"\0")
    digest.update(text.encode("utf-8", "surrogateescape"))
    name = digest.hexdigest()
    return folder / name[:2] / name


def get(text: str, file: str) -> YamlDoc | None:
    """The document kept for this text under this name, or None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        data, keys, values = marshal.loads(_entry(folder, text, file).read_bytes())
        if type(keys) is not dict or type(values) is not dict:
            return None
    except Exception:  # missing, unreadable, or not what this version writes: parse instead
        return None
    from engine.yamlio import Marks, YamlDoc

    return YamlDoc(data=data, marks=Marks(file, keys, values))


def put(text: str, file: str, doc: YamlDoc) -> None:
    """Keep a freshly parsed document, if it can be kept (see the module's docstring)."""
    folder = cache_dir()
    if folder is None or doc.errors:
        return
    try:
        blob = marshal.dumps((doc.data, doc.marks.keys, doc.marks.values))
    except (ValueError, RecursionError):  # a value marshal has no form for (a YAML timestamp)
        return
    path = _entry(folder, text, file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(blob)
            os.replace(tmp, path)  # readers see the whole entry or none
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:  # a read-only or full disk: parsing every time is only slower
        return
