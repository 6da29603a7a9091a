"""docintel.values: dates, amounts, currencies, IBANs and VAT ids as documents write them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from formcase.docintel import values


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("05.06.2018", None, "2018-06-05"),
        ("5 juin 2018", "fr", "2018-06-05"),
        ("1er juillet 2015", "fr", "2015-07-01"),
        ("02 Juillet 2015", "fr", "2015-07-02"),
        ("June 5, 2018", "en", "2018-06-05"),
        ("August 3 , 2014", "en", "2014-08-03"),
        ("Jan 1, 2022", "en", "2022-01-01"),
        ("5th June 2018", "en", "2018-06-05"),
        ("2018-06-05", None, "2018-06-05"),
        ("2018/06/05", None, "2018-06-05"),
        ("5. Juni 2018", "de", "2018-06-05"),
        ("11. März 2014", "de", "2014-03-11"),
        ("7. Mai 2014", "de", "2014-05-07"),
        ("19 april 2014", "nl", "2014-04-19"),
        ("29 maart 2014", "nl", "2014-03-29"),
        ("8-9-2022", "nl", "2022-09-08"),
        ("21.05.14", "de", "2014-05-21"),
        ("5 de junio de 2018", "es", "2018-06-05"),
        ("Rechnung Nr. 471102 vom 05.06.2018.", "de", "2018-06-05"),
        ("20180605", None, "2018-06-05"),  # CII's format 102
        ("05-Mar-2024", "en", "2024-03-05"),
        ("June 5th, 2024", "en", "2024-06-05"),
    ],
)
def test_dates_in_their_written_forms(text: str, language: str | None, expected: str) -> None:
    assert values.parse_date(text, language=language) == expected


def test_slashed_dates_follow_the_language_unless_the_numbers_decide() -> None:
    assert values.parse_date("05/06/2018", language="fr") == "2018-06-05"
    assert values.parse_date("05/06/2018", language="de") == "2018-06-05"
    assert values.parse_date("05/06/2018", language="en") == "2018-05-06"
    # a day over 12 decides whatever the language
    assert values.parse_date("20/10/2015", language="en") == "2015-10-20"
    assert values.parse_date("03/20/2023", language="fr") == "2023-03-20"
    # a caller who knows the order says so
    assert values.parse_date("05/06/2018", language="en", day_first=True) == "2018-06-05"
    assert values.parse_date("05/06/2018", hint="MM/DD/YYYY") == "2018-05-06"
    # dots are day first everywhere
    assert values.parse_date("05.06.2018", language="en") == "2018-06-05"
    match = values.find_dates("05/06/2018")[0]
    assert match.ambiguous and match.numeric


def test_dates_that_are_not_dates() -> None:
    assert values.parse_date("31.02.2018") is None  # no 31 February
    assert values.parse_date("Seite 1 von 3") is None
    assert values.parse_date("") is None
    assert values.parse_date("1.234,56 €") is None
    assert values.find_dates("Version 2.2, (c) 2022") == []


def test_dates_read_through_ocr_noise() -> None:
    assert values.parse_date("2O18-O6-05") == "2018-06-05"
    assert values.parse_date("05 . 06 . 2018") == "2018-06-05"


def test_every_date_of_a_range_with_its_span() -> None:
    found = values.find_dates("01.05.14-31.05.14")
    assert [m.value for m in found] == [date(2014, 5, 1), date(2014, 5, 31)]
    assert (found[1].start, found[1].end) == (9, 17)


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("1.234,56 €", "de", "1234.56"),
        ("1,234.56", None, "1234.56"),
        ("1 234,56", "fr", "1234.56"),
        ("1'234.56 CHF", None, "1234.56"),
        ("-12,00", "de", "-12.00"),
        ("\u2212 12,00", "de", "-12.00"),  # a typeset minus
        ("- 8,79", "de", "-8.79"),
        ("215,07-", "de", "-215.07"),
        ("EUR 215.07", None, "215.07"),
        ("EUR - 8,79", "de", "-8.79"),
        ("$4.11", "en", "4.11"),
        ("€ 4.904,94", "nl", "4904.94"),
        ("Rs 1939", "en", "1939"),
        ("0.025 €", "en", "0.025"),
        ("3,3333", "de", "3.3333"),
        ("17808,00", "de", "17808.00"),
        ("3.441.812 Euros", "fr", "3441812"),
        ("(35,13 €)", "de", "35.13"),  # parentheses set off an aside, not a credit
        ("1.234.56 €", "de", "1234.56"),  # OCR read the decimal comma as a dot
    ],
)
def test_amounts(text: str, language: str | None, expected: str) -> None:
    assert values.parse_amount(text, language=language) == Decimal(expected)


def test_three_digits_after_a_single_separator_follow_the_language() -> None:
    assert values.parse_amount("1.500", language="de") == Decimal("1500")
    assert values.parse_amount("1,500", language="de") == Decimal("1.500")
    assert values.parse_amount("1,500", language="en") == Decimal("1500")
    assert values.parse_amount("1.500", language="en") == Decimal("1.500")


def test_what_is_not_an_amount() -> None:
    assert values.parse_amount("19 %") is None
    assert values.parse_amount("15.00%") is None
    assert values.parse_amount("05.06.2018") is None
    assert values.parse_amount("no number here") is None
    assert values.find_amounts("Tax 15% on $ 112.90 $ 16.94")[-1].value == Decimal("16.94")


def test_amount_matches_carry_their_currency_and_written_decimals() -> None:
    first, second = values.find_amounts("Total € 717,97 and 1939", language="nl")
    assert (first.value, first.currency, first.decimals, first.money_like) == (
        Decimal("717.97"),
        "EUR",
        2,
        True,
    )
    assert (second.currency, second.decimals, second.money_like) == (None, 0, False)


def test_amounts_are_formatted_with_two_places_and_their_sign() -> None:
    assert values.format_amount(Decimal("300")) == "300.00"
    assert values.format_amount(Decimal("-8.7900")) == "-8.79"
    assert values.format_amount(Decimal("0.005")) == "0.01"  # half up, as invoices round
    assert values.format_price(Decimal("3.3333")) == "3.3333"
    assert values.format_price(Decimal("3.3")) == "3.30"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("€", "EUR"),
        ("EUR", "EUR"),
        ("Währung: EUR", "EUR"),
        ("$", "USD"),
        ("US$ 5", "USD"),
        ("£", "GBP"),
        ("CHF", "CHF"),
        ("Rs 1939", "INR"),
        ("₹", "INR"),
        ("All charges are in US Dollars", "USD"),
        ("12 zł", "PLN"),
    ],
)
def test_currencies(text: str, expected: str) -> None:
    assert values.parse_currency(text) == expected


def test_a_code_inside_words_or_in_lower_case_is_no_currency() -> None:
    assert values.parse_currency("Europe") is None
    assert values.parse_currency("the eur zone") is None
    assert values.parse_currency("Rs.") is None  # "Rs" only before a number


def test_iban_normalised_and_checked() -> None:
    assert values.normalize_iban("de88 2008 0000 0970 3757 00") == values.Checked(
        "DE88200800000970375700", True, None
    )
    fake = values.normalize_iban("DE12 1234 5678 1234 5678 90")
    assert fake.value == "DE12123456781234567890"
    assert not fake.valid
    assert fake.note is not None and "check digits" in fake.note
    placeholder = values.normalize_iban("US1234567890")
    assert not placeholder.valid and placeholder.note and "country" in placeholder.note


def test_ibans_found_in_text_are_cut_at_their_countrys_length() -> None:
    found = values.find_ibans("IBAN DE88 2008 0000 0970 3757 00 BIC COBADEFFXXX")
    assert [(c.value, c.valid) for c, _, _ in found] == [("DE88200800000970375700", True)]
    found = values.find_ibans("IBAN : FR76 10107 00245 00617052317 39 - BIC : BREDFRPP")
    assert found[0][0].value == "FR7610107002450061705231739"
    assert values.find_ibans("FR76 ***************************") == []


def test_vat_ids_normalised_and_checked() -> None:
    assert values.normalize_vat("DE 232 446 240") == values.Checked("DE232446240", True, None)
    assert values.normalize_vat("nl810433941b01").valid
    assert values.normalize_vat("FR 604 219 388 61").valid
    assert values.normalize_vat("CHE-116.281.710 MWST") == values.Checked(
        "CHE116281710", True, None
    )
    fake = values.normalize_vat("DE123456789")
    assert (fake.value, fake.valid) == ("DE123456789", False)
    assert fake.note is not None and "checksum" in fake.note
    no_prefix = values.normalize_vat("F63530848134")
    assert not no_prefix.valid and no_prefix.note and "prefix" in no_prefix.note


def test_vat_ids_found_in_text() -> None:
    found = values.find_vat_numbers("www.qualityhosting.de UStId DE 232 446 240 SWIFT HELADEF1")
    assert [(c.value, c.valid) for c, _, _ in found] == [("DE232446240", True)]
    found = values.find_vat_numbers("MUSTERLIEFERANT GMBH USt-IdNr: DE123456789 HRB Nr. 372876")
    assert [(c.value, c.valid) for c, _, _ in found] == [("DE123456789", False)]
    assert values.find_vat_numbers("Telefon: +49 932 431 500") == []


def test_fold_keeps_offsets() -> None:
    text = "Fälligkeit: Échéance l\u2019abonné"
    folded = values.fold(text)
    assert folded == "falligkeit: echeance l'abonne"
    assert len(folded) == len(text)
