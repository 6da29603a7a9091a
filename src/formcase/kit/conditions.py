"""The condition language of templates (`visible_if` on steps and elements; later, case status
transitions): a test on one field, or `all` / `any` / `not` groups of tests.

    {"field": "has_partner", "eq": true}
    {"any": [{"field": "country", "in": ["BE", "NL"]}, {"field": "vat", "defined": true}]}

Operators: eq, ne, in, defined, gt, lt. A list value (multiple choice) `eq` x when it holds x.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

FIELD_OPERATORS = ("eq", "ne", "in", "defined", "gt", "lt")


class FieldTest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    field: str = Field(min_length=1)
    eq: Any = None
    ne: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    defined: bool | None = None
    gt: float | str | None = None
    lt: float | str | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> FieldTest:
        given = [name for name in FIELD_OPERATORS if name in self._given()]
        if len(given) != 1:
            raise ValueError(
                f"a condition on '{self.field}' needs exactly one of "
                f"{', '.join(FIELD_OPERATORS)} (got {', '.join(given) or 'none'})"
            )
        return self

    def _given(self) -> set[str]:
        return {"in" if name == "in_" else name for name in self.model_fields_set} - {"field"}

    @property
    def operator(self) -> str:
        return next(name for name in FIELD_OPERATORS if name in self._given())


class AllOf(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    all_: list[VisibleIf] = Field(alias="all", min_length=1)


class AnyOf(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    any_: list[VisibleIf] = Field(alias="any", min_length=1)


class NotOf(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    not_: VisibleIf = Field(alias="not")


VisibleIf = Union[FieldTest, AllOf, AnyOf, NotOf]  # noqa: UP007 (recursive alias)
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


def fields_of(condition: VisibleIf) -> Iterator[str]:
    """Every field key a condition reads (to check they exist in the template)."""
    if isinstance(condition, FieldTest):
        yield condition.field
    elif isinstance(condition, AllOf):
        for part in condition.all_:
            yield from fields_of(part)
    elif isinstance(condition, AnyOf):
        for part in condition.any_:
            yield from fields_of(part)
    else:
        yield from fields_of(condition.not_)


def lookup(data: Mapping[str, Any], key: str) -> Any:
    """`a.b` reads data["a.b"] or data["a"]["b"]: dotted keys may be flat or nested."""
    if key in data:
        return data[key]
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def evaluate(condition: VisibleIf | None, data: Mapping[str, Any]) -> bool:
    if condition is None:
        return True
    if isinstance(condition, AllOf):
        return all(evaluate(part, data) for part in condition.all_)
    if isinstance(condition, AnyOf):
        return any(evaluate(part, data) for part in condition.any_)
    if isinstance(condition, NotOf):
        return not evaluate(condition.not_, data)
    value = lookup(data, condition.field)
    op = condition.operator
    if op == "defined":
        present = value not in (None, "", [])
        return present is condition.defined
    if op == "eq":
        return _equals(value, condition.eq)
    if op == "ne":
        return not _equals(value, condition.ne)
    if op == "in":
        return any(_equals(value, option) for option in condition.in_ or [])
    bound = condition.gt if op == "gt" else condition.lt
    ordered = _ordered(value, bound)
    if ordered is None:
        return False
    left, right = ordered
    return bool(left > right if op == "gt" else left < right)


def _equals(value: Any, target: Any) -> bool:
    if isinstance(value, list):
        return any(_equals(item, target) for item in value)
    if isinstance(value, bool) != isinstance(target, bool):
        return False
    number = _number(value), _number(target)
    if None not in number and not isinstance(value, bool) and not isinstance(target, bool):
        return number[0] == number[1]
    return bool(value == target)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _ordered(value: Any, bound: Any) -> tuple[Any, Any] | None:
    left, right = _number(value), _number(bound)
    if left is not None and right is not None:
        return left, right
    if isinstance(value, str) and isinstance(bound, str):
        return value, bound  # ISO dates compare as text
    return None
