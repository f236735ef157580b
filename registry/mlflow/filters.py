"""MLflow's search filter grammar and order_by forms, parsed into the domain's criteria.

A filter is comparisons joined by ``AND`` (any case); ``OR``, ``NOT`` and grouping parentheses
are refused, as MLflow refuses them. A comparison's left side is an attribute (``name``,
optionally written ``attribute.name``) or a tag (``tags.key`` or ``tag.key``, the key bare,
in backticks or in double quotes: ``tag.`mlflow.prompt.is_prompt` ``); its right side a quoted
string (single or double quotes, a quote doubled inside), an integer for numeric attributes,
or a parenthesised list of strings after ``IN`` / ``NOT IN``.

A tag comparison matches only what has the tag, except for MLflow's prompt marker: the client
appends ``AND tag.`mlflow.prompt.is_prompt` != 'true'`` to every model search and expects
models without that tag to pass, so for that key a missing tag counts as ``'false'``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from registry.domain.errors import InvalidArgument
from registry.domain.search import Comparison, OrderKey, Query, TagComparison

PROMPT_TAG = "mlflow.prompt.is_prompt"

TEXT = frozenset({"=", "!=", "LIKE", "ILIKE"})
TEXT_OR_LIST = TEXT | {"IN", "NOT IN"}
NUMBER = frozenset({"=", "!=", "<", "<=", ">", ">="})
TAG = TEXT


@dataclass(frozen=True, slots=True)
class Attribute:
    field: str  # the domain's name for it
    operators: frozenset[str]
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class Grammar:
    what: str
    attributes: Mapping[str, Attribute]
    order_keys: Mapping[str, str]
    # MLflow's order when none is asked for; the domain then breaks ties by the unique key.
    default_order: tuple[OrderKey, ...] = ()


MODELS = Grammar(
    "registered models",
    {"name": Attribute("name", TEXT_OR_LIST)},
    # MLflow's SQL store: `timestamp` is another name for the last update.
    {"name": "name", "timestamp": "updated_at", "last_updated_timestamp": "updated_at"},
)
VERSIONS = Grammar(
    "model versions",
    {
        "name": Attribute("name", TEXT_OR_LIST),
        "run_id": Attribute("run_id", TEXT_OR_LIST),
        "source_path": Attribute("source", TEXT),
        "version_number": Attribute("version", NUMBER, numeric=True),
    },
    {
        "name": "name",
        "version_number": "version",
        "creation_timestamp": "created_at",
        "last_updated_timestamp": "updated_at",
    },
    (OrderKey("updated_at", descending=True),),
)

_QUOTED = r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\""
_TOKEN = re.compile(
    rf"""\s*(?:
        (?P<string>{_QUOTED})
      | (?P<number>-?\d+)(?![\w.])
      | (?P<op><=|>=|!=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_]\w*(?:\.(?:\w+|`[^`]*`|"[^"]*"))*)
    )""",
    re.VERBOSE,
)
_PART = re.compile(r'\w+|`[^`]*`|"[^"]*"')
_ATTRIBUTE_PREFIXES = {"attribute", "attributes", "attr"}
_TAG_PREFIXES = {"tag", "tags"}
_ORDER = re.compile(r"^\s*(?P<key>[A-Za-z_][\w.]*)(?:\s+(?P<dir>ASC|DESC))?\s*$", re.IGNORECASE)


def _bad(message: str) -> InvalidArgument:
    return InvalidArgument(message, field="filter")


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    while position < len(text):
        if not text[position:].strip():
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise _bad(f"Cannot parse the filter at {text[position:].strip()[:30]!r}.")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _unquote(text: str) -> str:
    if text[:1] in ("'", '"'):
        return text[1:-1].replace(text[0] * 2, text[0])
    if text[:1] == "`":
        return text[1:-1]
    return text


class _Parser:
    def __init__(self, grammar: Grammar, text: str) -> None:
        self.grammar = grammar
        self.tokens = _tokens(text)
        self.at = 0
        self.where: list[Comparison] = []
        self.tags: list[TagComparison] = []

    def _next(self, what: str) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise _bad(f"The filter ends where {what} was expected.")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _keyword(self, token: tuple[str, str]) -> str | None:
        return token[1].upper() if token[0] == "word" else None

    def parse(self) -> Query:
        if not self.tokens:
            return Query()
        self._comparison()
        while self.at < len(self.tokens):
            token = self._next("AND")
            keyword = self._keyword(token)
            if keyword != "AND":
                raise _bad(
                    f"Expected AND between comparisons, found {token[1]!r} "
                    "(OR, NOT and parentheses are not supported)."
                )
            self._comparison()
        return Query(where=tuple(self.where), tags=tuple(self.tags))

    def _comparison(self) -> None:
        kind, lhs = self._next("a comparison")
        if kind != "word" or lhs.upper() in ("AND", "OR", "NOT"):
            raise _bad(
                f"Expected an attribute or tag, found {lhs!r} "
                "(OR, NOT and parentheses are not supported)."
            )
        operator = self._operator()
        parts = [_unquote(p) for p in _PART.findall(lhs)]
        prefix = parts[0].lower()
        if prefix in _TAG_PREFIXES and len(parts) > 1:
            self._tag(".".join(parts[1:]), operator)
            return
        if prefix in _ATTRIBUTE_PREFIXES and len(parts) == 2:
            parts = parts[1:]
        self._attribute(".".join(parts), operator)

    def _operator(self) -> str:
        kind, text = self._next("a comparison operator")
        if kind == "op":
            return text
        keyword = text.upper() if kind == "word" else None
        if keyword in ("LIKE", "ILIKE", "IN"):
            return keyword
        following = self.tokens[self.at] if self.at < len(self.tokens) else None
        if keyword == "NOT" and following is not None and self._keyword(following) == "IN":
            self.at += 1
            return "NOT IN"
        raise _bad(f"Expected a comparison operator, found {text!r}.")

    def _tag(self, key: str, operator: str) -> None:
        if operator not in TAG:
            raise _bad(f"Tags are compared with {', '.join(sorted(TAG))}, not {operator}.")
        value = self._string()
        missing = "false" if key == PROMPT_TAG else None
        self.tags.append(TagComparison(key, operator, value, missing))

    def _attribute(self, name: str, operator: str) -> None:
        attribute = self.grammar.attributes.get(name)
        if attribute is None:
            known = ", ".join(sorted(self.grammar.attributes))
            raise _bad(f"Cannot search {self.grammar.what} by {name!r}; use {known} or tags.")
        if operator not in attribute.operators:
            allowed = ", ".join(sorted(attribute.operators))
            raise _bad(f"{name} is compared with {allowed}, not {operator}.")
        value: str | int | tuple[str | int, ...]
        if operator in ("IN", "NOT IN"):
            value = self._list()
        elif attribute.numeric:
            value = self._number(name)
        else:
            value = self._string()
        self.where.append(Comparison(attribute.field, operator, value))

    def _string(self) -> str:
        kind, text = self._next("a quoted value")
        if kind != "string":
            raise _bad(f"Expected a quoted value, found {text!r}.")
        return _unquote(text)

    def _number(self, name: str) -> int:
        kind, text = self._next("a number")
        value = _unquote(text) if kind == "string" else text
        if kind not in ("number", "string") or not re.fullmatch(r"-?\d{1,18}", value):
            raise _bad(f"{name} is compared with an integer, not {text!r}.")
        return int(value)

    def _list(self) -> tuple[str | int, ...]:
        if self._next("a list") != ("punct", "("):
            raise _bad("IN and NOT IN take a parenthesised list of quoted values.")
        values: list[str | int] = [self._string()]
        while (token := self._next("',' or ')'")) != ("punct", ")"):
            if token != ("punct", ","):
                raise _bad(f"Expected ',' or ')' in the list, found {token[1]!r}.")
            values.append(self._string())
        return tuple(values)


def parse(grammar: Grammar, text: str | None, order_by: Sequence[str] | None) -> Query:
    """The query an MLflow filter and order_by ask for; InvalidArgument naming what could not
    be parsed."""
    query = _Parser(grammar, text or "").parse()
    order = parse_order_by(grammar, order_by) or list(grammar.default_order)
    return dataclasses.replace(query, order=order)


def parse_order_by(grammar: Grammar, entries: Sequence[str] | None) -> list[OrderKey]:
    """``["name", "last_updated_timestamp DESC"]`` as order keys; a key given twice (even
    under two names for one column) is refused."""
    keys: list[OrderKey] = []
    for entry in entries or ():
        match = _ORDER.match(entry)
        key = match.group("key").lower() if match else None
        if key is not None and key.startswith("attribute."):
            key = key.removeprefix("attribute.")
        field = grammar.order_keys.get(key) if key is not None else None
        if match is None or field is None:
            known = ", ".join(sorted(grammar.order_keys))
            raise InvalidArgument(
                f"Cannot order {grammar.what} by {entry!r}; use {known}, each optionally "
                "followed by ASC or DESC.",
                field="order_by",
            )
        if any(k.field == field for k in keys):
            raise InvalidArgument(f"order_by names {key!r} twice.", field="order_by")
        descending = (match.group("dir") or "ASC").upper() == "DESC"
        keys.append(OrderKey(field, descending))
    return keys
