"""Phone numbers as the world numbers them (kit.phones, with phonenumbers): what a contact's
country reads as a valid number is accepted, stored in E.164, wherever a number enters — a
form's user, its prefill, the fill page's phone elements; what is no number anywhere is a 400
naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase.kit.phones import e164, region_of
from tests.conftest import MakeTenant
from tests.helpers import assert_error, fill_api

EVERYTHING = Path(__file__).parents[1] / "fill" / "everything.yaml"


@pytest.mark.parametrize(
    ("written", "locale", "stored"),
    [
        ("0470 12 34 56", "nl-BE", "+32470123456"),
        ("0470 12 34 56", "fr_BE", "+32470123456"),
        ("+32 470 12 34 56", None, "+32470123456"),
        ("+32 (0)2 555 12 34", "fr", "+3225551234"),
        ("06 12 34 56 78", "fr-FR", "+33612345678"),
        ("06 12345678", "nl-NL", "+31612345678"),
        ("020 7946 0958", "en-GB", "+442079460958"),
        ("0151 23456789", "de-DE", "+4915123456789"),
        ("(650) 253-0000", "en-US", "+16502530000"),
        ("+1 650 253 0000", "nl-BE", "+16502530000"),  # a country code beats the locale
    ],
)
def test_valid_numbers_in_e164(written: str, locale: str | None, stored: str) -> None:
    assert e164(written, region_of(locale)) == stored


@pytest.mark.parametrize(
    ("written", "locale"),
    [
        ("+9991234567", None),  # no country has the code 999
        ("+9991234567", "nl-BE"),
        ("0470 12 34 56", None),  # national, and no country to read it in
        ("0470 12 34 56", "nl"),  # a language names no country
        ("+32 470", None),
        ("call me", "nl-BE"),
    ],
)
def test_what_is_no_number_is_refused(written: str, locale: str | None) -> None:
    assert e164(written, region_of(locale)) is None


async def test_a_forms_user_phone(client: httpx.AsyncClient, make_tenant: MakeTenant) -> None:
    tenant = await make_tenant()

    async def create(**user: Any) -> httpx.Response:
        return await client.post(
            "/v1/forms",
            json={"flow": {"slug": "contact-details"}, "user": user},
            headers=tenant.headers,
        )

    belgian = await create(phone="0470 12 34 56", locale="fr-BE")
    assert belgian.status_code == 201, belgian.text
    assert belgian.json()["user"]["phone"] == "+32470123456"
    fetched = await client.get(f"/v1/forms/{belgian.json()['id']}", headers=tenant.headers)
    assert fetched.json()["user"]["phone"] == "+32470123456"
    assert_error(await create(phone="+9991234567"), 400, "user.phone", "+9991234567")
    assert_error(await create(phone="0470 12 34 56", locale="fr"), 400, "user.phone")


async def test_the_fill_page_reads_a_number_in_the_contacts_country(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant(template_files=[EVERYTHING])

    async def form(locale: str, **data: Any) -> dict[str, Any]:
        created = await client.post(
            "/v1/forms",
            json={"flow": {"slug": "everything"}, "user": {"locale": locale}, "data": data},
            headers=tenant.headers,
        )
        assert created.status_code == 201, created.text
        answer: dict[str, Any] = created.json()
        return answer

    belgian = await form("nl-BE", mobile="0470 99 88 77")
    opened = await client.post(fill_api(belgian, "state"))
    assert opened.json()["response"]["data"]["mobile"] == "+32470998877"  # the prefill, too
    saved = await client.post(
        fill_api(belgian, "steps/typed"), json={"data": {"mobile": "0470 12 34 56"}}
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["response"]["data"]["mobile"] == "+32470123456"
    refused = await client.post(
        fill_api(belgian, "steps/typed"), json={"data": {"mobile": "+9991234567"}}
    )
    body = assert_error(refused, 400, "'mobile'", "valid phone number")
    assert body["errors"][0]["source"] == {"pointer": "/data/mobile"}

    speaks_dutch = await form("nl")
    national = await client.post(
        fill_api(speaks_dutch, "steps/typed"), json={"data": {"mobile": "0470 12 34 56"}}
    )
    assert_error(national, 400, "'mobile'", "country code")
