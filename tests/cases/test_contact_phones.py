"""A case contact's phone number is read in the country of the contact's locale, else of the
case's, and stored in E.164; a number no country has is a 400 naming the contact's field."""

from __future__ import annotations

import httpx

from tests.cases.test_cases_api import new_case
from tests.helpers import Tenant, assert_error


async def test_contact_phones(client: httpx.AsyncClient, claims: Tenant) -> None:
    case = await new_case(
        client,
        claims,
        locale="nl-BE",
        contacts=[
            {"email": "jo@client.example", "phone": "0470 12 34 56"},
            {"key": "broker", "phone": "06 12 34 56 78", "locale": "fr-FR"},
        ],
    )
    phones = {contact["key"]: contact["phone"] for contact in case["contacts"]}
    assert phones == {"main": "+32470123456", "broker": "+33612345678"}

    changed = await client.post(
        f"/v1/cases/{case['id']}/contacts",
        json={"contacts": [{"key": "broker", "phone": "06 98 76 54 32"}]},  # still French
        headers=claims.headers,
    )
    assert changed.status_code == 200, changed.text
    broker = next(c for c in changed.json()["contacts"] if c["key"] == "broker")
    assert broker["phone"] == "+33698765432"

    refused = await client.post(
        f"/v1/cases/{case['id']}/contacts",
        json={"contacts": [{"key": "broker", "phone": "+9991234567"}]},
        headers=claims.headers,
    )
    assert_error(refused, 400, "contacts[0].phone", "+9991234567")
