"""docintel.mrz: the ICAO 9303 specimens of every format, OCR confusions repaired, fake check
digits caught, malformed input refused; and the id_document template on dev-set photos."""

from __future__ import annotations

import io
import json
from datetime import date

import pytest
from PIL import Image, ImageFilter

from formcase.docintel import identity, mrz, scoring
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
MRVB = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"]
DEV = scoring.dev_root() / "mrz-passporteye"


@pytest.mark.parametrize(
    ("lines", "kind", "number", "optional", "checks"),
    [
        (TD3, "TD3", "L898902C3", "ZE184226B", 5),  # + the personal number's check digit
        (TD2, "TD2", "D23145890", None, 4),
        (TD1, "TD1", "D23145890", None, 4),
    ],
)
def test_the_icao_specimens(
    lines: list[str], kind: str, number: str, optional: str | None, checks: int
) -> None:
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
    assert zone.optional_data == optional and zone.lines == tuple(lines)
    assert zone.valid and zone.score == 100
    assert "composite" in zone.checks and len(zone.checks) == checks


@pytest.mark.parametrize(("image", "lines"), [("passport-td3.png", TD3), ("passport-td2.png", TD2)])
def test_the_specimens_match_the_development_set_ground_truth(image: str, lines: list[str]) -> None:
    truth = json.loads((DEV / "ground_truth.json").read_text())["field_level"][
        f"tests-data/{image}"
    ]
    zone = mrz.parse(lines, today=TODAY)
    assert zone is not None and zone.valid
    assert zone.format == truth["mrz_type"] and zone.document_type == truth["type"].rstrip("<")
    assert (zone.issuing_country, zone.nationality) == (truth["country"], truth["nationality"])
    assert (zone.surname, zone.given_names) == (truth["surname"], truth["names"])
    assert (zone.document_number, zone.sex) == (truth["number"], truth["sex"])
    assert zone.birth_date is not None and zone.expiry_date is not None
    assert zone.birth_date.replace("-", "")[2:] == truth["date_of_birth"]
    assert zone.expiry_date.replace("-", "")[2:] == truth["expiration_date"]
    if "personal_number" in truth:
        assert zone.optional_data == truth["personal_number"].rstrip("<")


@pytest.mark.parametrize(("lines", "kind"), [(MRVA, "MRVA"), (MRVB, "MRVB")])
def test_a_visa_has_no_composite_check(lines: list[str], kind: str) -> None:
    zone = mrz.parse(lines, today=TODAY)
    assert zone is not None and zone.format == kind and zone.document_type == "V"
    assert (zone.surname, zone.given_names, zone.issuing_country) == (
        "ERIKSSON",
        "ANNA MARIA",
        "UTO",
    )
    assert zone.document_number == "L8988901C" and zone.nationality == "XXX"
    assert zone.birth_date == "1940-09-07" and zone.expiry_date == "1996-12-10"
    assert zone.sex == "F"
    assert zone.optional_data == ("6ZE184226B" if kind == "MRVA" else None)
    assert set(zone.checks) == {"document_number", "birth_date", "expiry_date"} and zone.valid


def test_the_check_digit() -> None:
    assert mrz.check_digit("L898902C3") == "6" and mrz.check_digit("740812") == "2"
    assert mrz.check_digit("ZE184226B<<<<<") == "1" and mrz.check_digit("") == "0"
    assert mrz.check_digit("<<<") == "0" and mrz.check_digit("AZ") == str((10 * 7 + 35 * 3) % 10)


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


@pytest.mark.parametrize(
    "second",
    [
        "L898902C36UTOT408122F1204159ZE184226B<<<<<10",  # T for 7 in the birth date
        "L898902C36UTO7408122F1204159ZE184226B<<<<<IO",  # check digits read as letters
        "l898902c3 6 uto 740812 2 f 120415 9 ze184226b <<<<< 1 0",  # spaced, lower case
        "L898902C36UTO7408122F1204159ZE184226B<<<<<<<10",  # two fillers too many
    ],
)
def test_the_numbers_line_repaired(second: str) -> None:
    zone = mrz.parse([TD3[0], second], today=TODAY)
    assert zone is not None and zone.valid, zone
    assert zone.birth_date == "1974-08-12" and zone.optional_data == "ZE184226B"


@pytest.mark.parametrize(
    "first",
    [
        "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<",  # two fillers short
        "P\u2039UTOERIKSSON\u00abANNA\u2039MARIA" + "\u00ab" * 9,  # \u00ab for <<, \u2039 for <
        "  P<UTO ERIKSSON << ANNA < MARIA <<<<<<<<<<<<<<<<<<<  ",
        "P<UT0ER1KSS0N<<ANNA<MAR1A<<<<<<<<<<<<<<<<<<<",  # 0 and 1 for O and I
    ],
)
def test_the_names_line_repaired(first: str) -> None:
    zone = mrz.parse([first, TD3[1]], today=TODAY)
    assert zone is not None and zone.valid
    assert (zone.document_type, zone.issuing_country) == ("P", "UTO")
    assert (zone.surname, zone.given_names) == ("ERIKSSON", "ANNA MARIA")


