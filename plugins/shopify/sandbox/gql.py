"""What the sandbox reads of a GraphQL document: one operation, its variables, fields, arguments and aliases.

Not a GraphQL engine: enough to recognise the queries the sandbox answers, check their
variables and selections against the objects it serves, work out their cost and pick the
selected fields out of those objects. Fragments and directives are refused with an error.
Served objects are dicts carrying their type in ``__typename`` (removed from answers
unless selected); a field absent from such a dict does not exist on the type.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r'(?P<skip>[\s,\ufeff]+|#[^\n\r]*)|(?P<punct>\.\.\.|[!$&():=@\[\]{|}])'
                    r'|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)'
                    r'|(?P<string>"(?:[^"\\\n]|\\.)*")')
_PUNCT = {"{": "LCURLY", "}": "RCURLY", "(": "LPAREN", ")": "RPAREN", ":": "COLON", "$": "VAR_SIGN",
          "!": "BANG", "[": "LBRACKET", "]": "RBRACKET", "=": "EQUALS", "@": "DIR_SIGN", "...": "ELLIPSIS",
          "&": "AMP", "|": "PIPE"}


class GraphQLError(Exception):
    """One entry of a GraphQL ``errors`` list.

    Args:
        message: the error text.
        code: ``extensions.code`` (omitted when None).
        line: 1-based line of the offending token (``locations``).
        column: 1-based column of it.
        extra: more ``extensions`` entries.
    """

    def __init__(self, message: str, *, code: str | None = None, line: int | None = None,
                 column: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.line = line
        self.column = column
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        """The error as it goes into the ``errors`` list."""
        out: dict[str, Any] = {"message": self.message}
        if self.line is not None:
            out["locations"] = [{"line": self.line, "column": self.column or 1}]
        extensions = {**({"code": self.code} if self.code else {}), **self.extra}
        if extensions:
            out["extensions"] = extensions
        return out


@dataclass(frozen=True)
class Var:
    """A ``$name`` argument value."""

    name: str


@dataclass
class Field:
    """One selected field: ``alias: name(args) { children }``."""

    name: str
    alias: str | None
    args: dict[str, Any]
    children: list[Field] | None
    line: int
    column: int

    @property
    def key(self) -> str:
        """The name the field has in the answer."""
        return self.alias or self.name


@dataclass
class Operation:
    """The document's operation: ``kind`` (query, mutation, subscription), name, ``$variable -> type``."""

    kind: str
    name: str | None
    variables: dict[str, str] = field(default_factory=dict)
    fields: list[Field] = field(default_factory=list)


