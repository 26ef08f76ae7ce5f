"""YAML with line marks: plain data plus a map from JSON path to (line, col) of each key and value.

Configuration errors must point at the offending key or value, so YAML files are
composed into nodes (``yaml.SafeLoader``) and built into plain Python data here,
keeping the 1-based position of every mapping key and every value by its JSON
path (a tuple of keys and list indexes)::

    doc = load_yaml_file(Path("engine.yaml"))
    doc.data["integrations"]["demo-shop"]["mode"]            # 'test'
    doc.marks.value(("integrations", "demo-shop", "mode"))  # (12, 11)

Mapping keys are always strings (their text as written, so ``on:`` stays
``'on'``); a key written twice is reported, the later value wins.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import yamlcache
from engine.errors import ConfigError

if TYPE_CHECKING:
    import yaml

JsonPath = tuple[str | int, ...]
Position = tuple[int, int]


def dotted(path: JsonPath) -> str:
    """``("rules", 0, "when")`` -> ``rules[0].when`` (empty for the document itself)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@dataclass
class Marks:
    """Positions of keys and values in one YAML file, by JSON path.

    Attributes:
        file: The file name errors carry (as given to the loader).
        keys: Position of each mapping key.
        values: Position of each value (mappings, lists and scalars).
    """

    file: str
    keys: dict[JsonPath, Position] = field(default_factory=dict)
    values: dict[JsonPath, Position] = field(default_factory=dict)

    def key(self, path: JsonPath) -> Position | None:
        """Where the key of ``path`` is written (a list item: its value), else the nearest ancestor."""
        return self._find(path, prefer_key=True)

    def value(self, path: JsonPath) -> Position | None:
        """Where the value of ``path`` starts, else the nearest written ancestor."""
        return self._find(path, prefer_key=False)

    def error(self, path: JsonPath, message: str, *, at_key: bool = False) -> ConfigError:
        """A :class:`ConfigError` located at the key (``at_key``) or value of ``path``."""
        pos = self.key(path) if at_key else self.value(path)
        if pos is None and not self.file.startswith("<"):
            pos = (1, 1)  # an empty file: point at its start
        line, col = pos if pos else (None, None)
        return ConfigError(message, file=self.file, line=line, col=col, path=dotted(path) or None)

    def _find(self, path: JsonPath, *, prefer_key: bool) -> Position | None:
        for end in range(len(path), -1, -1):
            sub = path[:end]
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            pos = first.get(sub) or second.get(sub)
            if pos:
                return pos
        return None


@dataclass
class YamlDoc:
    """A loaded YAML document: its data, its marks and non-fatal problems (duplicate keys)."""

    data: Any
    marks: Marks
    errors: list[ConfigError] = field(default_factory=list)


def load_yaml_file(path: Path, file: str | None = None) -> YamlDoc:
    """Read and load one YAML file.

    Args:
        path: The file to read.
        file: The name errors carry (default: ``str(path)``).

    Raises:
        ConfigError: The file cannot be read or is not valid YAML (with the parser's line and column).
    """
    name = file if file is not None else str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"file {name!r} does not exist", file=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {name!r}: {exc}", file=name) from exc
    _read[os.path.abspath(path)] = _digest(text)
    doc = yamlcache.get(text, name)  # the same text under the same name parses the same (engine.yamlcache)
    if doc is None:
        doc = load_yaml_text(text, name)
        yamlcache.put(text, name, doc)
    return doc


# What each file held when this process last read it (engine.earlyfork compares a forked reader's reads).
_read: dict[str, bytes] = {}


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def files_read() -> dict[str, bytes]:
    """Every YAML file this process has read (absolute path) with a digest of the text it last read there."""
    return dict(_read)


def forget_files_read() -> None:
    """Start :func:`files_read` afresh (a forked reader, which tells its parent what it read)."""
    _read.clear()


def load_yaml_text(text: str, file: str) -> YamlDoc:
    """Load one YAML document from ``text``; an empty document gives ``data=None``.

    Raises:
        ConfigError: Not valid YAML, or more than one document.
    """
    import yaml  # imported when a file is parsed, not when all come from the cache

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        doc = YamlDoc(data=None, marks=Marks(file))
        if node is not None:
            doc.data = _build(loader, node, (), doc)
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise ConfigError(f"YAML syntax error: {problem}",
                          file=file, line=mark.line + 1 if mark else None,
                          col=mark.column + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML syntax error: {exc}", file=file) from exc
    finally:
        loader.dispose()


def _pos(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


#: Values one file may hold once its aliases are expanded (a few aliases of aliases can make billions).
MAX_VALUES = 200_000


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: JsonPath, doc: YamlDoc,
           within: tuple[int, ...] = ()) -> Any:
    import yaml

    doc.marks.values[path] = _pos(node)
    if len(doc.marks.values) > MAX_VALUES:
        raise ConfigError(f"more than {MAX_VALUES:,} values once its aliases (*name) are expanded; "
                          f"a configuration file this large is a mistake", file=doc.marks.file,
                          line=_pos(node)[0], col=_pos(node)[1], path=dotted(path) or None)
    if isinstance(node, yaml.CollectionNode):
        if id(node) in within:
            raise ConfigError("an alias (*name) refers to a value that contains it; it would never end",
                              file=doc.marks.file, line=_pos(node)[0], col=_pos(node)[1], path=dotted(path) or None)
        within = (*within, id(node))
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        loader.flatten_mapping(node)  # resolves ``<<: *anchor`` merge keys; merged pairs come first
        merged = len(node.value) - own
        out: dict[str, Any] = {}
        written: set[str] = set()
        for i, (key_node, value_node) in enumerate(node.value):
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(loader.construct_object(key_node))
            sub = (*path, key)
            if i >= merged and key in written:
                first = doc.marks.keys.get(sub)
                where = f" (first at line {first[0]})" if first else ""
                doc.errors.append(ConfigError(f"duplicate key {key!r}{where}; the later value would win",
                                              file=doc.marks.file, line=_pos(key_node)[0],
                                              col=_pos(key_node)[1], path=dotted(sub)))
            if i >= merged:
                written.add(key)  # a key written here may override a merged one, not another written one
            doc.marks.keys[sub] = _pos(key_node)
            out[key] = _build(loader, value_node, sub, doc, within)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), doc, within) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def plain_data(value: Any) -> Any:
    """A copy of in-memory configuration data as YAML would give it: str-keyed dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_data(v) for v in value]
    return value


def display_path(path: Path) -> str:
    """How errors name a file: relative to the current directory when inside it, else absolute."""
    path = path.absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_disabled_plugins(source: str | Path | Mapping[str, Any]) -> tuple[str, ...]:
    """The plugin names under ``plugins.disabled`` (a cheap pre-pass before plugins load).

    A file that cannot be read or parsed gives ``()``: :func:`load_config` reports it.
    """
    try:
        data = source if isinstance(source, Mapping) else load_yaml_file(Path(source), display_path(Path(source))).data
        disabled = data.get("plugins", {}).get("disabled", [])
        return tuple(name for name in disabled if isinstance(name, str))
    except Exception:  # anything wrong here is reported, with its line, by the full load
        return ()
