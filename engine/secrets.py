"""``${ENV_VAR}`` resolution in engine.yaml, and masking of the secrets it resolved.

Any string value of engine.yaml may reference environment variables, as the
whole value (``access_token: ${SHOP_TOKEN}``) or embedded
(``url: https://${SHOP}.example.com``); ``$${`` writes a literal ``${``.
A value resolved from ``${...}`` under a key whose name contains ``secret``,
``token``, ``password``, ``key`` or ``dsn`` is a secret, as is the password of
the database URL: secrets are collected so :class:`Masker` can replace them by
``***`` in every error, log line and output. Secret keys of ``settings`` must
not hold literal values: they are written as ``${ENV_VAR}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.yamlio import JsonPath, Marks, dotted

MASK = "***"
MIN_SECRET_LENGTH = 4

_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_NOT_KEYS = ("sort", "primary", "partition", "group", "cache", "idempotency", "lookup", "map", "hot", "foreign")
_NOT_SECRET = ("keyword", "keywords", "keyboard", "monkey", "hotkey", "hotkeys", "turkey", "donkey", "hockey", "jockey",
               "whiskey")


def is_secret_key(name: str) -> bool:
    """True if a key called ``name`` holds a secret.

    A name containing ``secret``, ``token``, ``password``, ``passwd`` or ``dsn`` does, in any
    case and however its words are joined (``clientsecret``, ``apiToken2``). So does one
    containing ``key``, unless every word that holds it (split at ``_``, ``-``, digits and
    camelCase) is an ordinary word (``keywords``, ``monkey``) or an index's ``key``
    (``sort_key``, ``primary_key``): ``api_key``, ``apikey``, ``consumerKey`` and ``key2`` are
    secrets; ``sort_key`` and ``keywords`` are not.
    """
    low = name.lower()
    if any(word in low for word in ("secret", "token", "password", "passwd", "dsn")):
        return True
    if "key" not in low:
        return False
    words = [w.lower() for w in _WORDS.findall(name)]
    for i, word in enumerate(words):
        if "key" not in word or word in _NOT_SECRET:
            continue
        if word in ("key", "keys") and i and words[i - 1] in _NOT_KEYS:
            continue
        return True
    return False


def secret_path(path: JsonPath) -> bool:
    """True if any key of ``path`` (structural prefixes of engine.yaml left out) names a secret."""
    if len(path) >= 2 and path[0] == "integrations":
        path = path[2:]  # an integration's name says nothing about its values
    return any(isinstance(p, str) and is_secret_key(p) for p in path)


def settings_path(path: JsonPath) -> JsonPath | None:
    """The part of ``path`` inside an integration's or the hub's ``settings``, or None outside them."""
    if len(path) >= 3 and path[0] == "integrations" and path[2] == "settings":
        return path[3:]
    if len(path) >= 2 and path[0] == "hub" and path[1] == "settings":
        return path[2:]
    return None


@dataclass
class Resolution:
    """The outcome of :func:`resolve_env`.

    Attributes:
        data: The document with every ``${NAME}`` replaced.
        secrets: Resolved secret values by JSON path.
        from_env: Paths of every value that referenced a variable.
        unresolved: Paths whose value references an undefined variable (left as written).
        errors: Undefined or malformed references, literal secrets.
    """

    data: Any
    secrets: dict[JsonPath, str] = field(default_factory=dict)
    from_env: set[JsonPath] = field(default_factory=set)
    unresolved: set[JsonPath] = field(default_factory=set)
    errors: list[ConfigError] = field(default_factory=list)

    def private(self) -> list[JsonPath]:
        """Paths of values no validation cache may keep: from the environment, the database, every setting."""
        from engine.validcache import scalar_paths

        inside = (p for p in scalar_paths(self.data) if settings_path(p) is not None)
        return sorted({*self.from_env, ("database",), *inside}, key=repr)


def resolve_env(data: Any, env: Mapping[str, str], marks: Marks) -> Resolution:
    """Replace ``${NAME}`` in every string value of ``data`` from ``env``.

    Args:
        data: The engine.yaml document (plain dicts, lists and scalars).
        env: The environment to read variables from.
        marks: Line marks of the document, to locate errors.

    Returns:
        The resolved document, its secrets and the problems found (never raises).
    """
    out = Resolution(data=None)
    out.data = _walk(data, (), env, marks, out)
    return out


def _walk(value: Any, path: JsonPath, env: Mapping[str, str], marks: Marks, out: Resolution) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), env, marks, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), env, marks, out) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    if "$" not in value:
        _check_literal(value, path, marks, out)
        return value
    return _substitute(value, path, env, marks, out)


def _check_literal(value: str, path: JsonPath, marks: Marks, out: Resolution) -> None:
    in_settings = settings_path(path)
    if value and in_settings is not None and secret_path(in_settings):
        out.errors.append(marks.error(path, f"{dotted(path)} holds a literal secret; write secrets as "
                                            f"${{ENV_VAR}} and set the variable in the environment"))


def _substitute(value: str, path: JsonPath, env: Mapping[str, str], marks: Marks, out: Resolution) -> str:
    referenced = False
    failed = False

    def replace(m: re.Match[str]) -> str:
        nonlocal referenced, failed
        if m.group(0) == "$${":
            return "${"
        name = m.group(1)
        if not _NAME.match(name):
            failed = True
            out.errors.append(marks.error(path, f"{dotted(path)}: '${{{name}}}' is not a valid variable reference; "
                                                f"use ${{NAME}} with letters, digits and '_' (write $${{ for a "
                                                f"literal '${{')"))
            return m.group(0)
        if name not in env:
            failed = True
            out.errors.append(marks.error(path, f"environment variable {name!r} is not set "
                                                f"(used by {dotted(path)})"))
            return m.group(0)
        referenced = True
        return env[name]

    resolved = _REF.sub(replace, value)
    if failed:
        out.unresolved.add(path)
        return value
    if referenced:
        out.from_env.add(path)
        if secret_path(path):
            out.secrets[path] = resolved
    else:
        _check_literal(resolved, path, marks, out)
    return resolved


def _forms(secret: str) -> set[str]:
    """A secret as it may appear in text: as is, without surrounding blanks (a file's trailing newline),
    and escaped the way error messages and JSON quote it (``shpat_x\\n``)."""
    forms = {secret, secret.strip()}
    forms.add(secret.encode("unicode_escape").decode("ascii", "replace"))
    forms.add(json.dumps(secret)[1:-1])
    forms.add(repr(secret)[1:-1])
    return forms


class Masker:
    """Replaces known secret values by ``***`` in text and in nested data.

    Secrets shorter than four characters are not masked: replacing every ``a``
    of a message would hide more than it protects.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {form for s in secrets if isinstance(s, str) for form in _forms(s) if len(form) >= MIN_SECRET_LENGTH}
        self.secrets = tuple(sorted(unique, key=lambda s: (-len(s), s)))
        self._pattern = re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None

    def mask(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_obj(self, obj: Any) -> Any:
        """A copy of ``obj`` (dicts, lists, tuples, strings) with every secret in strings masked."""
        if isinstance(obj, str):
            return self.mask(obj)
        if isinstance(obj, Mapping):
            return {k: self.mask_obj(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [self.mask_obj(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.mask_obj(v) for v in obj)
        return obj


class MaskingFilter(logging.Filter):
    """A logging filter that masks secrets in each record's message, arguments and traceback."""

    def __init__(self, masker: Masker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        if self.masker.secrets:
            record.msg = self.masker.mask(record.getMessage())
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.masker.mask(record.exc_text)
        return True


def install_log_filter(masker: Masker) -> MaskingFilter:
    """Mask secrets in log output: adds a :class:`MaskingFilter` to the root logger and its handlers.

    A filter on a logger only sees records logged on that logger, so the filter
    also goes on every handler the root logger has now (records of child
    loggers reach those), and on :data:`logging.lastResort`, which prints
    records when no handler is configured at all (the command line). Give
    handlers added later the same filter.

    Installing a masker with the same secrets again reuses the filter already
    there, so building many engines in one process does not stack filters.

    Returns:
        The installed filter (pass it to :func:`remove_log_filter` to undo).
    """
    root = logging.getLogger()
    filt = next((f for f in root.filters if isinstance(f, MaskingFilter) and f.masker.secrets == masker.secrets),
                None) or MaskingFilter(masker)
    filt.users = getattr(filt, "users", 0) + 1  # engines sharing it; removed when the last one closes
    if filt not in root.filters:
        root.addFilter(filt)
    for handler in _handlers(root):
        if filt not in handler.filters:
            handler.addFilter(filt)
    _masked_at_creation(filt)
    return filt


# Handlers a host adds after the engine was built (logging.basicConfig afterwards, a handler on a
# child logger) never got the filter. So records are also masked as they are made: a log record
# factory wraps the one in place and applies every installed filter's masker.
_FILTERS: list[MaskingFilter] = []
_previous_factory: Any = None


def _masked_at_creation(filt: MaskingFilter) -> None:
    global _previous_factory
    if filt not in _FILTERS:
        _FILTERS.append(filt)
    if _previous_factory is None:
        _previous_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_masking_factory)


def _masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _previous_factory(*args, **kwargs)
    for filt in tuple(_FILTERS):
        with contextlib.suppress(Exception):  # a message that does not format: the handler reports it
            filt.filter(record)
    return record


def _handlers(root: logging.Logger) -> list[logging.Handler]:
    last = logging.lastResort
    return [*root.handlers, *([last] if last is not None and last not in root.handlers else [])]


def remove_log_filter(filt: MaskingFilter) -> None:
    """Undo :func:`install_log_filter` (once every engine that installed the same filter undid it)."""
    filt.users = getattr(filt, "users", 1) - 1
    if filt.users > 0:
        return
    root = logging.getLogger()
    root.removeFilter(filt)
    for handler in _handlers(root):
        handler.removeFilter(filt)
    if filt in _FILTERS:
        _FILTERS.remove(filt)
