"""The visible_if language."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from formcase.kit.conditions import VisibleIf, evaluate, fields_of

parse = TypeAdapter(VisibleIf).validate_python

DATA: dict[str, Any] = {
    "kind": "company",
    "employees": 12,
    "services": ["tax", "payroll"],
    "agree": True,
    "empty": "",
    "birth": "1990-05-01",
    "person": {"age": "41"},
    "flat.key": "x",
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "kind", "eq": "company"}, True),
        ({"field": "kind", "ne": "company"}, False),
        ({"field": "kind", "in": ["individual", "company"]}, True),
        ({"field": "services", "eq": "tax"}, True),  # a list holds the value
        ({"field": "services", "in": ["accounting"]}, False),
        ({"field": "employees", "gt": 10}, True),
        ({"field": "employees", "lt": 10}, False),
        ({"field": "employees", "eq": "12"}, True),  # numbers compare as numbers
        ({"field": "person.age", "gt": 40}, True),  # nested and numeric text
        ({"field": "flat.key", "eq": "x"}, True),  # a flat dotted key
        ({"field": "birth", "lt": "2000-01-01"}, True),  # ISO dates compare as text
        ({"field": "kind", "gt": 3}, False),  # not comparable: false, not an error
        ({"field": "agree", "eq": True}, True),
        ({"field": "agree", "eq": 1}, False),  # booleans are not numbers
        ({"field": "empty", "defined": True}, False),
        ({"field": "missing", "defined": False}, True),
        ({"all": [{"field": "kind", "eq": "company"}, {"field": "agree", "eq": True}]}, True),
        ({"any": [{"field": "kind", "eq": "x"}, {"field": "employees", "gt": 100}]}, False),
        ({"not": {"field": "kind", "eq": "x"}}, True),
    ],
)
def test_evaluate(condition: dict[str, Any], expected: bool) -> None:
    assert evaluate(parse(condition), DATA) is expected


def test_no_condition_is_visible() -> None:
    assert evaluate(None, {}) is True


def test_fields_of_a_group() -> None:
    condition = parse({"all": [{"field": "a", "eq": 1}, {"not": {"field": "b", "defined": True}}]})
    assert list(fields_of(condition)) == ["a", "b"]


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "a"},
        {"field": "a", "eq": 1, "gt": 2},
        {"field": "", "eq": 1},
        {"all": []},
        {"field": "a", "like": "x"},
    ],
)
def test_invalid_conditions(condition: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse(condition)