def test_a_td1_document_number_is_repaired() -> None:
    read = [TD1[0].replace("D231", "D23I"), *TD1[1:]]  # I for 1 in the number
    zone = mrz.parse(read, today=TODAY)
    assert zone is not None and zone.document_number == "D23145890" and zone.valid


def test_a_document_number_is_not_repaired_into_another_one() -> None:
    # 3 read as I: no lookalike swap gives the number back. Swapping 8 -> B and 0 -> O makes
    # the check digit and the composite match by chance (the composite weighs the number as
    # its check digit does); a B and an O among digits are no repair: the number stays as read
    read = [TD1[0].replace("D231", "D2I1"), *TD1[1:]]
    zone = mrz.parse(read, today=TODAY)
    assert zone is not None and zone.document_number == "D2I145890"
    assert zone.checks["document_number"] is False and not zone.valid


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


# (the TD3 check digit at that position, the checks it fails)
FAKES = [
    (9, {"document_number", "composite"}),
    (19, {"birth_date", "composite"}),
    (27, {"expiry_date", "composite"}),
    (42, {"optional_data", "composite"}),
    (43, {"composite"}),
]


@pytest.mark.parametrize(("position", "failing"), FAKES)
def test_a_fake_check_digit_fails_that_check_only(position: int, failing: set[str]) -> None:
    digit = str((int(TD3[1][position]) + 1) % 10)
    zone = mrz.parse([TD3[0], TD3[1][:position] + digit + TD3[1][position + 1 :]], today=TODAY)
    assert zone is not None
    assert {name for name, ok in zone.checks.items() if not ok} == failing
    assert zone.document_number == "L898902C3" and zone.optional_data == "ZE184226B"
    assert (zone.birth_date, zone.expiry_date) == ("1974-08-12", "2012-04-15")
    assert not zone.valid and zone.score == round(100 * (5 - len(failing)) / 5)


@pytest.mark.parametrize(
    ("names", "given"),
    [
        ("ERIKSSON<<ANNA<MARIA<<<<KKK<<<<<<<<<<<<", "ANNA MARIA"),
        ("ERIKSSON<<ANNA<MARIA<KKK<<<<<<<<<<<<<<<", "ANNA MARIA"),
        ("ERIKSSON<<ANNA<MARIA<<K<<<<<<<<<<<<<<<<", "ANNA MARIA"),
        ("ERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<CKK", "ANNA MARIA"),
        ("ERIKSSON<<ANNA<K<<<<<<<<<<<<<<<<<<<<<<<", "ANNA K"),  # an initial stays
        ("ERIKSSON<<ERIK<<<<<<<<<<<<<<<<<<<<<<<<<", "ERIK"),  # K inside a name stays
    ],
)
def test_filler_read_as_k_is_dropped_from_the_names(names: str, given: str) -> None:
    zone = mrz.parse(["P<UTO" + names, TD3[1]], today=TODAY)
    assert zone is not None and (zone.surname, zone.given_names) == ("ERIKSSON", given)


def test_sex_unspecified() -> None:
    second = TD3[1][:20] + "<" + TD3[1][21:]
    zone = mrz.parse([TD3[0], second], today=TODAY)
    assert zone is not None and zone.sex == "X" and zone.valid  # sex is outside the composite


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
    zone = mrz.parse([TD3[0], born], today=date(2020, 1, 1))  # born today
    assert zone is not None and zone.birth_date == "2020-01-01"
    zone = mrz.parse([TD3[0], born], today=date(2019, 12, 31))  # later this year: not yet
    assert zone is not None and zone.birth_date == "1920-01-01"
    zone = mrz.parse([TD3[0], born], today=date(2079, 6, 1))  # expiry within 50 years
    assert zone is not None and zone.expiry_date == "2030-01-01"
    zone = mrz.parse([TD3[0], born], today=date(2081, 6, 1))  # 2030 is over 50 years ago
    assert zone is not None and zone.expiry_date == "2130-01-01"


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [""],
        ["hello world"],
        ["P<UTO", "L898"],
        ["X" * 44, "Y" * 44],
        [TD3[0]],
        [TD3[1], TD3[0]],  # upside down
        ["<" * 44] * 2,
        [TD3[0], "<" * 44],
        [
            "PLEASE READ THE INSTRUCTIONS ON THE BACK OF IT",
            "IT IS IMPORTANT TO SIGN AND DATE ALL THE PAGES",
        ],
        [
            "Invoice INV-2024-00017 issued 2024-03-05 to ACME",
            "Total due 1234.56 EUR by bank transfer to us",
        ],
        [TD3[0], TD3[1][:30]],  # a line far too short
    ],
)
def test_no_zone_in_what_is_not_one(lines: list[str]) -> None:
    assert mrz.parse(lines, today=TODAY) is None


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


def test_a_blurred_photo_is_called_blurry() -> None:
    out = io.BytesIO()
    with Image.open(DEV / "tests-data" / "passport-td3.jpg") as photo:
        photo.convert("RGB").filter(ImageFilter.GaussianBlur(6)).save(out, "JPEG")
    request = Request(template="id_document", fields=None, language=None, max_pages=5)
    results = identity.extract([File(out.getvalue(), "image/jpeg")], request)
    assert results["validation"]["is_blurry"] is True
    assert "blurry" in results["validation"]["user_explanation"]
