"""Both JSON filter syntaxes become the same conditions."""

from __future__ import annotations

import json

import pytest

from formcase.kit.errors import BadRequest
from formcase.kit.filters import Condition, parse_filter_json


def test_current_syntax() -> None:
    document = {
        "attributes": {
            "created_at": {"$gt": "2024-01-01", "$lt": "2025-01-01"},
            "status": {"$ne": "draft"},
        },
        "relationships": {"owner": {"attributes": {"email": {"$eq": "x@y.z"}}}},
    }
    assert parse_filter_json(json.dumps(document)) == [
        Condition("created_at", "$gt", "2024-01-01"),
        Condition("created_at", "$lt", "2025-01-01"),
        Condition("status", "$ne", "draft"),
        Condition("owner.email", "$eq", "x@y.z"),
    ]


def test_older_implicit_equality() -> None:
    document = {
        "flow": {"slug": "x"},
        "completed": False,
        "external_args": {"crm_id": "42"},
        "status": ["pending", "draft"],
    }
    assert parse_filter_json(json.dumps(document)) == [
        Condition("flow.slug", "$eq", "x"),
        Condition("completed", "$eq", False),
        Condition("external_args.crm_id", "$eq", "42"),
        Condition("status", "$in", ["pending", "draft"]),
    ]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{", "not valid JSON"),
        ('"x"', "JSON object"),
        ('{"status": {"$eq": 1, "kind": 2}}', "mixes operators"),
        ('{"user": {}}', "empty object"),
        ('{"attributes": []}', "must be objects"),
    ],
)
def test_malformed(text: str, fragment: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_filter_json(text)
    assert fragment in caught.value.message
