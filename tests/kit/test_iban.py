"""The one IBAN rule (kit.iban): the country's length and BBAN format from the IBAN registry
and the mod-97 check digits, not the bank code; the same on the fill page, in a form's
prefill and in document intelligence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from formcase.docintel.values import find_ibans, normalize_iban
from formcase.kit.iban import problem
from tests.conftest import MakeTenant
from tests.helpers import assert_error, fill_api

EVERYTHING = Path(__file__).parents[1] / "fill" / "everything.yaml"

# The example of every country with an entry of its own in the IBAN registry (territories
# that share their country's entry, such as GF or JE, have none of their own).
REGISTRY_EXAMPLES = [
    "AD1200012030200359100100",
    "AE070331234567890123456",
    "AL47212110090000000235698741",
    "AT611904300234573201",
    "AZ21NABZ00000000137010001944",
    "BA391290079401028494",
    "BE68539007547034",
    "BG80BNBG96611020345678",
    "BH67BMAG00001299123456",
    "BI4210000100010000332045181",
    "BR1800360305000010009795493C1",
    "BY13NBRB3600900000002Z00AB00",
    "CH9300762011623852957",
    "CR05015202001026284066",
    "CY17002001280000001200527600",
    "CZ6508000000192000145399",
    "DE89370400440532013000",
    "DJ2100010000000154000100186",
    "DK5000400440116243",
    "DO28BAGR00000001212453611324",
    "EE382200221020145685",
    "EG380019000500000000263180002",
    "ES9121000418450200051332",
    "FI2112345600000785",
    "FK88SC123456789012",
    "FO6264600001631634",
    "FR1420041010050500013M02606",
    "GB29NWBK60161331926819",
    "GE29NB0000000101904917",
    "GI75NWBK000000007099453",
    "GL8964710001000206",
    "GR1601101250000000012300695",
    "GT82TRAJ01020000001210029690",
    "HR1210010051863000160",
    "HU42117730161111101800000000",
    "IE29AIBK93115212345678",
    "IL620108000000099999999",
    "IQ98NBIQ850123456789012",
    "IS140159260076545510730339",
    "IT60X0542811101000000123456",
    "JO94CBJO0010000000000131000302",
    "KW81CBKU0000000000001234560101",
    "KZ86125KZT5004100100",
    "LB62099900000001001901229114",
    "LC55HEMM000100010012001200023015",
    "LI21088100002324013AA",
    "LT121000011101001000",
    "LU280019400644750000",
    "LV80BANK0000435195001",
    "LY83002048000020100120361",
    "MC5811222000010123456789030",
    "MD24AG000225100013104168",
    "ME25505000012345678951",
    "MK07250120000058984",
    "MN121234123456789123",
    "MR1300020001010000123456753",
    "MT84MALT011000012345MTLCAST001S",
    "MU17BOMM0101101030300200000MUR",
    "NI45BAPR00000013000003558124",
    "NL91ABNA0417164300",
    "NO9386011117947",
    "OM810180000001299123456",
    "PK36SCBL0000001123456702",
    "PL61109010140000071219812874",
    "PS92PALS000000000400123456702",
    "PT50000201231234567890154",
    "QA58DOHB00001234567890ABCDEFG",
    "RO49AAAA1B31007593840000",
    "RS35260005601001611379",
    "RU0304452522540817810538091310419",
    "SA0380000000608010167519",
    "SC18SSCB11010000000000001497USD",
    "SD2129010501234001",
    "SE4550000000058398257466",
    "SI56263300012039086",
    "SK3112000000198742637541",
    "SM86U0322509800000000270100",
    "SO211000001001000100141",
    "ST68000100010051845310112",
    "SV62CENR00000000000000700025",
    "TL380080012345678910157",
    "TN5910006035183598478831",
    "TR330006100519786457841326",
    "UA213223130000026007233566001",
    "VA59001123000012345678",
    "VG96VPVG0000012345678901",
    "XK051212012345678906",
    "YE15CBYE0001018861234567891234",
    "HN88CABF00000000000250005469",
]


def grouped(iban: str) -> str:
    """As people write it: in groups of four."""
    return " ".join(iban[index : index + 4] for index in range(0, len(iban), 4))


@pytest.mark.parametrize("example", REGISTRY_EXAMPLES)
def test_every_registry_example_is_an_iban(example: str) -> None:
    assert problem(example) is None
    assert problem(grouped(example).lower()) is None
    assert normalize_iban(grouped(example)).valid  # document intelligence agrees


@pytest.mark.parametrize("example", REGISTRY_EXAMPLES)
def test_wrong_check_digits_and_lengths_are_refused(example: str) -> None:
    check = int(example[2:4])
    other = f"{(check + 1) % 100:02d}" if check != 98 else "03"
    assert "check digits" in str(problem(example[:2] + other + example[4:]))
    assert "characters" in str(problem(example[:-1]))
    assert "characters" in str(problem(example + "0"))
    assert not normalize_iban(example[:-1]).valid


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("XX68539007547034", "country"),
        ("BE68A39007547034", "form of an IBAN of BE"),  # a letter where BE has digits
        ("", "form"),
    ],
)
def test_other_refusals_say_why(text: str, reason: str) -> None:
    assert reason in str(problem(text))


def test_document_intelligence_finds_the_belgian_example() -> None:
    ((checked, _, _),) = find_ibans("Please pay to BE68 5390 0754 7034 by Friday.")
    assert checked.value == "BE68539007547034" and checked.valid


async def test_the_fill_page_and_a_forms_prefill_take_the_belgian_example(
    client: httpx.AsyncClient, make_tenant: MakeTenant
) -> None:
    tenant = await make_tenant(template_files=[EVERYTHING])

    async def create(**data: Any) -> httpx.Response:
        return await client.post(
            "/v1/forms", json={"flow": {"slug": "everything"}, "data": data}, headers=tenant.headers
        )

    prefilled = await create(account="BE68 5390 0754 7034")
    assert prefilled.status_code == 201, prefilled.text
    assert_error(await create(account="BE69 5390 0754 7034"), 400, "'account'", "check digits")
    form = prefilled.json()
    saved = await client.post(
        fill_api(form, "steps/typed"), json={"data": {"account": "NO93 8601 1117 947"}}
    )
    assert saved.status_code == 200, saved.text
    again = await client.post(
        fill_api(form, "steps/typed"), json={"data": {"account": "BE68 5390 0754 7034"}}
    )
    assert again.status_code == 200, again.text
    short = await client.post(
        fill_api(form, "steps/typed"), json={"data": {"account": "BE68 5390 0754 703"}}
    )
    assert_error(short, 400, "'account'", "has 15 characters; an IBAN of BE has 16")
