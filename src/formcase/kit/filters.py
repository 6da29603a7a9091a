"""One filter mechanism for every list and count endpoint.

Three inputs become the same list of `Condition(path, op, value)`:
- bracketed query parameters (`status=pending&owner[email]=a@b.c`), mapped by each domain;
- the current JSON syntax: `filter={"attributes": {"status": {"$ne": "draft"}},
  "relationships": {"owner": {"attributes": {"email": {"$eq": "a@b.c"}}}}}`;
- the older implicit-equality JSON: `filter={"flow": {"slug": "x"}, "completed": false,
  "external_args": {"crm_id": "42"}}`.
A `FilterSpec` per resource says which paths exist and how each compiles to SQL: conditions
are checked and bound (a shape, and the values of its parameters), and the clauses of a shape
are built once, so that a list's statement can be too (the hottest reads cache it by shape).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, SQLColumnExpression, bindparam, func, not_, or_

from formcase.kit.errors import BadRequest
from formcase.kit.json_values import JSONBoolean, JSONNumber
from formcase.kit.time import parse_datetime

# Bounds of a `filter=` document: SQLite refuses an expression tree deeper than 1,000 (about
# 1,000 conditions), Python's JSON reader a document nested about 1,000 deep. Fixed, not
# settings: raising them past what the databases take would bring the 500s back.
MAX_FILTER_DEPTH = 32
MAX_FILTER_CONDITIONS = 100
MAX_FILTER_VALUES = 1000  # of one $in or $nin (each value is a bound parameter)
# A key of a JSON column (`data.<key>`, `external_args.<key>`, dotted for nested keys): plain
# names only, which every database's JSON path takes as they are.
JSON_KEY = re.compile(r"[A-Za-z0-9_-]+")

OPERATORS = ("$eq", "$ne", "$gt", "$lt", "$ge", "$le", "$in", "$nin")
# Spellings other APIs use, accepted so that a caller's habit does not become an error.
OPERATOR_ALIASES = {"$gte": "$ge", "$lte": "$le", "$neq": "$ne"}
ORDERING = ("$gt", "$lt", "$ge", "$le")


@dataclass(frozen=True)
class Condition:
    path: str
    op: str
    value: Any


class Kind(Enum):
    STRING = "string"
    UUID = "uuid"
    DATETIME = "date-time"
    BOOL = "boolean"
    ENUM = "enum"


@dataclass(frozen=True)
class Field:
    """A filterable column; `choices` for enums; `case_insensitive` for emails."""

    column: SQLColumnExpression[Any]
    kind: Kind = Kind.STRING
    choices: tuple[str, ...] = ()
    case_insensitive: bool = False


@dataclass(frozen=True)
class Flag:
    """A boolean filter with no column of its own (`active`, `completed`): built from rules.
    `values` gives the values of the bound parameters its clause names (the time now, say),
    read anew for every request while the clause is built once."""

    build: Callable[[bool], ColumnElement[bool]]
    values: Callable[[], Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class Related:
    """A column of a related table with many rows per item (a case's contacts): the item
    matches when one of its rows does. `exists` wraps the test on `field` in that EXISTS."""

    field: Field
    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]]


# What decides a condition's SQL: its path, operator and the form of its value (no value,
# one, a list; for JSON also the value's type). The same filters with other values have the
# same shape, and so the same clauses and statements.
Shape = tuple[Hashable, ...]


@dataclass(frozen=True)
class BoundFilters:
    """Conditions checked and split into their `shape` and the `values` of the bound
    parameters (`filter_0`, …) that the shape's clauses name; `spec` is what bound them, so
    that their clauses cannot come from another spec."""

    spec: FilterSpec
    shape: tuple[Shape, ...]
    values: dict[str, Any]

    def clauses(self) -> tuple[ColumnElement[bool], ...]:
        return self.spec.clauses(self.shape)


# eq=False: a spec is itself (hashed by identity), so that its clauses can be cached.
@dataclass(frozen=True, eq=False)
class FilterSpec:
    fields: Mapping[str, Field | Flag | Related]
    # JSON columns whose keys are filterable by path: {"data": Form.data}.
    json_columns: Mapping[str, SQLColumnExpression[Any]] = field(default_factory=dict)

    def bind(self, conditions: Iterable[Condition]) -> BoundFilters:
        """Check the conditions (a 400 naming what is wrong) and split them into shape and
        values; nothing SQL is built here."""
        values: dict[str, Any] = {}
        shape = tuple(
            self._plan(condition, f"filter_{index}", values)
            for index, condition in enumerate(conditions)
        )
        return BoundFilters(self, shape, values)

    def clauses(self, shape: tuple[Shape, ...]) -> tuple[ColumnElement[bool], ...]:
        """The clauses of a shape, with bound parameters in place of values: built once per
        shape, and the same objects every time (statements built of them can be cached)."""
        return _clauses_of(self, shape)

    def mentions(self, conditions: Iterable[Condition], *paths: str) -> bool:
        return any(c.path in paths for c in conditions)

    def json_schema(self) -> dict[str, Any]:
        """The JSON `filter` as a JSON Schema: `{"attributes": {<field>: <condition>},
        "relationships": {<relation>: {"attributes": {<field>: <condition>}}}}`, each field
        with the values and operators it takes, named by its path (`flow.slug`) and grouped
        by what it takes (so that a fuzzer's work grows with the kinds, not the fields).
        Accepted but not described: the older implicit syntax, nested objects in place of
        dotted paths, the operator spellings of other APIs (`$gte`…), JSON keys outside
        `JSON_KEY`."""
        attributes: dict[str, list[str]] = {}
        relations: dict[str, dict[str, list[str]]] = {}
        schemas: dict[str, dict[str, Any]] = {}
        for path, target in self.fields.items():
            schema = _condition_schema(target)
            kind = json.dumps(schema, sort_keys=True)
            schemas[kind] = schema
            attributes.setdefault(kind, []).append(path)
            head, _, rest = path.partition(".")
            if rest:
                relations.setdefault(head, {}).setdefault(kind, []).append(rest)
        documents = "(?:" + "|".join(re.escape(name) for name in self.json_columns) + ")"
        patterns = {_one_of(paths): schemas[kind] for kind, paths in attributes.items()}
        if self.json_columns:
            patterns[rf"^{documents}(?:\.{JSON_KEY.pattern})+$"] = _ref("FilterJsonValue")
        return {
            "type": "object",
            "properties": {
                "attributes": _fields(patterns),
                "relationships": {
                    "type": "object",
                    "properties": {
                        head: {
                            "type": "object",
                            "properties": {
                                "attributes": _fields(
                                    {_one_of(names): schemas[kind] for kind, names in kinds.items()}
                                )
                            },
                            "required": ["attributes"],
                            "additionalProperties": False,
                        }
                        for head, kinds in relations.items()
                    },
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        }

    def _plan(self, condition: Condition, name: str, values: dict[str, Any]) -> Shape:
        op = OPERATOR_ALIASES.get(condition.op, condition.op)
        path = condition.path
        if op not in OPERATORS:
            raise BadRequest(
                f"Unknown filter operator '{condition.op}' on '{path}'. "
                f"Operators: {', '.join(OPERATORS)}."
            )
        target = self.fields.get(path)
        if isinstance(target, Flag):
            if op not in ("$eq", "$ne"):
                raise BadRequest(f"Filter '{path}' takes true or false with $eq or $ne.")
            if target.values is not None:
                values.update(target.values())
            wanted = _as_bool(path, condition.value)
            return (path, wanted if op == "$eq" else not wanted)
        if isinstance(target, Field | Related):
            column = target if isinstance(target, Field) else target.field
            return (path, *_plan_field(path, column, op, condition.value, name, values))
        head, _, rest = path.partition(".")
        if head in self.json_columns and rest:
            json_keys(path, rest)
            return (path, op, _plan_json(path, op, condition.value, name, values))
        known = sorted([*self.fields, *(f"{name}.<key>" for name in self.json_columns)])
        raise BadRequest(f"Cannot filter on '{path}'. Filterable fields: {', '.join(known)}.")

    def _build(self, shape: Shape, name: str) -> ColumnElement[bool]:
        path = str(shape[0])
        target = self.fields.get(path)
        if isinstance(target, Flag):
            return target.build(bool(shape[1]))
        op, form = str(shape[1]), str(shape[2])
        if isinstance(target, Field):
            return _field_clause(target, op, _slot(name, form))
        if isinstance(target, Related):
            if op in ("$ne", "$nin"):  # "no contact has x" is not "one contact has not x"
                positive = "$eq" if op == "$ne" else "$in"
                return not_(target.exists(_field_clause(target.field, positive, _slot(name, form))))
            return target.exists(_field_clause(target.field, op, _slot(name, form)))
        head, _, rest = path.partition(".")
        return _json_clause(self.json_columns[head], tuple(rest.split(".")), op, form, name)


def _operators(operators: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": operators,
        "additionalProperties": False,
        "minProperties": 1,
    }


def _conditions_on(value: dict[str, Any], ordered: bool) -> dict[str, Any]:
    """What a field of these values takes in a filter: a value (equality), null, a list
    (one of), or operators."""
    nullable = {"anyOf": [value, {"type": "null"}]}
    values = {"type": "array", "items": value, "minItems": 1}
    operators = {"$eq": nullable, "$ne": nullable, "$in": values, "$nin": values}
    if ordered:
        operators |= {op: value for op in ORDERING}
    return {"anyOf": [value, {"type": "null"}, values, _operators(operators)]}


_SCALAR = {"type": ["string", "number", "boolean"]}
_SCALARS = {"type": "array", "items": _SCALAR, "minItems": 1}
_FLAG = {"type": "boolean"}

# The conditions a filter field takes, by kind: named once in the OpenAPI document's
# components (`kit.openapi`) and referred to by every filter's schema.
FILTER_SCHEMAS: dict[str, dict[str, Any]] = {
    "FilterString": _conditions_on({"type": "string"}, ordered=True),
    "FilterUuid": _conditions_on({"type": "string", "format": "uuid"}, ordered=False),
    "FilterDateTime": _conditions_on({"type": "string", "format": "date-time"}, ordered=True),
    "FilterBoolean": _conditions_on(_FLAG, ordered=False),
    "FilterFlag": {"anyOf": [_FLAG, _operators({"$eq": _FLAG, "$ne": _FLAG})]},
    "FilterJsonValue": {
        "anyOf": [
            {"type": [*_SCALAR["type"], "null"]},
            _SCALARS,
            _operators(
                {
                    **{op: {"type": [*_SCALAR["type"], "null"]} for op in ("$eq", "$ne")},
                    **{op: _SCALARS for op in ("$in", "$nin")},
                    **{op: {"type": ["string", "number"]} for op in ORDERING},
                }
            ),
        ]
    },
}
_KINDS = {
    Kind.STRING: "FilterString",
    Kind.UUID: "FilterUuid",
    Kind.DATETIME: "FilterDateTime",
    Kind.BOOL: "FilterBoolean",
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _condition_schema(target: Field | Flag | Related) -> dict[str, Any]:
    if isinstance(target, Flag):
        return _ref("FilterFlag")
    column = target if isinstance(target, Field) else target.field
    if column.kind is Kind.ENUM:
        return _conditions_on({"type": "string", "enum": list(column.choices)}, ordered=False)
    return _ref(_KINDS[column.kind])


def _one_of(names: list[str]) -> str:
    return "^(?:" + "|".join(re.escape(name) for name in names) + ")$"


def _fields(patterns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"type": "object", "patternProperties": patterns, "additionalProperties": False}


@lru_cache(maxsize=512)  # JSON paths are the caller's: shapes are many, keep the recent
def _clauses_of(spec: FilterSpec, shape: tuple[Shape, ...]) -> tuple[ColumnElement[bool], ...]:
    return tuple(spec._build(item, f"filter_{index}") for index, item in enumerate(shape))


# The forms of a value in a shape, and the bound parameter each stands for.
NULL, ONE, MANY = "null", "one", "many"


def _slot(name: str, form: str) -> BindParameter[Any] | None:
    if form == NULL:
        return None
    return bindparam(name, expanding=form == MANY)


def _coerce(path: str, target: Field, value: Any) -> Any:
    if value is None:
        return None
    kind = target.kind
    if kind is Kind.BOOL:
        return _as_bool(path, value)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise BadRequest(f"Filter '{path}' needs a {kind.value} value, got {json.dumps(value)}.")
    text = str(value)
    if kind is Kind.UUID:
        try:
            return uuid.UUID(text)
        except ValueError:
            raise BadRequest(f"Filter '{path}': '{text}' is not a valid UUID.") from None
    if kind is Kind.DATETIME:
        try:
            return parse_datetime(text)
        except ValueError as exc:
            raise BadRequest(f"Filter '{path}': {exc}.") from None
    if kind is Kind.ENUM and text not in target.choices:
        raise BadRequest(f"Filter '{path}': '{text}' is not one of {', '.join(target.choices)}.")
    return text.lower() if target.case_insensitive else text


def _as_bool(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "false", "0"):
        return value.lower() in ("true", "1")
    raise BadRequest(f"Filter '{path}' needs true or false, got {json.dumps(value)}.")


def _plan_field(
    path: str, target: Field, op: str, value: Any, name: str, values: dict[str, Any]
) -> tuple[str, str]:
    """(operator, form) of a column's condition; its value goes to `values[name]`."""
    if target.kind in (Kind.BOOL, Kind.UUID, Kind.ENUM) and op in ORDERING:
        raise BadRequest(f"Operator {op} does not apply to '{path}' ({target.kind.value}).")
    if op in ("$in", "$nin"):
        items = [_coerce(path, target, item) for item in _as_list(path, op, value)]
        if len(items) > 1:
            values[name] = items
            return op, MANY
        # One value: the common case, and a plainer query for the planner.
        op, value = ("$eq" if op == "$in" else "$ne"), items[0]
    else:
        value = _coerce(path, target, value)
    if value is None:
        _require_value(op)
        return op, NULL
    values[name] = value
    return op, ONE


def _plan_json(path: str, op: str, value: Any, name: str, values: dict[str, Any]) -> str:
    """The form of a JSON key's condition (its type decides how the key is read); its value
    goes to `values[name]`."""
    if op in ("$in", "$nin"):
        items = _as_list(path, op, value)
        if all(isinstance(item, int | float) and not isinstance(item, bool) for item in items):
            values[name] = items
            return "numbers"
        values[name] = [_json_scalar(path, item) for item in items]
        return "texts"
    if value is None:
        _require_value(op)
        return NULL
    if isinstance(value, bool):
        if op in ORDERING:
            raise BadRequest(f"Operator {op} does not apply to a boolean ('{path}').")
        values[name] = value
        return "boolean"
    if isinstance(value, int | float):
        values[name] = value
        return "number"
    values[name] = _json_scalar(path, value)
    return "text"


def _require_value(op: str) -> None:
    if op in ORDERING:
        raise BadRequest(f"Operator {op} needs a value, not null.")


def _compare(
    column: SQLColumnExpression[Any], op: str, value: BindParameter[Any] | None
) -> ColumnElement[bool]:
    if op == "$eq":
        return column.is_(None) if value is None else column == value
    if op == "$ne":
        return column.is_not(None) if value is None else or_(column != value, column.is_(None))
    assert value is not None  # planning lets only $eq and $ne compare with null
    if op == "$in":
        return column.in_(value)
    if op == "$nin":
        return or_(column.not_in(value), column.is_(None))
    ordered: ColumnElement[bool] = (
        column > value
        if op == "$gt"
        else column < value
        if op == "$lt"
        else column >= value
        if op == "$ge"
        else column <= value
    )
    return ordered


def _field_clause(target: Field, op: str, value: BindParameter[Any] | None) -> ColumnElement[bool]:
    column = func.lower(target.column) if target.case_insensitive else target.column
    return _compare(column, op, value)


_JSON_FORMS = {"numbers": MANY, "texts": MANY, NULL: NULL}


def _json_clause(
    column: SQLColumnExpression[Any], keys: tuple[str, ...], op: str, form: str, name: str
) -> ColumnElement[bool]:
    value = _slot(name, _JSON_FORMS.get(form, ONE))
    if form in ("number", "numbers"):
        return _compare(JSONNumber(column, keys), op, value)
    if form == "boolean":
        return _compare(JSONBoolean(column, keys), op, value)
    return _compare(column[keys].as_string(), op, value)


def _json_scalar(path: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise BadRequest(f"Filter '{path}' compares single values, not {json.dumps(value)}.")
    return str(value)


def _as_list(path: str, op: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part]
    if not isinstance(value, list) or not value:
        raise BadRequest(f"Operator {op} on '{path}' needs a non-empty list of values.")
    if len(value) > MAX_FILTER_VALUES:
        raise BadRequest(
            f"Operator {op} on '{path}' has {len(value)} values; at most {MAX_FILTER_VALUES}."
        )
    return value


def json_keys(path: str, rest: str) -> tuple[str, ...]:
    """The keys of a JSON column's path (`rest` of `data.a.b`), each a plain name; a 400
    naming `path` otherwise."""
    keys = tuple(rest.split("."))
    if not all(JSON_KEY.fullmatch(key) for key in keys):
        raise BadRequest(
            f"'{path}' is not a plain path: each key after the first dot may hold "
            "letters, digits, '_' and '-' only."
        )
    return keys


def _depth(document: Any) -> int:
    """How deep objects and lists nest in a parsed JSON document (walked with a stack)."""
    deepest = 0
    stack = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def parse_filter_json(text: str) -> list[Condition]:
    """Both JSON syntaxes -> conditions. Errors name what is wrong and where."""
    too_deep = f"Query parameter 'filter' nests more than {MAX_FILTER_DEPTH} levels deep."
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Query parameter 'filter' is not valid JSON: {exc.msg}.") from None
    except RecursionError:  # nested deeper than the reader can go: far past the limit
        raise BadRequest(too_deep) from None
    if not isinstance(document, dict):
        raise BadRequest("Query parameter 'filter' must be a JSON object.")
    try:  # a lone surrogate (`"\ud800"`) is no character: no database compares it
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise BadRequest(
            "Query parameter 'filter' holds a lone UTF-16 surrogate (\\ud800-\\udfff), "
            "which is not a character."
        ) from None
    if _depth(document) > MAX_FILTER_DEPTH:
        raise BadRequest(too_deep)
    conditions = _conditions_of(document)
    if len(conditions) > MAX_FILTER_CONDITIONS:
        raise BadRequest(
            f"Query parameter 'filter' has {len(conditions)} conditions; "
            f"at most {MAX_FILTER_CONDITIONS}."
        )
    return conditions


def _conditions_of(document: dict[str, Any]) -> list[Condition]:
    conditions: list[Condition] = []
    if document and set(document) <= {"attributes", "relationships"}:
        attributes = document.get("attributes", {})
        relationships = document.get("relationships", {})
        if not isinstance(attributes, dict) or not isinstance(relationships, dict):
            raise BadRequest("filter.attributes and filter.relationships must be objects.")
        for name, spec in attributes.items():
            _flatten(name, spec, conditions)
        for relation, body in relationships.items():
            if not isinstance(body, dict) or not isinstance(body.get("attributes"), dict):
                raise BadRequest(
                    f"filter.relationships.{relation} must look like "
                    '{"attributes": {"<field>": {"$eq": <value>}}}.'
                )
            for name, spec in body["attributes"].items():
                _flatten(f"{relation}.{name}", spec, conditions)
        return conditions
    for name, spec in document.items():
        _flatten(name, spec, conditions)
    return conditions


def _flatten(path: str, spec: Any, out: list[Condition]) -> None:
    if isinstance(spec, dict):
        operators = [key for key in spec if key.startswith("$")]
        if operators and len(operators) != len(spec):
            raise BadRequest(f"filter '{path}' mixes operators and field names.")
        if operators:
            out.extend(Condition(path, op, value) for op, value in spec.items())
            return
        if not spec:
            raise BadRequest(f"filter '{path}' is an empty object.")
        for key, value in spec.items():
            _flatten(f"{path}.{key}", value, out)
        return
    out.append(Condition(path, "$in" if isinstance(spec, list) else "$eq", spec))
