"""One filter mechanism for every list and count endpoint.

Three inputs become the same list of `Condition(path, op, value)`:
- bracketed query parameters (`status=pending&owner[email]=a@b.c`), mapped by each domain;
- the current JSON syntax: `filter={"attributes": {"status": {"$ne": "draft"}},
  "relationships": {"owner": {"attributes": {"email": {"$eq": "a@b.c"}}}}}`;
- the older implicit-equality JSON: `filter={"flow": {"slug": "x"}, "completed": false,
  "external_args": {"crm_id": "42"}}`.
A `FilterSpec` per resource says which paths exist and how each compiles to SQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, func, not_, or_

from formcase.kit.errors import BadRequest
from formcase.kit.json_values import JSONBoolean, JSONNumber
from formcase.kit.time import parse_datetime

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
    """A boolean filter with no column of its own (`active`, `completed`): built from rules."""

    build: Callable[[bool], ColumnElement[bool]]


@dataclass(frozen=True)
class Related:
    """A column of a related table with many rows per item (a case's contacts): the item
    matches when one of its rows does. `exists` wraps the test on `field` in that EXISTS."""

    field: Field
    exists: Callable[[ColumnElement[bool]], ColumnElement[bool]]


@dataclass(frozen=True)
class FilterSpec:
    fields: Mapping[str, Field | Flag | Related]
    # JSON columns whose keys are filterable by path: {"data": Form.data}.
    json_columns: Mapping[str, SQLColumnExpression[Any]] = field(default_factory=dict)

    def where(self, conditions: Iterable[Condition]) -> list[ColumnElement[bool]]:
        return [self._clause(condition) for condition in conditions]

    def mentions(self, conditions: Iterable[Condition], *paths: str) -> bool:
        return any(c.path in paths for c in conditions)

    def _clause(self, condition: Condition) -> ColumnElement[bool]:
        op = OPERATOR_ALIASES.get(condition.op, condition.op)
        if op not in OPERATORS:
            raise BadRequest(
                f"Unknown filter operator '{condition.op}' on '{condition.path}'. "
                f"Operators: {', '.join(OPERATORS)}."
            )
        target = self.fields.get(condition.path)
        if isinstance(target, Flag):
            return _flag_clause(condition.path, target, op, condition.value)
        if isinstance(target, Field):
            return _field_clause(condition.path, target, op, condition.value)
        if isinstance(target, Related):
            if op in ("$ne", "$nin"):  # "no contact has x" is not "one contact has not x"
                positive = "$eq" if op == "$ne" else "$in"
                inner = _field_clause(condition.path, target.field, positive, condition.value)
                return not_(target.exists(inner))
            return target.exists(_field_clause(condition.path, target.field, op, condition.value))
        head, _, rest = condition.path.partition(".")
        if head in self.json_columns and rest:
            return _json_clause(condition.path, self.json_columns[head], rest, op, condition.value)
        known = sorted([*self.fields, *(f"{name}.<key>" for name in self.json_columns)])
        raise BadRequest(
            f"Cannot filter on '{condition.path}'. Filterable fields: {', '.join(known)}."
        )


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


def _compare(column: SQLColumnExpression[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op == "$eq":
        return column.is_(None) if value is None else column == value
    if op == "$ne":
        return column.is_not(None) if value is None else or_(column != value, column.is_(None))
    if op == "$in":
        return column.in_(value)
    if op == "$nin":
        return or_(column.not_in(value), column.is_(None))
    if value is None:
        raise BadRequest(f"Operator {op} needs a value, not null.")
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


def _field_clause(path: str, target: Field, op: str, value: Any) -> ColumnElement[bool]:
    if target.kind in (Kind.BOOL, Kind.UUID, Kind.ENUM) and op in ORDERING:
        raise BadRequest(f"Operator {op} does not apply to '{path}' ({target.kind.value}).")
    column = func.lower(target.column) if target.case_insensitive else target.column
    if op in ("$in", "$nin"):
        items = [_coerce(path, target, item) for item in _as_list(path, op, value)]
        if len(items) == 1:  # the common case, and a plainer query for the planner
            return _compare(column, "$eq" if op == "$in" else "$ne", items[0])
        return _compare(column, op, items)
    return _compare(column, op, _coerce(path, target, value))


def _flag_clause(path: str, target: Flag, op: str, value: Any) -> ColumnElement[bool]:
    if op not in ("$eq", "$ne"):
        raise BadRequest(f"Filter '{path}' takes true or false with $eq or $ne.")
    wanted = _as_bool(path, value)
    return target.build(wanted if op == "$eq" else not wanted)


def _json_clause(
    path: str, column: SQLColumnExpression[Any], key: str, op: str, value: Any
) -> ColumnElement[bool]:
    keys = tuple(key.split("."))
    element = column[keys]
    if op in ("$in", "$nin"):
        items = _as_list(path, op, value)
        if all(isinstance(item, int | float) and not isinstance(item, bool) for item in items):
            return _compare(JSONNumber(column, keys), op, items)
        return _compare(element.as_string(), op, [_json_scalar(path, item) for item in items])
    if value is None:
        return _compare(element.as_string(), op, None)
    if isinstance(value, bool):
        if op in ORDERING:
            raise BadRequest(f"Operator {op} does not apply to a boolean ('{path}').")
        return _compare(JSONBoolean(column, keys), op, value)
    if isinstance(value, int | float):
        return _compare(JSONNumber(column, keys), op, value)
    return _compare(element.as_string(), op, _json_scalar(path, value))


def _json_scalar(path: str, value: Any) -> str:
    if isinstance(value, dict | list):
        raise BadRequest(f"Filter '{path}' compares single values, not {json.dumps(value)}.")
    return str(value)


def _as_list(path: str, op: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part]
    if not isinstance(value, list) or not value:
        raise BadRequest(f"Operator {op} on '{path}' needs a non-empty list of values.")
    return value


def parse_filter_json(text: str) -> list[Condition]:
    """Both JSON syntaxes -> conditions. Errors name what is wrong and where."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Query parameter 'filter' is not valid JSON: {exc.msg}.") from None
    if not isinstance(document, dict):
        raise BadRequest("Query parameter 'filter' must be a JSON object.")
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
