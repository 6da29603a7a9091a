"""The parts of notifications that need no server: texts, variables, template checks, the
SMTP URL and the gateway body."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from formcase.config import Settings
from formcase.kit.definitions import DefinitionError
from formcase.notifications import channels, messages
from formcase.templates.service import parse_definition, read_file

HERE = Path(__file__).parent


def values(**overrides: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = {
        "user.given_name": "Jane",
        "user.family_name": "Doe",
        "form.title": "Annual review",
        "form.link": "https://forms.example/f/abc",
        "form.active_until": None,
        "workspace.name": "Acme",
    }
    return {**base, **overrides}


def test_fill_in_leaves_no_placeholder_behind() -> None:
    assert messages.fill_in("{user.given_name} {user.phone}!", values()) == "Jane !"
    assert messages.fill_in("{not a variable}", values()) == "{not a variable}"


def test_built_in_email_without_a_name_or_expiry() -> None:
    template = read_file(HERE / "letters.yaml")
    email = messages.email(template, "invitation", "en", values(**{"user.given_name": None}))
    assert email.text.startswith("Hello,\n")
    assert "Please answer before" not in email.text
    assert email.subject == "Acme asks you to fill in “Annual review”"
    reminder = messages.email(template, "reminder", "fr", values())
    assert reminder.subject == "Rappel : « Annual review » vous attend"
    assert "https://forms.example/f/abc" in reminder.html


def test_sms_always_carries_the_link_but_a_confirmation_needs_none() -> None:
    template = read_file(HERE / "custom-letters.yaml")
    text = messages.sms(template, "invitation", "fr", values())
    assert text == "Acme : vos documents svp https://forms.example/f/abc"
    plain = read_file(HERE / "letters.yaml")
    assert "https://" not in messages.sms(plain, "confirmation", "en", values())


def test_choose_locale() -> None:
    template = read_file(HERE / "custom-letters.yaml")  # en, fr
    assert messages.choose_locale("fr-BE", template) == "fr"
    assert messages.choose_locale("nl", template) == "en"
    assert messages.choose_locale(None, template) == "en"


def test_template_notifications_are_checked() -> None:
    document = read_file(HERE / "custom-letters.yaml").model_dump(
        mode="json", by_alias=True, exclude_unset=True
    )
    document["notifications"]["reminder"] = {"subject": "Hi {user.nickname}"}
    with pytest.raises(DefinitionError, match=r"unknown variables \{user.nickname\}"):
        parse_definition(document)
    document["notifications"]["reminder"] = {"subject": {"en": "Hi", "de": "Hallo"}}
    with pytest.raises(DefinitionError, match="undeclared locales: de"):
        parse_definition(document)
    document["notifications"]["reminder"] = None
    document["notifications"]["from"] = {"email": "not an address"}
    with pytest.raises(DefinitionError, match="not an email address"):
        parse_definition(document)
    document["notifications"]["from"] = None
    document["notifications"]["invitations"] = {}
    with pytest.raises(DefinitionError, match="invitations"):
        parse_definition(document)


def test_smtp_url(tmp_path: Path) -> None:
    server = channels.smtp_server("smtp+starttls://a%40b:p%3Aw@mail.example")
    assert (server.hostname, server.port, server.username, server.password) == (
        "mail.example",
        587,
        "a@b",
        "p:w",
    )
    assert server.start_tls is True and server.use_tls is False
    assert channels.smtp_server("smtps://mail.example").port == 465
    plain = channels.smtp_server("smtp://mail.example:2525")
    assert (plain.port, plain.start_tls, plain.username) == (2525, None, None)
    with pytest.raises(ValidationError, match="smtp://user:password@host:port"):
        Settings(data_dir=tmp_path, smtp_url="http://mail.example")


def test_gateway_body_and_message_id() -> None:
    body = {"to": "{to}", "parts": [{"text": "{text}"}], "flash": False}
    filled = channels._filled(body, {"to": "+32470", "text": 'say "{to}"', "from": ""})
    # only the template's placeholders are filled: a value's braces stay as they are
    assert filled == {"to": "+32470", "parts": [{"text": 'say "{to}"'}], "flash": False}
    assert channels._at_path({"messages": [{"id": 7}]}, "messages.0.id") == "7"
    assert channels._at_path({"messages": []}, "messages.0.id") is None
    assert channels._at_path({"id": None}, "id") is None