class _Reader:
    def __init__(self, document: str) -> None:
        self.doc = document
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(document):
            m = _TOKEN.match(document, pos)
            if m is None:
                self.fail(document[pos], "UNKNOWN_CHAR", pos)
            assert m is not None
            kind = m.lastgroup or "skip"
            if kind != "skip":
                self.tokens.append((kind, m.group(), pos))
            pos = m.end()
        self.i = 0

    def where(self, pos: int) -> tuple[int, int]:
        line = self.doc.count("\n", 0, pos) + 1
        return line, pos - (self.doc.rfind("\n", 0, pos) + 1) + 1

    def fail(self, text: str, kind: str, pos: int) -> None:
        line, column = self.where(pos)
        raise GraphQLError(f'Parse error on "{text}" ({kind}) at [{line}, {column}]', line=line, column=column)

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None, kind: str | None = None) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            raise GraphQLError("Unexpected end of document")
        token = self.tokens[self.i]
        if (expected is not None and token[1] != expected) or (kind is not None and token[0] != kind):
            self.fail(token[1], _PUNCT.get(token[1], token[0].upper()), token[2])
        self.i += 1
        return token

    def unsupported(self, what: str, pos: int) -> GraphQLError:
        line, column = self.where(pos)
        return GraphQLError(f"{what} are not supported by the sandbox", line=line, column=column)

    def operation(self) -> Operation:
        if self.peek() == "{":
            op = Operation("query", None)
        else:
            _, word, pos = self.take(kind="name")
            if word == "fragment":
                raise self.unsupported("Fragments", pos)
            if word not in ("query", "mutation", "subscription"):
                self.fail(word, "NAME", pos)
            op = Operation(word, None)
            if self.i < len(self.tokens) and self.tokens[self.i][0] == "name":
                op.name = self.take()[1]
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    self.take("$")
                    name = self.take(kind="name")[1]
                    self.take(":")
                    op.variables[name] = self.type_text()
                    if self.peek() == "=":
                        raise self.unsupported("Default values of variables", self.tokens[self.i][2])
                self.take(")")
        op.fields = self.selection()
        if self.i < len(self.tokens):
            raise GraphQLError("the sandbox answers documents of exactly one operation, without fragments")
        return op

    def type_text(self) -> str:
        if self.peek() == "[":
            self.take("[")
            inner = self.type_text()
            self.take("]")
            text = f"[{inner}]"
        else:
            text = self.take(kind="name")[1]
        if self.peek() == "!":
            self.take("!")
            text += "!"
        return text

    def selection(self) -> list[Field]:
        self.take("{")
        fields = []
        while self.peek() != "}":
            if self.peek() == "...":
                raise self.unsupported("Fragments", self.tokens[self.i][2])
            _, name, pos = self.take(kind="name")
            alias = None
            if self.peek() == ":":
                self.take(":")
                alias, name = name, self.take(kind="name")[1]
            args: dict[str, Any] = {}
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    arg = self.take(kind="name")[1]
                    self.take(":")
                    args[arg] = self.value()
                self.take(")")
            if self.peek() == "@":
                raise self.unsupported("Directives", self.tokens[self.i][2])
            children = self.selection() if self.peek() == "{" else None
            fields.append(Field(name, alias, args, children, *self.where(pos)))
        self.take("}")
        if not fields:
            raise GraphQLError("a selection set needs at least one field")
        return fields

    def value(self) -> Any:
        kind, text, _ = self.take()
        if text == "$":
            return Var(self.take(kind="name")[1])
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "string":
            return json.loads(text)
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take(kind="name")[1]
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        self.i -= 1
        self.fail(text, _PUNCT.get(text, kind.upper()), self.tokens[self.i][2])
        return None


def parse(document: str) -> Operation:
    """Read the one operation of ``document``.

    Raises:
        GraphQLError: a parse error (with its location), or what the sandbox does not support.
    """
    return _Reader(document).operation()


def project(value: dict[str, Any], fields: list[Field]) -> dict[str, Any]:
    """The selected ``fields`` of a served object (nested objects and lists of objects followed).

    Raises:
        GraphQLError: a field the object's type lacks, arguments it does not take, a selection on a
            scalar, or an object field without one.
    """
    kind = value["__typename"]
    out: dict[str, Any] = {}
    for f in fields:
        if f.name == "__typename":
            out[f.key] = kind
            continue
        if f.name not in value:
            raise GraphQLError(f"Field '{f.name}' doesn't exist on type '{kind}'", code="undefinedField",
                               line=f.line, column=f.column, typeName=kind, fieldName=f.name)
        if f.args:
            arg = next(iter(f.args))
            raise GraphQLError(f"Field '{f.name}' doesn't accept argument '{arg}'", code="argumentNotAccepted",
                               line=f.line, column=f.column, name=f.name, typeName="Field", argumentName=arg)
        got = value[f.name]
        if got is None or got == []:  # nothing to select from (selections were checked on a full object)
            out[f.key] = got
            continue
        sample = got[0] if isinstance(got, list) else got
        if isinstance(sample, dict):
            if f.children is None:
                raise GraphQLError(f"Field must have selections (field '{f.name}' returns {sample['__typename']} "
                                   "but has no selections)", code="selectionMismatch", line=f.line, column=f.column)
            out[f.key] = [project(v, f.children) for v in got] if isinstance(got, list) else project(got, f.children)
        elif f.children is not None:
            raise GraphQLError(f"Selections can't be made on scalars (field '{f.name}' returns a scalar but has "
                               f"selections [{', '.join(c.name for c in f.children)}])", code="selectionMismatch",
                               line=f.line, column=f.column)
        else:
            out[f.key] = got
    return out


def cost(value: dict[str, Any], fields: list[Field]) -> int:
    """Points the selection costs on one served object: 1 per object (or list of objects), scalars free."""
    total = 0
    for f in fields:
        got = value.get(f.name)
        sample = got[0] if isinstance(got, list) and got else got
        if isinstance(sample, dict) and f.children:
            total += 1 + cost(sample, f.children)
    return total
