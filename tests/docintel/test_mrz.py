"""docintel.mrz: the ICAO 9303 specimens of every format, OCR confusions repaired, fake check
digits caught, malformed input refused; and the id_document template on dev-set photos."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from formcase.docintel import identity, mrz
from formcase.docintel.extract import File, Request

TODAY = date(2026, 11, 22)
TD3 = [
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
]
TD2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"]
TD1 = [
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
]
MRVA = [
    "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
]
DEV = Path(__file__).resolve().parents[2].parent / "shared" / "docintel-dev" / "mrz-passporteye"


@pytest.mark.parametrize(
    ("lines", "kind", "number"),
    [(TD3, "TD3", "L898902C3"), (TD2, "TD2", "D23145890"), (TD1, "TD1", "D23145890")],
)
def test_the_icao_specimens(lines: list[str], kind: str, number: str) -> None:
    zone = mrz.parse(["REPUBLIC OF UTOPIA", "Passport", *lines], today=TODAY)
    assert zone is not None
    assert (zone.format, zone.document_type, zone.issuing_country) == (
        kind,
        "P" if kind == "TD3" else "I",
        "UTO",
    )
    assert (zone.surname, zone.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert zone.document_number == number and zone.nationality == "UTO"
    assert (zone.birth_date, zone.expiry_date, zone.sex) == ("1974-08-12", "2012-04-15", "F")
    assert zone.valid and zone.score == 100
    assert "composite" in zone.checks


def test_a_visa_has_no_composite_check() -> None:
    zone = mrz.parse(MRVA, today=TODAY)
    assert zone is not None and zone.format == "MRVA"
    assert zone.document_number == "L8988901C" and zone.nationality == "XXX"
    assert zone.birth_date == "1940-09-07" and zone.expiry_date == "1996-12-10"
    assert set(zone.checks) == {"document_number", "birth_date", "expiry_date"} and zone.valid


def test_ocr_confusions_are_repaired_by_field_type() -> None:
    read = [
        "p<ut0eriks5on<<anna<mar1a<<<<<<<<<<<<<<<<<<<",  # lower case, 0 and 5 and 1 in names
        "L898902C36UT074O8122F12O4159ZE184226B<<<<10",  # O for 0 in dates; one < dropped
    ]
    zone = mrz.parse(read, today=TODAY)
    assert zone is not None and zone.valid
    assert (zone.surname, zone.given_names, zone.issuing_country) == (
        "ERIKSSON",
        "ANNA MARIA",
        "UTO",
    )
    assert zone.birth_date == "1974-08-12" and zone.expiry_date == "2012-04-15"
    assert zone.lines[1].endswith("ZE184226B<<<<<10")  # the dropped filler put back


def test_a_document_number_is_repaired_only_when_its_check_digits_agree() -> None:
    read = [TD3[0], "L8989O2C36UTO7408122F1204159ZE184226B<<<<<10"]  # O for 0 in the number
    zone = mrz.parse(read, today=TODAY)
    assert zone is not None and zone.document_number == "L898902C3" and zone.valid


def test_a_fake_check_digit_keeps_the_value_and_fails_its_check() -> None:
    zone = mrz.parse([TD3[0], "L898902C36UTO7408123F1204159ZE184226B<<<<<10"], today=TODAY)
    assert zone is not None
    assert zone.birth_date == "1974-08-12"
    assert zone.checks["birth_date"] is False and zone.checks["composite"] is False
    assert not zone.valid and zone.score == 60


def test_filler_read_as_k_is_dropped_from_the_names() -> None:
    zone = mrz.parse(["P<UTOERIKSSON<<ANNA<MARIA<<<<KKK<<<<<<<<<<<<", TD3[1]], today=TODAY)
    assert zone is not None and zone.given_names == "ANNA MARIA"


def test_a_long_td1_document_number_continues_in_the_optional_data() -> None:
    number = "D23145890AB"  # 11 characters: 9 in place, the rest and the check digit after
    digit = mrz.check_digit(number)
    one = f"I<UTO{number[:9]}<{number[9:]}{digit}<<<<<<<<<<<<"
    two = "7408122F1204159UTO<<<<<<<<<<<"
    two += mrz.check_digit(one[5:30] + two[0:7] + two[8:15] + two[18:29])
    zone = mrz.parse([one, two, TD1[2]], today=TODAY)
    assert zone is not None and zone.document_number == number
    assert zone.checks["document_number"] and zone.valid


def test_two_digit_years() -> None:
    zone = mrz.parse(TD3, today=date(2010, 1, 1))
    assert zone is not None and zone.birth_date == "1974-08-12" and zone.expiry_date == "2012-04-15"
    born = "L898902C36UTO2001014F3001017ZE184226B<<<<<"
    born += mrz.check_digit(born[0:10] + born[13:20] + born[21:43])
    zone = mrz.parse([TD3[0], born], today=TODAY)
    assert zone is not None and zone.birth_date == "2020-01-01" and zone.expiry_date == "2030-01-01"
    zone = mrz.parse([TD3[0], born], today=date(2019, 6, 1))  # not born yet: the 1900s
    assert zone is not None and zone.birth_date == "1920-01-01"


@pytest.mark.parametrize(
    "lines",
    [[], ["hello world"], ["P<UTO", "L898"], ["X" * 44, "Y" * 44], [TD3[0]], ["<" * 44] * 2],
)
def test_no_zone_in_what_is_not_one(lines: list[str]) -> None:
    zone = mrz.parse(lines, today=TODAY)
    assert zone is None or not zone.valid


@pytest.mark.skipif(not DEV.is_dir(), reason=f"the development set is not at {DEV}")
def test_the_id_document_template_on_photos() -> None:
    request = Request(template="id_document", fields=None, language=None, max_pages=5)
    photo = DEV / "tests-data" / "passport-td3.jpg"
    results = identity.extract([File(photo.read_bytes(), "image/jpeg")], request)
    found = {field["key"]: field for field in results["fields"]}
    assert found["surname"]["value"] == "ERIKSSON" and found["surname"]["confidence"] == "medium"
    assert found["document_number"]["value"] == "L898902C3"
    assert found["document_number"]["confidence"] == "high"
    assert (
        found["birth_date"]["value"] == "1974-08-12"
        and found["document_type"]["value"] == "passport"
    )
    assert results["validation"]["is_valid"] and not results["validation"]["is_blurry"]
    assert "expired on 2012-04-15" in results["validation"]["user_explanation"]
    assert results["mrz"]["format"] == "TD3" and results["mrz"]["lines"][0] == TD3[0]
    x0, y0, x1, _ = found["surname"]["box"]
    assert y0 > 0.6 and x1 > x0  # the zone is at the bottom of the page

    nothing = identity.extract(
        [File((DEV.parent / "invoices-invoice2data" / "oyo.png").read_bytes(), "image/png")],
        request,
    )
    assert nothing["fields"] == [] and nothing["validation"]["is_valid"] is False
    assert "No machine-readable zone" in nothing["validation"]["user_explanation"]
