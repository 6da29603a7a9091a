"""Case templates: the file format's checks, import, and GET /v1/case_templates[/{id}]."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from formcase.cases import templates
from formcase.cases.format import CaseTemplateFile
from formcase.kit import definitions
from tests.conftest import Grant, MakeTenant
from tests.helpers import Tenant, assert_error

CLAIM = Path(__file__).with_name("claim.yaml")


def claim(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(CLAIM.read_text())
    document.update(changes)
    return document


def parse(document: dict[str, Any]) -> CaseTemplateFile:
    return definitions.parse(document, CaseTemplateFile, "case template", "t.yaml")


def test_the_example_is_valid() -> None:
    template = templates.read_file(CLAIM)
    assert [status.key for status in template.all_statuses()][:4] == [
        "draft",
        "pending",
        "in_progress",
        "closed",
    ]
    assert template.contacts[0].main and template.steps[0].form_template == "claim-details"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema": [{"key": "Bad Key", "type": "text", "name": "x"}]}, "lowercase letters"),
        ({"schema": [{"key": "c", "type": "choices", "name": "C"}]}, "needs options"),
        ({"schema": [{"key": "a", "type": "colour", "name": "A"}]}, "schema.0.type"),
        (
            {"schema": [{"key": "n", "type": "number", "name": "N", "max": 5, "value": 9}]},
            "its value is above the maximum 5",
        ),
        ({"initial_status": "nope"}, "initial_status 'nope' is not a status"),
        (
            {"statuses": [{"key": "draft", "label": "Again", "parent_status": "draft"}]},
            "status keys must be unique: draft",
        ),
        (
            {"statuses": [{"key": "x", "label": "X", "parent_status": "cancelled"}]},
            "parent_status",
        ),
        (
            {
                "initial_status": None,
                "statuses": [
                    {
                        "key": "x",
                        "label": "X",
                        "parent_status": "closed",
                        "auto_transition_when": {
                            "watch": ["data.ghost"],
                            "condition": {"field": "cause", "eq": "fire"},
                        },
                    }
                ],
            },
            "watches unknown data.ghost",
        ),
        ({"contacts": [{"key": "a", "label": "A"}]}, "exactly one contact role is the main one"),
        (
            {"steps": [{"key": "f", "title": "F", "type": "form"}]},
            "a form step names its form_template",
        ),
        (
            {"steps": [{"key": "e", "title": "E", "type": "email", "text": "Hi"}]},
            "an email step needs a subject",
        ),
        (
            {"steps": [{"key": "s", "title": "S", "type": "sms", "text": "x", "contact": "boss"}]},
            "contact role 'boss' is unknown",
        ),
    ],
)
def test_bad_templates_are_refused_saying_why(change: dict[str, Any], message: str) -> None:
    with pytest.raises(definitions.DefinitionError, match=message):
        parse(claim(**change))


async def test_import_is_idempotent_and_replaces_on_change(
    sessionmaker: async_sessionmaker[AsyncSession], claims: Tenant
) -> None:
    async with sessionmaker() as session:
        row, state = await templates.import_template(
            session, claims.slug, templates.read_file(CLAIM)
        )
        assert state == "unchanged"
        changed, state = await templates.import_template(
            session, claims.slug, parse(claim(title="Car claim"))
        )
        assert state == "updated" and changed.id == row.id and changed.title == "Car claim"


async def test_list_and_get(
    client: httpx.AsyncClient, claims: Tenant, grant: Grant, make_tenant: MakeTenant
) -> None:
    listed = await client.get("/v1/case_templates", headers=claims.headers)
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["meta"] == {"total_count": 1, "total_pages": 1, "page_size": 10, "current_page": 1}
    [item] = body["data"]
    assert item["is_template"] is True and item["title"] == "Insurance claim"
    assert item["parent_status"] == "draft" and item["status"] == "new"
    assert len(item["reference"]) == 6 and item["waiting_for"] == "none"
    assert [(c["key"], c["name"], c["main"]) for c in item["contacts"]] == [
        ("main", "Policy holder", True),
        ("broker", "Broker", False),
    ]

    fetched = await client.get(f"/v1/case_templates/{item['id']}", headers=claims.headers)
    assert fetched.status_code == 200
    template = fetched.json()
    assert template == item
    steps = {step["key"]: step for step in template["steps"]}
    assert steps["details"]["type"] == "form" and steps["details"]["status"] == "available"
    assert steps["details"]["data"]["form_template"] == "claim-details"
    assert steps["fire_check"]["data"]["visible_if"] == {"field": "cause", "eq": "fire"}
    schema = {field["key"]: field for field in template["schema"]}
    assert schema["claimed_amount"]["type"] == "currency"
    assert schema["claimed_amount"]["options"]["currency"] == "EUR"
    assert [o["value"] for o in schema["cause"]["options"]["options"]] == ["fire", "water", "theft"]
    assert [s["key"] for s in template["statuses"]] == [
        "draft",
        "pending",
        "in_progress",
        "closed",
        "new",
        "awaiting_documents",
        "under_review",
        "settled",
    ]

    found = await client.get("/v1/case_templates?title=CLAIM", headers=claims.headers)
    assert found.json()["meta"]["total_count"] == 1
    missed = await client.get("/v1/case_templates?title=car%25", headers=claims.headers)
    assert missed.json()["meta"]["total_count"] == 0  # % is a character, not a wildcard
    archived = await client.get("/v1/case_templates?archived=true", headers=claims.headers)
    assert archived.json()["data"] == []
    sorted_ = await client.get("/v1/case_templates?sort=colour", headers=claims.headers)
    assert_error(sorted_, 400, "Cannot sort by 'colour'")

    stranger = await make_tenant(template_files=[])
    other = await grant(stranger.slug)
    assert_error(
        await client.get(f"/v1/case_templates/{item['id']}", headers=other), 403, "workspace"
    )
    ghost = "00000000-0000-4000-8000-000000000000"
    assert_error(await client.get(f"/v1/case_templates/{ghost}", headers=claims.headers), 404)
