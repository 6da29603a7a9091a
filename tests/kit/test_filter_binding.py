"""Conditions are bound, not built, per request: the same filters with other values have the
same shape and reuse the same clauses; the values travel beside them."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import BindParameter, Column, MetaData, String, Table, Uuid, exists, select
from sqlalchemy.sql import ClauseElement, visitors

from formcase.kit.errors import BadRequest
from formcase.kit.filters import Condition, Field, FilterSpec, Flag, Kind, Related

_items = Table(
    "items",
    MetaData(),
    Column("id", Uuid),
    Column("status", String),
    Column("email", String),
)
_tags = Table("tags", MetaData(), Column("item_id", Uuid), Column("name", String))
_tagged = select(_tags.c.item_id).where(_tags.c.item_id == _items.c.id)
reads: list[int] = []


def _fresh() -> dict[str, object]:
    reads.append(1)
    return {"flag_now": len(reads)}


SPEC = FilterSpec(
    fields={
        "id": Field(_items.c.id, Kind.UUID),
        "status": Field(_items.c.status, Kind.ENUM, ("new", "done")),
        "email": Field(_items.c.email, case_insensitive=True),
        "fresh": Flag(lambda wanted: _items.c.status == "new", values=_fresh),
        "tag": Related(
            Field(_tags.c.name),
            lambda test: exists(
                select(_tags.c.item_id).where(_tags.c.item_id == _items.c.id, test)
            ),
        ),
    },
)


def _names(clause: ClauseElement) -> list[str]:
    return [e.key for e in visitors.iterate(clause) if isinstance(e, BindParameter)]


def test_same_filters_with_other_values_share_shape_and_clauses() -> None:
    first = SPEC.bind([Condition("status", "$eq", "new"), Condition("email", "$eq", "A@B.C")])
    second = SPEC.bind([Condition("status", "$eq", "done"), Condition("email", "$eq", "x@y.z")])
    assert first.shape == second.shape
    assert first.values == {"filter_0": "new", "filter_1": "a@b.c"}
    assert second.values == {"filter_0": "done", "filter_1": "x@y.z"}
    clauses = first.clauses()
    assert clauses is second.clauses()  # built once
    assert [_names(clause) for clause in clauses] == [["filter_0"], ["filter_1"]]


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (Condition("status", "$eq", None), "null is not a value"),
        (Condition("status", "$in", "new,done"), "a list is not one value"),
        (Condition("status", "$ne", "new"), "another operator"),
        (Condition("tag", "$eq", "x"), "another path"),
    ],
)
def test_what_changes_the_sql_changes_the_shape(other: Condition, why: str) -> None:
    one = SPEC.bind([Condition("status", "$eq", "new")])
    assert SPEC.bind([other]).shape != one.shape, why


def test_values_are_coerced_and_lists_expand() -> None:
    item = uuid.uuid4()
    bound = SPEC.bind(
        [Condition("id", "$eq", str(item)), Condition("status", "$in", ["new", "done"])]
    )
    assert bound.values == {"filter_0": item, "filter_1": ["new", "done"]}
    single = SPEC.bind([Condition("status", "$in", ["new"])])
    assert single.shape == SPEC.bind([Condition("status", "$eq", "done")]).shape


def test_a_flag_reads_its_values_at_every_bind() -> None:
    before = len(reads)
    assert SPEC.bind([Condition("fresh", "$eq", True)]).values == {"flag_now": before + 1}
    assert SPEC.bind([Condition("fresh", "$eq", True)]).values == {"flag_now": before + 2}


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        (Condition("status", "$eq", "lost"), "not one of new, done"),
        (Condition("id", "$eq", "nope"), "not a valid UUID"),
        (Condition("status", "$gt", "new"), "does not apply"),
        (Condition("email", "$gt", None), "needs a value, not null"),
        (Condition("colour", "$eq", "red"), "Cannot filter on 'colour'"),
        (Condition("status", "$like", "n%"), "Unknown filter operator"),
    ],
)
def test_bad_conditions_are_refused_when_bound(condition: Condition, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        SPEC.bind([condition])
    assert fragment in caught.value.message
